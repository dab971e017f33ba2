import { describe, expect, it } from "vitest";
import { Client, DynamicOutput, pipeline, step } from "weir";
import { sleep, store, useTempHome } from "../helpers.js";

useTempHome();

const clean = (name: string) => name.replace(/[^A-Za-z0-9_]/g, "_");

const filesInDirectory = step({ dynamicOutput: true }, async function* files_in_directory(names: string[]) {
  for (const name of names) yield new DynamicOutput(`content of ${name}`, { mappingKey: clean(name) });
});
const processFile = step(function process_file(content: string) {
  return content.length;
});
const summarizeDirectory = step(function summarize_directory(lengths: number[]) {
  return { files: lengths.length, total: lengths.reduce((a, b) => a + b, 0) };
});

const processDirectory = pipeline(function process_directory(params: { names: string[] }) {
  const files = filesInDirectory(params.names);
  const results = files.map(processFile);
  return summarizeDirectory(results.collect());
});

describe("map and collect in static pipelines", () => {
  it("the snapshot holds the map node; runs expand it per item", async () => {
    const snapshot = await processDirectory.compile({ names: ["a.txt"] });
    expect(Object.keys(snapshot.steps)).toEqual(["files_in_directory", "process_file[*]", "summarize_directory"]);
    expect(snapshot.steps["process_file[*]"].mapOver).toBe("files_in_directory");

    const run = await processDirectory.run({ names: ["a.txt", "b.txt", "c.md"] });
    expect(run.status).toBe("completed");
    expect(run.steps.map((s) => s.name)).toEqual([
      "files_in_directory",
      "summarize_directory",
      "process_file[a_txt]",
      "process_file[b_txt]",
      "process_file[c_md]",
    ]);
    // The collecting step depends on the map's producer and on every mapped step run it gathered.
    expect(run.steps.find((s) => s.name === "summarize_directory")!.upstream).toEqual([
      "files_in_directory",
      "process_file[a_txt]",
      "process_file[b_txt]",
      "process_file[c_md]",
    ]);
    const mapped = run.steps.find((s) => s.name === "process_file[b_txt]")!;
    expect(mapped.mappingKey).toBe("b_txt");
    expect(mapped.stepName).toBe("process_file");
    expect(await run.output()).toEqual({ files: 3, total: 2 * "content of a.txt".length + "content of c.md".length });
  });

  it("each item is its own artifact version with its mapping key", async () => {
    const run = await processDirectory.run({ names: ["x", "y"] });
    const client = new Client();
    const producer = await client.getStepRun(run.id, "files_in_directory");
    expect(producer.outputs.map((o) => o.mappingKey)).toEqual(["x", "y"]);
    expect(new Set(producer.outputs.map((o) => o.artifact.id)).size).toBe(2);
    expect(await client.loadArtifact(producer.outputs[1].artifact.id)).toBe("content of y");
    const mapped = await client.getStepRun(run.id, "process_file[y]");
    expect(mapped.inputs.map((i) => i.artifact.id)).toEqual([producer.outputs[1].artifact.id]);
  });

  it("zero outputs is valid: mapped steps do not run, collect gets []", async () => {
    const run = await processDirectory.run({ names: [] });
    expect(run.status).toBe("completed");
    expect(run.steps.map((s) => s.name)).toEqual(["files_in_directory", "summarize_directory"]);
    expect(await run.output()).toEqual({ files: 0, total: 0 });
  });

  it("a function of one handle maps a sub-graph per item, and maps compose", async () => {
    const doubleStep = step(function double(x: number) {
      return x * 2;
    });
    const describeItem = step(function describe_item(x: number, doubled: number) {
      return `${x}->${doubled}`;
    });
    const numbersStep = step({ dynamicOutput: true }, function* numbers(n: number) {
      for (let i = 1; i <= n; i++) yield new DynamicOutput(i, { mappingKey: `n${i}` });
    });
    const join = step(function join_all(parts: string[]) {
      return parts.join(",");
    });
    const p = pipeline(function subgraph(params: { n: number }) {
      const items = numbersStep(params.n);
      const described = items.map((item) => describeItem(item, doubleStep(item)));
      const again = described.map((text) => join([text, text] as never));
      return [join(described.collect()), join(again.collect())];
    });
    const run = await p.run({ n: 3 });
    expect(run.status).toBe("completed");
    expect(await run.output()).toEqual(["1->2,2->4,3->6", "1->2,1->2,2->4,2->4,3->6,3->6"]);
    const names = run.steps.map((s) => s.name);
    expect(names).toContain("double[n2]");
    expect(names).toContain("describe_item[n2]");
    expect(names).toEqual(expect.arrayContaining(["join_all[n3]", "join_all", "join_all_2"]));
  });

  it("a map inside a mapped sub-graph fans out again (nested)", async () => {
    const groupsStep = step({ dynamicOutput: true }, function* groups() {
      yield new DynamicOutput(2, { mappingKey: "g1" });
      yield new DynamicOutput(3, { mappingKey: "g2" });
    });
    const membersStep = step({ dynamicOutput: true }, function* members(size: number) {
      for (let i = 0; i < size; i++) yield new DynamicOutput(i, { mappingKey: `m${i}` });
    });
    const squareStep = step(function square(x: number) {
      return x * x;
    });
    const sum = step(function sum_up(xs: number[]) {
      return xs.reduce((a, b) => a + b, 0);
    });
    const p = pipeline(function nested_fan_out() {
      const perGroup = groupsStep().map((size) => sum(membersStep(size).map(squareStep).collect()));
      return sum(perGroup.collect());
    });
    const run = await p.run();
    expect(run.status).toBe("completed");
    expect(await run.output()).toBe(0 + 1 + (0 + 1 + 4));
    const names = run.steps.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["members[g1]", "square[g1.m1]", "square[g2.m2]", "sum_up[g2]", "sum_up"]));
    expect(run.steps.find((s) => s.name === "square[g2.m2]")!.mappingKey).toBe("g2.m2");
  });

  it("a step may return an array of DynamicOutputs", async () => {
    const listedStep = step({ dynamicOutput: true }, function listed() {
      return [new DynamicOutput("a", { mappingKey: "first" }), new DynamicOutput("b", { mappingKey: "second" })];
    });
    const upperStep = step(function upper(s: string) {
      return s.toUpperCase();
    });
    const joinAll = step(function join_upper(xs: string[]) {
      return xs.join("");
    });
    const p = pipeline(function array_outputs() {
      return joinAll(listedStep().map(upperStep).collect());
    });
    expect(await p()).toBe("AB");
  });
});

