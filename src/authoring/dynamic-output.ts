import { MappingKeyError } from "./errors.js";

/** Mapping keys name mapped step runs (`step[key]`), so they are restricted to a safe alphabet. */
export const MAPPING_KEY_PATTERN = /^[A-Za-z0-9_]+$/;

/**
 * One item of a `dynamicOutput` step (Dagster's DynamicOutput). Each item becomes its own
 * artifact version, and each downstream mapped step run is named after its key.
 */
const BRAND = Symbol.for("weir.dynamicOutput");

export class DynamicOutput<T = unknown> {
  /** Recognized by brand, not instanceof: a user module may load another copy of weir than the engine. */
  readonly [BRAND] = true;
  readonly mappingKey: string;
  readonly metadata: Record<string, unknown>;

  constructor(
    readonly value: T,
    options: { mappingKey: string; metadata?: Record<string, unknown> },
  ) {
    this.mappingKey = options?.mappingKey;
    this.metadata = options?.metadata ?? {};
  }
}

export function isDynamicOutput(value: unknown): value is DynamicOutput {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

export function checkMappingKey(stepName: string, key: unknown, seen: Set<string>): string {
  if (typeof key !== "string" || !MAPPING_KEY_PATTERN.test(key)) {
    throw new MappingKeyError(
      `step "${stepName}" yielded mapping key ${JSON.stringify(key)}, which does not match ^[A-Za-z0-9_]+$`,
    );
  }
  if (seen.has(key)) {
    throw new MappingKeyError(`step "${stepName}" yielded mapping key "${key}" twice; mapping keys must be unique per output`);
  }
  seen.add(key);
  return key;
}
