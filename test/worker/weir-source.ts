// The `weir` command from the source tree (run with `node --import tsx`): workers started
// by the tests must resolve "weir" to the same copy (src/) as the fixture modules do.
import { main } from "../../src/cli/main.js";

await main(process.argv);
