// For step processes whose TypeScript the launcher compiled ahead (Precompiler in
// src/orchestrators/local-process/precompile.ts): module hooks that load those files from
// their compiled JavaScript, under their own URLs, without tsx and its loader. The manifest
// the launcher wrote is named by this module's URL (`?manifest=PATH`).
import { register } from "node:module";
import { URL } from "node:url";

register("./precompiled-hooks.js", import.meta.url, { data: { manifest: new URL(import.meta.url).searchParams.get("manifest") } });
// Stack traces through the compiled files show the TypeScript lines, as under tsx.
process.setSourceMapsEnabled(true);
