import { PipelineParameterError } from "./errors.js";

/**
 * A schema for a pipeline's parameters: anything that implements Standard Schema v1
 * (https://standardschema.dev), which zod (`import { z } from "zod"`, and `zod/v4`),
 * valibot and arktype all do. weir depends on the shape, not on a library, so users keep
 * the zod they already have. The types below are the published spec's, trimmed to what
 * weir reads.
 */
export interface ParamsSchema<Input = unknown, Output = Input> {
  readonly "~standard": {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => SchemaResult<Output> | Promise<SchemaResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

type SchemaResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | { readonly issues: readonly SchemaIssue[] };

interface SchemaIssue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
  // zod adds these (both v3 and v4); other libraries may not.
  readonly code?: string;
  readonly expected?: string;
  readonly keys?: readonly string[];
}

/** What the caller passes (before defaults and transforms). */
export type ParamsInput<S extends ParamsSchema> = NonNullable<S["~standard"]["types"]>["input"];
/** What the pipeline function receives. */
export type ParamsOutput<S extends ParamsSchema> = NonNullable<S["~standard"]["types"]>["output"];

/**
 * Checks parameters against a pipeline's schema and returns the parsed value (defaults
 * applied), or throws PipelineParameterError naming every parameter that is missing,
 * unknown or of the wrong type. Unknown keys are refused even though `z.object` would
 * silently strip them: a misspelt parameter must not quietly run with the default.
 */
export async function validateParameters(
  pipelineName: string,
  schema: ParamsSchema,
  params: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const problems: { parameter: string; problem: "missing" | "unknown" | "invalid"; text: string }[] = [];
  const known = objectKeys(schema);
  if (known) {
    for (const key of Object.keys(params)) {
      if (!known.includes(key)) problems.push({ parameter: key, problem: "unknown", text: unknownText(key, known) });
    }
  }
  const result = await schema["~standard"].validate(params);
  for (const issue of result.issues ?? []) {
    const path = (issue.path ?? []).map((segment) => String(typeof segment === "object" ? segment.key : segment));
    if (issue.code === "unrecognized_keys" && issue.keys) {
      for (const key of issue.keys) {
        const parameter = [...path, key].join(".");
        if (!problems.some((p) => p.parameter === parameter)) {
          problems.push({ parameter, problem: "unknown", text: unknownText(parameter, known ?? []) });
        }
      }
      continue;
    }
    const parameter = path.join(".");
    const absent = path.length > 0 && valueAt(params, path) === undefined && issue.code === "invalid_type";
    const expected = issue.expected ? ` (expected ${issue.expected})` : "";
    problems.push(
      absent
        ? { parameter, problem: "missing", text: `parameter "${parameter}" is missing${expected}` }
        : { parameter, problem: "invalid", text: `parameter "${parameter || "(all)"}" is invalid: ${cleanMessage(issue.message)}` },
    );
  }
  if (problems.length > 0) {
    const [first] = problems;
    throw new PipelineParameterError(
      pipelineName,
      first.parameter,
      first.problem,
      `pipeline "${pipelineName}": ${problems.map((p) => p.text).join("; ")}`,
    );
  }
  return (result as { value: Record<string, unknown> }).value;
}

/**
 * The keys an object schema declares, when it refuses others; undefined when it is not an
 * object schema or passes unknown keys through. zod v3 and v4 both expose `shape`.
 */
function objectKeys(schema: ParamsSchema): string[] | undefined {
  const s = schema as { shape?: unknown; _def?: { unknownKeys?: string }; _zod?: { def?: { catchall?: unknown } } };
  if (typeof s.shape !== "object" || s.shape === null) return undefined;
  if (s._def?.unknownKeys === "passthrough" || s._zod?.def?.catchall !== undefined) return undefined;
  return Object.keys(s.shape);
}

function unknownText(key: string, known: string[]): string {
  return `unknown parameter "${key}" (known: ${known.join(", ") || "none"})`;
}

function valueAt(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) current = current !== null && typeof current === "object" ? (current as Record<string, unknown>)[key] : undefined;
  return current;
}

// zod v4 prefixes "Invalid input: "; v3 capitalises. One style either way.
function cleanMessage(message: string): string {
  const text = message.replace(/^Invalid input:\s*/, "");
  return text.charAt(0).toLowerCase() + text.slice(1);
}
