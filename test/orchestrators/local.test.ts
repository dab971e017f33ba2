import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Console } from "node:console";
import { LocalOrchestrator } from "weir";
import { orchestratorConformance } from "./orchestrator.conformance.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-local-orch-"));

// vitest replaces `console` with one that bypasses process.stdout.write, which is where the
// local orchestrator captures step output; restore a console that writes to the streams,
// as outside vitest.
globalThis.console = new Console({ stdout: process.stdout, stderr: process.stderr });

orchestratorConformance("local", () => new LocalOrchestrator());
