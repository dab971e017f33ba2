import { hostname } from "node:os";
import { describe, expect, it } from "vitest";
import { openMetadataStore } from "../../src/config/home.js";
import { createRun } from "../../src/engine/submit.js";
import { resolveStack } from "../../src/stack/stack.js";
import { staticPipeline } from "../../examples/static-pipeline.js";
import { expectUserError, tempHome, weir } from "./weir.js";

const home = tempHome();

describe("weir orchestrate", () => {
  it("refuses a run whose driver is alive, and takes over one whose driver is gone", async () => {
    const store = await openMetadataStore(home);
    await resolveStack(store, "default", home);
    // This test process creates the run, so it owns it (and is alive, heartbeat fresh).
    const { run } = await createRun(store, staticPipeline.definition, {}, { stackName: "default" });
    expect(run.owner).toBe(`${hostname()}:${process.pid}`);

    const refused = await weir(home, "orchestrate", run.id);
    expectUserError(refused, `run ${run.id} of "static_pipeline" is being driven by ${hostname()}:${process.pid}`);
    expect((await store.getRun(run.id))!.status).toBe("initializing");

    // Its driver went away a minute ago (on another machine): the lease is stale, and taken over.
    await store.updateRun(run.id, { owner: "elsewhere:1", heartbeatAt: Date.now() - 60_000 });
    const taken = await weir(home, "orchestrate", run.id);
    expect(taken.stderr).toBe("");
    expect(taken.code).toBe(0);
    const finished = (await store.getRun(run.id))!;
    expect(finished.status).toBe("completed");
    expect(finished.owner).not.toBe("elsewhere:1");
  });
});
