// Pipeline parameter schemas: typed from zod, checked at submission, recorded with the run.
import { describe, expect, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { z as z4 } from "zod/v4";
import { Client, pipeline, PipelineDefinitionError, PipelineParameterError, step } from "weir";
import { store, useTempHome } from "../helpers.js";

useTempHome();

let trainCalls = 0;
const train = step(function train_model(epochs: number, rate: number, tag: string) {
  trainCalls++;
  return `${tag}:${epochs}x${rate}`;
});

const training = pipeline(
  {
    name: "param_training",
    params: z.object({ epochs: z.number().int().positive(), rate: z.number().default(0.1), tag: z.string() }),
  },
  ({ epochs, rate, tag }) => {
    expectTypeOf(epochs).toEqualTypeOf<number>();
    expectTypeOf(rate).toEqualTypeOf<number>(); // the default makes it always present inside
    return train(epochs, rate, tag);
  },
);

async function rejection(promise: Promise<unknown>): Promise<PipelineParameterError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PipelineParameterError);
  return error as PipelineParameterError;
}

describe("pipeline parameter schemas", () => {
  it("infer the parameter type of the callable and .run()", () => {
    expectTypeOf(training).parameter(0).toEqualTypeOf<{ epochs: number; rate?: number | undefined; tag: string }>();
    // @ts-expect-error epochs must be a number
    void (() => training({ epochs: "3", tag: "a" }));
    // @ts-expect-error tag is required
    void (() => training.run({ epochs: 3 }));
  });

  it("apply defaults and record the parsed parameters with the run", async () => {
    expect(await training({ epochs: 3, tag: "a" })).toBe("a:3x0.1");
    const run = await training.run({ epochs: 2, rate: 0.5, tag: "b" });
    expect(run.status).toBe("completed");
    expect(run.parameters).toEqual({ epochs: 2, rate: 0.5, tag: "b" });
    expect((await new Client().getRun(run.id)).parameters).toEqual({ epochs: 2, rate: 0.5, tag: "b" });
  });

  it("refuse missing, unknown and wrongly typed parameters before anything is recorded", async () => {
    const runsBefore = (await (await store()).listRuns()).length;
    const callsBefore = trainCalls;

    const missing = await rejection(training({ tag: "a" } as never));
    expect([missing.parameter, missing.problem, missing.pipelineName]).toEqual(["epochs", "missing", "param_training"]);
    expect(missing.message).toBe('pipeline "param_training": parameter "epochs" is missing (expected number)');

    const wrongType = await rejection(training.run({ epochs: "3", tag: "a" } as never));
    expect([wrongType.parameter, wrongType.problem]).toEqual(["epochs", "invalid"]);
    expect(wrongType.message).toContain('parameter "epochs" is invalid: expected number, received string');

    const unknown = await rejection(training.run({ epochs: 3, tag: "a", epocs: 4 } as never));
    expect([unknown.parameter, unknown.problem]).toEqual(["epocs", "unknown"]);
    expect(unknown.message).toContain('unknown parameter "epocs" (known: epochs, rate, tag)');

    const refined = await rejection(training.compile({ epochs: 0, tag: "a" }));
    expect(refined.message).toContain('parameter "epochs" is invalid: number must be greater than 0');

    // Every problem is named, not just the first.
    const several = await rejection(training({} as never));
    expect(several.message).toContain('"epochs" is missing');
    expect(several.message).toContain('"tag" is missing');

    expect(trainCalls).toBe(callsBefore);
    expect((await (await store()).listRuns()).length).toBe(runsBefore);
  });

  it("accept zod/v4 schemas and strict objects", async () => {
    const p = pipeline({ name: "param_v4", params: z4.object({ n: z4.number() }).strict() }, ({ n }) => train(n, 1, "v4"));
    expect(await p({ n: 2 })).toBe("v4:2x1");
    const unknown = await rejection(p({ n: 2, m: 1 } as never));
    expect([unknown.parameter, unknown.problem]).toEqual(["m", "unknown"]);
    const wrong = await rejection(p({ n: "x" } as never));
    expect(wrong.message).toContain('parameter "n" is invalid: expected number, received string');
  });

  it("refuse a params option that is not a schema", () => {
    expect(() => pipeline({ name: "bad_params", params: { n: 1 } as never }, () => undefined)).toThrow(PipelineDefinitionError);
  });
});
