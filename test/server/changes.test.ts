import { afterAll, describe, expect, it } from "vitest";
import { closeMetadataStores } from "../../src/config/home.js";
import { newCursor, readStepRunChanges } from "../../src/server/changes.js";
import type { MetadataStore, StepRunRecord } from "../../src/stores/metadata/types.js";
import { store, useTempHome } from "../helpers.js";
import { showcasePipeline } from "./fixtures/pipelines.js";

useTempHome("weir-changes-");
afterAll(() => closeMetadataStores());

describe("readStepRunChanges", () => {
  it("without a change cursor in the store: everything first, then only step runs that changed", async () => {
    const s = await store();
    const run = await showcasePipeline.run({ count: 4 });
    const cursor = newCursor();
    expect((await readStepRunChanges(s, run.id, cursor)).length).toBe(9);
    expect(await readStepRunChanges(s, run.id, cursor)).toEqual([]);
    const report = run.steps.find((x) => x.name === "report")!;
    await s.updateStepRun(report.id, { status: "failed", endedAt: Date.now() + 1 });
    expect((await readStepRunChanges(s, run.id, cursor)).map((x) => x.invocationId)).toEqual(["report"]);
  });

  it("with the store's cursor: reads pages after the last seq until a short page", async () => {
    const rows = Array.from({ length: 2_500 }, (_, i) => ({ id: `s${i}`, seq: i + 1 }) as unknown as StepRunRecord);
    const calls: number[] = [];
    const feed = {
      listStepRunChanges: async (_runId: string, afterSeq: number, limit = 1_000) => {
        calls.push(afterSeq);
        const page = rows.filter((r: any) => r.seq > afterSeq).slice(0, limit);
        return { stepRuns: page, seq: page.length > 0 ? (page.at(-1) as any).seq : afterSeq };
      },
      listStepRuns: () => {
        throw new Error("must not poll when the store has a cursor");
      },
    } as unknown as MetadataStore;
    const cursor = newCursor();
    expect((await readStepRunChanges(feed, "run", cursor)).length).toBe(2_500);
    expect(calls).toEqual([0, 2_000]);
    expect(cursor.seq).toBe(2_500);
    rows.push({ id: "late", seq: 2_501 } as unknown as StepRunRecord);
    expect((await readStepRunChanges(feed, "run", cursor)).map((r) => r.id)).toEqual(["late"]);
  });
});
