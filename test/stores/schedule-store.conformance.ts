// The schedule part of the metadata-store contract: every store implementation calls this.
import { afterEach, describe, expect, it } from "vitest";
import type { MetadataStore, NewSchedule } from "../../src/stores/metadata/types.js";

export function scheduleStoreConformance(name: string, openStore: () => Promise<MetadataStore>): void {
  const opened: MetadataStore[] = [];
  const open = async () => {
    const store = await openStore();
    opened.push(store);
    return store;
  };
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
  });

  const schedule = (overrides: Partial<NewSchedule> = {}): NewSchedule => ({
    name: "nightly",
    pipelineName: "train",
    source: { module: "pipelines/train.ts", exportName: "train" },
    cron: "0 2 * * *",
    timezone: "Europe/Paris",
    parameters: { epochs: 3, tags: ["a"] },
    stackName: null,
    enableCache: false,
    catchup: "all",
    catchupLimit: 4,
    overlap: "skip",
    paused: false,
    native: false,
    nextFireAt: 1_000,
    ...overrides,
  });

  describe(`schedule store conformance: ${name}`, () => {
    it("creates, reads back and lists schedules with every field", async () => {
      const store = await open();
      const created = await store.createSchedule(schedule());
      expect(created).toMatchObject({ ...schedule(), lastFiredAt: null });
      expect(created.id).toBeTruthy();
      expect(await store.getSchedule("nightly")).toEqual(created);
      await store.createSchedule(schedule({ name: "hourly", cron: "0 * * * *", timezone: null, nextFireAt: null }));
      expect((await store.listSchedules()).map((s) => s.name)).toEqual(["hourly", "nightly"]);
      expect(await store.getSchedule("missing")).toBeUndefined();
    });

    it("refuses a second schedule of the same name, naming it", async () => {
      const store = await open();
      await store.createSchedule(schedule());
      await expect(store.createSchedule(schedule())).rejects.toThrow(/schedule named "nightly" already exists/);
    });

    it("updates, pauses and deletes", async () => {
      const store = await open();
      await store.createSchedule(schedule());
      await store.updateSchedule("nightly", { paused: true, cron: "0 3 * * *", parameters: { epochs: 5 } });
      expect(await store.getSchedule("nightly")).toMatchObject({ paused: true, cron: "0 3 * * *", parameters: { epochs: 5 } });
      await expect(store.updateSchedule("missing", { paused: true })).rejects.toThrow(/no schedule named "missing"/);
      expect(await store.deleteSchedule("nightly")).toBe(true);
      expect(await store.deleteSchedule("nightly")).toBe(false);
      expect(await store.getSchedule("nightly")).toBeUndefined();
    });

    it("lets exactly one claimant move a tick, and none while paused", async () => {
      const store = await open();
      await store.createSchedule(schedule({ nextFireAt: 5_000 }));
      const claims = await Promise.all([1, 2, 3, 4].map(() => store.claimScheduleTick("nightly", 5_000, 6_000, 5_000)));
      expect(claims.filter(Boolean)).toHaveLength(1);
      expect(await store.getSchedule("nightly")).toMatchObject({ nextFireAt: 6_000, lastFiredAt: 5_000 });
      await store.updateSchedule("nightly", { paused: true });
      expect(await store.claimScheduleTick("nightly", 6_000, 7_000, 6_000)).toBe(false);
    });

    it("records a run's schedule and tick, and lists runs by schedule", async () => {
      const store = await open();
      const snapshot = await store.createSnapshot({ pipelineName: "train", isDynamic: true, parameters: {}, source: { module: "m" }, spec: {} });
      const base = { pipelineName: "train", snapshotId: snapshot.id, stackName: "default", isDynamic: true, enableCache: true };
      const scheduled = await store.createRun({ ...base, name: "nightly-1", scheduleName: "nightly", scheduledFor: 86_400_000 });
      await store.createRun({ ...base, name: "by-hand" });
      expect(await store.getRun(scheduled.id)).toMatchObject({ scheduleName: "nightly", scheduledFor: 86_400_000 });
      expect((await store.listRuns({ scheduleName: "nightly" })).map((r) => r.name)).toEqual(["nightly-1"]);
      expect((await store.listRuns()).find((r) => r.name === "by-hand")).toMatchObject({ scheduleName: null, scheduledFor: null });
    });
  });
}
