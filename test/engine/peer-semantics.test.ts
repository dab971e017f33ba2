// Behaviours that Dagster's dynamic-output tests and ZenML's dynamic-pipeline tests assert
// (issue 10), each named after the behaviour, plus the failure records of issue 17.
import { describe, expect, it } from "vitest";
import { Client, DynamicOutput, getStepContext, LocalProcessOrchestrator, MapInputError, pipeline, Stack, step, type StepContext } from "weir";
import { LocalArtifactStore } from "weir";
import { peerProcess } from "../fixtures/process/peer-pipelines.js";
import { useTempHome } from "../helpers.js";

useTempHome();

const client = new Client();

const numbers = step({ dynamicOutput: true }, function* peer_numbers(n: number) {
  for (let i = 0; i < n; i++) yield new DynamicOutput(i, { mappingKey: String(i) });
});
const echo = step(function peer_echo<T>(x: T): T {
  return x;
});
const echoList = step(function peer_echo_list(xs: number[]) {
  return xs;
});
const addEach = step(function peer_add_each(xs: number[], y: number) {
  return xs.map((x) => x + y);
});

describe("dynamic outputs and maps", () => {
  it("a collect used inside the map over the same output sees each item once", async () => {
    const p = pipeline(function collect_inside_map() {
      const d = numbers(3);
      return d.map((x) => addEach(echoList(d.collect()), x)).collect();
    });
    const run = await p.run({}, { enableCache: false });
    expect(run.error).toBe(null);
    expect(await run.output()).toEqual([
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
    ]);
  });

  it("a dynamic pipeline's collect inside its map sees each item once too", async () => {
    const p = pipeline({ name: "collect_inside_map_dynamic", dynamic: true }, async () => {
      const d = numbers(3);
      return await d.map((x) => addEach(echoList(d.collect()), x)).collect();
    });
    expect(await p()).toEqual([
      [0, 1, 2],
      [1, 2, 3],
      [2, 3, 4],
    ]);
  });

  it("nested mapped step runs have their configuration at every depth", async () => {
    const inner = step({ dynamicOutput: true }, function* peer_inner(n: number) {
      for (let i = 0; i < 2; i++) yield new DynamicOutput(n * 10 + i, { mappingKey: `e_${i}` });
    });
    const outer = step({ dynamicOutput: true }, function* peer_outer() {
      for (let i = 1; i <= 2; i++) yield new DynamicOutput(i, { mappingKey: `n_${i}` });
    });
    const echoNested = step({ name: "echo_nested", retry: { maxRetries: 2 } }, (x: number) => x);
    const p = pipeline(function nested_configuration() {
      return outer()
        .map((n) => inner(n).map(echoNested).collect())
        .collect();
    });
    const run = await p.run({}, { enableCache: false });
    expect(await run.output()).toEqual([
      [10, 11],
      [20, 21],
    ]);
    for (const name of ["peer_outer", "peer_inner[n_1]", "echo_nested[n_2.e_1]", "echo_nested[n_1.e_0]"]) {
      const view = await client.getStepRun(run.id, name);
      expect(view.configuration, name).toMatchObject({ stepName: name.replace(/\[.*$/, "") });
      if (name.startsWith("echo")) expect(view.configuration).toMatchObject({ retry: { maxRetries: 2 } });
    }
  });

  it("mapped runs are named after their map's template id, whatever the keys and timing", async () => {
    const double = step(function peer_double(x: number) {
      return x * 2;
    });
    const keyed = step({ dynamicOutput: true }, async function* peer_keyed(keys: string[], delayMs: number) {
      for (const key of keys) {
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        yield new DynamicOutput(key.length, { mappingKey: key });
      }
    });
    const p = pipeline(function three_maps() {
      // The first map's source is the slowest: its items arrive after the others'.
      const a = keyed(["x", "y"], 30).map(double);
      const b = keyed(["y", "z"], 0).map(double);
      const c = keyed(["z", "x", "w"], 5).map(double);
      return [a.collect(), b.collect(), c.collect()];
    });
    const snapshot = await p.compile();
    expect(Object.keys(snapshot.steps).filter((s) => s.startsWith("peer_double"))).toEqual([
      "peer_double[*]",
      "peer_double_2[*]",
      "peer_double_3[*]",
    ]);
    const run = await p.run({}, { enableCache: false });
    expect(run.error).toBe(null);
    const names = run.steps.map((s) => s.name).filter((s) => s.startsWith("peer_double")).sort();
    expect(names).toEqual(
      [
        "peer_double[x]",
        "peer_double[y]",
        "peer_double_2[y]",
        "peer_double_2[z]",
        "peer_double_3[w]",
        "peer_double_3[x]",
        "peer_double_3[z]",
      ].sort(),
    );
  });

  it("step.map over two dynamic-output handles zips them item by item", async () => {
    const letters = step({ dynamicOutput: true }, function* peer_letters() {
      for (const l of ["a", "b", "c"]) yield new DynamicOutput(l, { mappingKey: l });
    });
    const pair = step(function peer_pair(n: number, l: string) {
      return `${n}${l}`;
    });
    const p = pipeline({ name: "zip_dynamic_outputs", dynamic: true }, async () => {
      const handles = await pair.map(numbers(3), letters());
      return handles;
    });
    const run = await p.run({}, { enableCache: false });
    expect(run.error).toBe(null);
    expect(await run.output()).toEqual(["0a", "1b", "2c"]);
    const second = await client.getStepRun(run.id, "peer_pair_2");
    expect(second.inputs.map((i) => i.name)).toEqual(["arg0", "arg1"]);

    const uneven = pipeline({ name: "zip_uneven_dynamic_outputs", dynamic: true }, async () => {
      await pair.map(numbers(2), letters());
    });
    await expect(uneven()).rejects.toThrow(/peer_pair.*2 items.*3/s);
  });

  it("an item handle used outside its map function is a misuse error naming the step", async () => {
    let leaked: unknown;
    const p = pipeline(function leaks_item() {
      numbers(2).map((x) => {
        leaked = x;
        return echo(x);
      });
      return echo(leaked as number);
    });
    await expect(p.compile()).rejects.toThrow(MapInputError);
    await expect(p.compile()).rejects.toThrow(/peer_echo.*outside the map/);

    const dynamicLeak = pipeline({ name: "leaks_item_dynamic", dynamic: true }, async () => {
      const mapped = numbers(2).map((x) => {
        leaked = x;
        return echo(x);
      });
      await mapped.collect();
      return echo(leaked as number);
    });
    const run = await dynamicLeak.run({}, { enableCache: false });
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/peer_echo.*outside the map/);
  });

  it("a map function that hides handles in an object is refused, so no step receives a handle", async () => {
    const p = pipeline(function hides_handles() {
      return echo(numbers(2).map((x) => ({ wrapped: echo(x) })).collect());
    });
    const run = await p.run({}, { enableCache: false });
    expect(run.status).toBe("failed");
    expect(run.error).toMatch(/MapInputError|map function/);
    expect(run.error).toMatch(/handle/);
  });

  it("a retried dynamic-output producer maps each key once, with the items of the attempt that succeeded", async () => {
    let calls = 0;
    const upperCalls: string[] = [];
    const flaky = step({ dynamicOutput: true, retry: { maxRetries: 1 } }, function* peer_flaky_letters() {
      calls += 1;
      yield new DynamicOutput("a", { mappingKey: "a" });
      if (calls === 1) throw new Error("producer broke after a");
      yield new DynamicOutput("b", { mappingKey: "b" });
    });
    const upper = step(function peer_upper(s: string) {
      upperCalls.push(s);
      return s.toUpperCase();
    });
    const p = pipeline(function retried_producer() {
      return flaky().map(upper).collect();
    });
    const run = await p.run({}, { enableCache: false });
    expect(run.error).toBe(null);
    expect(await run.output()).toEqual(["A", "B"]);
    expect(run.steps.map((s) => s.name).filter((n) => n.startsWith("peer_upper")).sort()).toEqual(["peer_upper[a]", "peer_upper[b]"]);
    expect(upperCalls.sort()).toEqual(["a", "b"]);
    const producer = await client.getStepRun(run.id, "peer_flaky_letters");
    expect(producer.outputs.map((o) => o.mappingKey)).toEqual(["a", "b"]);
  });

  it("an explicit undefined argument means omitted", async () => {
    const optional = step(function peer_optional(a?: number, b = 5) {
      return { a: a ?? null, b };
    });
    const p = pipeline(function explicit_undefined() {
      return [optional(undefined), optional(undefined, undefined), optional(1, undefined)];
    });
    const run = await p.run({}, { enableCache: false });
    expect(run.error).toBe(null);
    expect(await run.output()).toEqual([
      { a: null, b: 5 },
      { a: null, b: 5 },
      { a: 1, b: 5 },
    ]);
    expect(run.steps.map((s) => s.parameters)).toEqual([{}, {}, { a: 1 }]);
  });

  it("a step runs with the parameter value it was called with, not a later mutation", async () => {
    const length = step(function peer_length(xs: number[], _after: unknown) {
      return xs.length;
    });
    const slow = step(async function peer_slow() {
      await new Promise((resolve) => setTimeout(resolve, 20));
      return 0;
    });
    const p = pipeline(function mutated_parameter() {
      const xs = [1];
      const h = length(xs, slow());
      xs.push(2);
      return h;
    });
    const run = await p.run({}, { enableCache: false });
    expect(await run.output()).toBe(1);
    expect(run.steps.find((s) => s.stepName === "peer_length")!.parameters).toEqual({ xs: [1] });
  });
});

