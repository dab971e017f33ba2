// Lets this process import TypeScript files the way `weir run` needs, whatever folder they
// are in: tsx compiles them, and weir's hooks (registered last, so they run first) treat a
// user's .ts file as an ES module even where package.json says CommonJS or is missing, and
// resolve "weir" to this copy of weir when the file's folder does not install it.
// Used by bin/weir.js and, with `--import`, by step processes.
import { register as registerCommonJs } from "tsx/cjs/api";
import { register as registerEsm } from "tsx/esm/api";
import { register } from "node:module";

registerCommonJs();
registerEsm();
register("./typescript-hooks.js", import.meta.url);
