import { describe, expectTypeOf, it } from "vitest";
import { DynamicOutput, pipeline, step, type OutputHandle } from "weir";

// These checks run in `npm test`'s typecheck (tsc): a wrong type fails the build.
const loadData = step(function load_data() {
  return { records: 100 };
});
const processData = step(function process_data(data: { records: number }) {
  return { processed: data.records * 2 };
});
const countWords = step(function count_words(text: string) {
  return text.split(" ").length;
});
const merge = step(function merge(parts: number[]) {
  return parts.length;
});
const files = step({ dynamicOutput: true }, async function* files() {
  yield new DynamicOutput("a", { mappingKey: "a" });
});

describe("handle types", () => {
  it("carry a step's output type into the next step's arguments", () => {
    pipeline(function typed() {
      const data = loadData();
      expectTypeOf(data).toEqualTypeOf<OutputHandle<{ records: number }>>();
      const processed = processData(data);
      expectTypeOf(processed).toEqualTypeOf<OutputHandle<{ processed: number }>>();
      // @ts-expect-error a handle of an object is not a string argument
      countWords(data);
      merge([countWords("a b"), countWords("c"), 3]);
      const mapped = files().map(countWords);
      merge(mapped.collect());
    });
  });

  it("awaiting a handle in a dynamic pipeline gives the step's return type", () => {
    pipeline({ dynamic: true, name: "typed_dynamic" }, async () => {
      const data = await loadData();
      expectTypeOf(data).toEqualTypeOf<{ records: number }>();
      const names = await files();
      expectTypeOf(names).toEqualTypeOf<string[]>();
    });
  });
});
