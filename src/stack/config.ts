import { z, type ZodTypeAny } from "zod";
import { StackError } from "../authoring/errors.js";

/**
 * Checks a component's config against its schema (zod) and names the first key that is
 * wrong: `orchestrator "fast" (local): config "maxParallel" must be ≥ 1, got 0`. Used at
 * construction (`new LocalOrchestrator(config)`) and when a stack is registered, so a bad
 * value is refused where it is written, not deep inside a run.
 */
export function checkComponentConfig(schema: ZodTypeAny, config: unknown, subject: string): void {
  const result = schema.safeParse(config ?? {});
  if (result.success) return;
  const issue = result.error.issues[0];
  if (issue.code === "unrecognized_keys") {
    const known = schema instanceof z.ZodObject ? ` (known: ${Object.keys(schema.shape).join(", ")})` : "";
    throw new StackError(`${subject}: config key "${issue.keys[0]}" is unknown${known}`);
  }
  const key = issue.path.join(".");
  if (key === "") throw new StackError(`${subject}: config ${issue.message}, got ${JSON.stringify(config)}`);
  const value = issue.path.reduce<unknown>((at, part) => (at as Record<string | number, unknown> | undefined)?.[part], config);
  const got = value === undefined ? "it is missing" : `got ${JSON.stringify(value)}`;
  throw new StackError(`${subject}: config "${key}" ${issue.message}, ${got}`);
}

// Building blocks with messages that read after `config "key"`.
export const positiveInteger = z
  .number({ invalid_type_error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be ≥ 1");
export const componentName = z.string({ invalid_type_error: "must be a string" }).min(1, "must not be empty");
