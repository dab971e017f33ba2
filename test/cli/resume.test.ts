import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { expectUserError, runIdOf, tempHome, weir } from "./weir.js";

const home = tempHome();
const marker = join(home, "marker");

// flaky_pipeline fails until the marker file exists; its first step always succeeds.
function runFlaky() {
  return weir(home, "run", "test/fixtures/cli-pipelines.ts", "--pipeline", "flaky_pipeline", "--param", `markerFile=${marker}`);
}

describe("weir runs resume and weir orchestrate", () => {
  it("resumes a failed run in place, and orchestrates a stored run in a fresh process", async () => {
    const first = await runFlaky();
    expect(first.code).toBe(1);
    expect(first.stdout).toMatch(/status:\s+failed/);
    expect(first.stdout).toContain("marker file");
    const second = await runFlaky();
    const [failedId, otherId] = [runIdOf(first), runIdOf(second)];

    // Still failing: the orchestration process says so with its exit code.
    const stillFailing = await weir(home, "orchestrate", otherId);
    expect(stillFailing.code).toBe(1);

    writeFileSync(marker, "");
    const resumed = await weir(home, "runs", "resume", failedId);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(failedId);
    expect(resumed.stdout).toMatch(/status:\s+completed/);
    expect(resumed.stdout).toMatch(/output:\n42/);
    // The step that had completed was answered from the record, not run again.
    expect(resumed.stdout).toMatch(/│ prepare\s+│ completed │ 1 /);

    const orchestrated = await weir(home, "orchestrate", otherId);
    expect(orchestrated.code).toBe(0);
    expect(orchestrated.stdout).toMatch(/output:\n42/);

    expectUserError(await weir(home, "runs", "resume", failedId), "already completed; nothing to resume");
  });
});