// Two steps with the same name in one module: the pipeline calls the first.
const sameNameFirst = step({ name: "peer_same_name" }, (x: number) => `first ${x}`);
const sameNameSecond = step({ name: "peer_same_name" }, (x: number) => `second ${x}`);

describe("step identity", () => {
  it("two steps with the same name in one module each run their own function", async () => {
    const p = pipeline(function same_name_steps() {
      return [sameNameFirst(1), sameNameSecond(1), sameNameFirst(3)];
    });
    const run = await p.run({}, { enableCache: false });
    expect(await run.output()).toEqual(["first 1", "second 1", "first 3"]);
    const first = run.steps.find((s) => s.name === "peer_same_name")!;
    const second = run.steps.find((s) => s.name === "peer_same_name_2")!;
    expect(first.cacheKey).toBe(null);
    expect(second.stepName).toBe("peer_same_name");
    // With the cache on, the same argument gives two keys: each hashes the code that ran.
    const cachedRun = await p.run();
    const keys = cachedRun.steps.map((s) => s.cacheKey);
    expect(keys[0]).not.toBe(keys[1]);
    expect((await p.run()).steps.map((s) => s.status)).toEqual(["cached", "cached", "cached"]);
    expect(await cachedRun.output()).toEqual(["first 1", "second 1", "first 3"]);
  });
});

