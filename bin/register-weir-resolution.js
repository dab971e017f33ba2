// For step processes of a JavaScript pipeline file whose folder does not install weir: only
// weir's module hooks (bin/typescript-hooks.js), which resolve "weir" to this copy, without
// the TypeScript compiler that bin/register-typescript.js also registers.
import { register } from "node:module";

register("./typescript-hooks.js", import.meta.url);
