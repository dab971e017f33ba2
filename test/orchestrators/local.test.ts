import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalOrchestrator } from "weir";
import { orchestratorConformance } from "./orchestrator.conformance.js";

process.env.WEIR_HOME = mkdtempSync(join(tmpdir(), "weir-local-orch-"));

orchestratorConformance("local", () => new LocalOrchestrator());