describe("failures keep their records", () => {
  it("a failed attempt's error and stack stay in metadata and logs when a retry succeeds", async () => {
    let calls = 0;
    const flaky = step({ name: "peer_flaky", retry: { maxRetries: 1 } }, () => {
      calls += 1;
      getStepContext().addMetadata({ tried: calls });
      if (calls === 1) throw new Error("first attempt broke");
      return "ok";
    });
    const run = await pipeline(function retry_keeps_failure() {
      return flaky();
    }).run({}, { enableCache: false });
    expect(run.status).toBe("completed");
    const view = await client.getStepRun(run.id, "peer_flaky");
    const attempts = view.metadata.attempts as { attempt: number; error: string; stack: string }[];
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({ attempt: 1, error: "first attempt broke" });
    expect(attempts[0].stack).toContain("peer-semantics.test.ts");
    expect(view.metadata.tried).toBe(2);
    const logs = view.logs.map((l) => l.message).join("\n");
    expect(logs).toContain("attempt 1 failed: first attempt broke");
    expect(logs).toMatch(/Error: first attempt broke\n\s+at /);
  });

  it("a failed step's stack trace is in its record and logs", async () => {
    const broken = step(function peer_broken() {
      throw new TypeError("cannot do it");
    });
    const run = await pipeline(function records_stack() {
      broken();
    }).run({}, { enableCache: false });
    const view = await client.getStepRun(run.id, "peer_broken");
    expect(view.error).toBe("cannot do it");
    const failure = view.metadata.failure as { error: string; stack: string; attempt: number };
    expect(failure).toMatchObject({ error: "cannot do it", attempt: 1 });
    expect(failure.stack).toMatch(/^TypeError: cannot do it\n\s+at .*peer-semantics\.test\.ts/);
    expect(view.logs.some((l) => l.stream === "stderr" && l.message.startsWith("TypeError: cannot do it\n"))).toBe(true);
  });

  it("hooks and the step's own metadata merge: nothing a step or hook recorded is lost", async () => {
    const succeeds = step(
      {
        name: "peer_hooked_success",
        onSuccess: (ctx: StepContext) => {
          ctx.addMetadata({ fromHook: true });
          throw new Error("success hook broke");
        },
      },
      () => {
        getStepContext().addMetadata({ rows: 3 });
        return 1;
      },
    );
    const fails = step(
      {
        name: "peer_hooked_failure",
        onFailure: () => {
          throw new Error("failure hook broke");
        },
      },
      () => {
        throw new Error("step broke");
      },
    );
    const run = await pipeline(function hooks_merge() {
      succeeds();
      fails();
    }).run({}, { enableCache: false });
    const success = await client.getStepRun(run.id, "peer_hooked_success");
    expect(success.metadata).toMatchObject({ rows: 3, fromHook: true, onSuccessError: "success hook broke" });
    const failure = await client.getStepRun(run.id, "peer_hooked_failure");
    expect(failure.metadata).toMatchObject({ onFailureError: "failure hook broke", failure: { error: "step broke" } });
    expect(failure.metadata.attempts).toHaveLength(1);
  });
});