describe("mapping keys", () => {
  const itemsFrom = step({ dynamicOutput: true }, function* keyed_items(keys: string[]) {
    for (const key of keys) yield new DynamicOutput(key, { mappingKey: key });
  });
  const identityStep = step(function identity(x: string) {
    return x;
  });
  const p = pipeline(function keyed(params: { keys: string[] }) {
    return itemsFrom(params.keys).map(identityStep).collect();
  });

  it.each([
    [["ok", "not-ok"], /step "keyed_items" yielded mapping key "not-ok", which does not match \^\[A-Za-z0-9_\]\+\$/],
    [["same", "same"], /step "keyed_items" yielded mapping key "same" twice/],
    [["", "x"], /mapping key "", which does not match/],
  ])("%j fails the producing step naming the key", async (keys, message) => {
    const run = await p.run({ keys });
    expect(run.status).toBe("failed");
    const producer = run.steps.find((s) => s.name === "keyed_items")!;
    expect(producer.status).toBe("failed");
    expect(producer.error).toMatch(message);
  });
});

describe("map and collect in dynamic pipelines", () => {
  it("maps over a dynamic output and awaits the collected list", async () => {
    const p = pipeline({ name: "dynamic_map", dynamic: true }, async (params: { names: string[] }) => {
      const lengths = await filesInDirectory(params.names).map(processFile).collect();
      if (lengths.length > 1) return summarizeDirectory(lengths);
      return "few";
    });
    expect(await p({ names: ["a", "bb"] })).toEqual({ files: 2, total: "content of a".length + "content of bb".length });
    expect(await p({ names: ["a"] })).toBe("few");
  });

  it("an async per-item function may branch on awaited values, and later maps wait for it", async () => {
    const numbers = step({ dynamicOutput: true }, function* few_numbers() {
      for (const n of [1, 2, 3]) yield new DynamicOutput(n, { mappingKey: `n${n}` });
    });
    const twiceStep = step(async function twice(x: number) {
      await sleep(10 * x);
      return x * 2;
    });
    const negateStep = step(function negate(x: number) {
      return -x;
    });
    const plusOne = step(function plus_one(x: number) {
      return x + 1;
    });
    const p = pipeline({ name: "async_branching_map", dynamic: true }, async () => {
      const branched = numbers().map(async (item) => ((await twiceStep(item)) > 2 ? negateStep(item) : item));
      return branched.map(plusOne).collect();
    });
    const run = await p.run();
    expect(run.error).toBeNull();
    expect(await run.output()).toEqual([2, -1, -2]);
    expect(run.steps.map((s) => s.name)).toEqual(expect.arrayContaining(["negate[n2]", "negate[n3]", "plus_one[n1]", "plus_one[n3]"]));
    expect(run.steps.map((s) => s.name)).not.toContain("negate[n1]");
  });

  it("collects in emission order even when async per-item results arrive in reverse", async () => {
    const numbers = step({ dynamicOutput: true }, function* four_numbers() {
      for (const n of [1, 2, 3, 4]) yield new DynamicOutput(n, { mappingKey: `n${n}` });
    });
    const plusOne = step(function plus_one_reversed(x: number) {
      return x + 1;
    });
    // Each per-item function waits at its gate (gates[i] for the i-th item emitted); the
    // pipeline function opens them last item first, so results arrive in reverse order.
    const gates: (() => void)[] = [];
    const arrivals: number[] = [];
    const until = async (ready: () => boolean) => {
      while (!ready()) await sleep(5);
    };
    const p = pipeline({ name: "reverse_arrival_map", dynamic: true }, async () => {
      const gated = numbers().map(async (item) => {
        const index = gates.length;
        await new Promise<void>((open) => gates.push(open));
        arrivals.push(index);
        return item;
      });
      const direct = gated.collect();
      const chained = gated.map(plusOne).collect();
      await until(() => gates.length === 4);
      gates[3]();
      await until(() => arrivals.length === 1);
      gates[2]();
      await until(() => arrivals.length === 2);
      // A map created now sees the last two results first, the first two only later.
      const late = gated.map(plusOne).collect();
      gates[1]();
      await until(() => arrivals.length === 3);
      gates[0]();
      return [await direct, await chained, await late];
    });
    const run = await p.run();
    expect(run.error).toBeNull();
    expect(arrivals).toEqual([3, 2, 1, 0]);
    expect(await run.output()).toEqual([
      [1, 2, 3, 4],
      [2, 3, 4, 5],
      [2, 3, 4, 5],
    ]);
  });

  it("awaiting a dynamic output handle gives all item values", async () => {
    const p = pipeline({ name: "await_items", dynamic: true }, async () => {
      const values = await filesInDirectory(["q", "r"]);
      return values.map((v) => v.toUpperCase());
    });
    expect(await p()).toEqual(["CONTENT OF Q", "CONTENT OF R"]);
  });
});

describe("streaming map", () => {
  it("starts a mapped step as soon as its item is stored, before the generator ends", async () => {
    const events: string[] = [];
    const slowProducer = step({ dynamicOutput: true }, async function* slow_producer() {
      for (const key of ["first", "second", "third"]) {
        events.push(`yield ${key}`);
        yield new DynamicOutput(key, { mappingKey: key });
        await sleep(80);
      }
      events.push("generator done");
    });
    const consumeStep = step(function consume(key: string) {
      events.push(`consumed ${key}`);
      return key;
    });
    const p = pipeline(function streaming() {
      return slowProducer().map(consumeStep).collect();
    });
    const run = await p.run();
    expect(await run.output()).toEqual(["first", "second", "third"]);
    expect(events.indexOf("consumed first")).toBeLessThan(events.indexOf("yield third"));
    const s = await store();
    const mappedFirst = (await s.findStepRun(run.id, "consume[first]"))!;
    const producer = (await s.findStepRun(run.id, "slow_producer"))!;
    expect(mappedFirst.endedAt!).toBeLessThan(producer.endedAt!);
  });
});