describe("in step processes", () => {
  it("steps with one name, omitted arguments and a failure's stack behave as in-process", async () => {
    const home = process.env.WEIR_HOME!;
    const stack = new Stack({
      name: "peer-process",
      orchestrator: new LocalProcessOrchestrator({ echoOutput: false }),
      artifactStore: new LocalArtifactStore({ path: `${home}/process-artifacts`, name: "peer-process" }),
    });
    const run = await peerProcess.run({}, { stack, enableCache: false });
    expect(run.status).toBe("failed");
    const value = async (name: string) => client.loadArtifact((await client.getStepRun(run.id, name)).outputs[0].artifact.id);
    expect(await value("proc_same_name")).toBe("first 1");
    expect(await value("proc_same_name_2")).toBe("second 1");
    expect(await value("proc_optional")).toEqual({ a: null, b: 7 });
    expect(await value("proc_optional_2")).toEqual({ a: null, b: 5 });
    const broken = await client.getStepRun(run.id, "proc_broken");
    expect(broken.error).toBe("out of range in a step process");
    const failure = broken.metadata.failure as { stack: string };
    expect(failure.stack).toMatch(/^RangeError: out of range in a step process\n\s+at .*peer-pipelines/);
    expect(broken.logs.some((l) => l.message.startsWith("RangeError: out of range in a step process\n"))).toBe(true);
  }, 60_000);
});

describe("lineage", () => {
  it("a cached collect keeps its mapped upstream edges", async () => {
    const p = pipeline(function cached_collect() {
      return echo(numbers(2).map(echo).collect());
    });
    const first = await p.run();
    const second = await p.run();
    const upstreamOf = (run: typeof first) => run.steps.find((s) => s.name === "peer_echo")!.upstream;
    expect(second.steps.find((s) => s.name === "peer_echo")!.status).toBe("cached");
    expect(upstreamOf(second)).toEqual(upstreamOf(first));
    expect(upstreamOf(second)).toEqual(["peer_numbers", "peer_echo[0]", "peer_echo[1]"]);
  });

  it("an awaited value passed to a step keeps the lineage edge to the artifact it came from", async () => {
    const rows = step(function peer_rows() {
      return { rows: [1, 2, 3] };
    });
    const count = step(function peer_count(table: { rows: number[] }) {
      return table.rows.length;
    });
    const p = pipeline({ name: "awaited_value_lineage", dynamic: true }, async () => {
      const table = await rows();
      return count(table);
    });
    const run = await p.run({}, { enableCache: false });
    expect(await run.output()).toBe(3);
    const consumer = await client.getStepRun(run.id, "peer_count");
    const producer = await client.getStepRun(run.id, "peer_rows");
    expect(consumer.upstream).toEqual(["peer_rows"]);
    expect(consumer.inputs.map((i) => [i.name, i.artifact.id])).toEqual([["arg0", producer.outputs[0].artifact.id]]);
  });
});
