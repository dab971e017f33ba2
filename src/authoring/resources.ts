import { StepDefinitionError } from "./errors.js";

/** ResourceSettings as users write them (the seeds' cpu_count / memory / gpu_count). */
export interface ResourceSettingsInput {
  cpuCount?: number;
  /** A size with a unit: "512MB", "4GB", "2GiB", "100KiB". */
  memory?: string;
  gpuCount?: number;
}

/** Resource settings after validation; memory in bytes as well as the user's text. */
export interface ResourceSettings {
  cpuCount?: number;
  memory?: string;
  memoryBytes?: number;
  gpuCount?: number;
}

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/** Parses "16GB" / "2GiB" / "512 MB" into bytes, or undefined when it is not a size. */
export function parseMemory(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?i?B)\s*$/i.exec(text);
  if (!match) return undefined;
  const unit = UNITS[match[2].toUpperCase()];
  if (unit === undefined) return undefined;
  return Math.round(Number(match[1]) * unit);
}

/** Validates resource settings at step definition time; errors name the step and the field. */
export function validateResources(stepName: string, input: unknown): ResourceSettings {
  if (input === undefined) return {};
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new StepDefinitionError(`step "${stepName}": settings.resources must be an object`);
  }
  const known = new Set(["cpuCount", "memory", "gpuCount"]);
  for (const key of Object.keys(input)) {
    if (!known.has(key)) {
      throw new StepDefinitionError(
        `step "${stepName}": settings.resources.${key} is not a resource setting (use cpuCount, memory, gpuCount)`,
      );
    }
  }
  const { cpuCount, memory, gpuCount } = input as ResourceSettingsInput;
  const result: ResourceSettings = {};
  if (cpuCount !== undefined) {
    if (typeof cpuCount !== "number" || !Number.isFinite(cpuCount) || cpuCount <= 0) {
      throw new StepDefinitionError(
        `step "${stepName}": settings.resources.cpuCount must be a positive number, got ${JSON.stringify(cpuCount)}`,
      );
    }
    result.cpuCount = cpuCount;
  }
  if (memory !== undefined) {
    const bytes = typeof memory === "string" ? parseMemory(memory) : undefined;
    if (bytes === undefined || bytes <= 0) {
      throw new StepDefinitionError(
        `step "${stepName}": settings.resources.memory must be a size with a unit like "512MB", "4GB" or "2GiB", got ${JSON.stringify(memory)}`,
      );
    }
    result.memory = memory;
    result.memoryBytes = bytes;
  }
  if (gpuCount !== undefined) {
    if (typeof gpuCount !== "number" || !Number.isInteger(gpuCount) || gpuCount < 0) {
      throw new StepDefinitionError(
        `step "${stepName}": settings.resources.gpuCount must be a whole number ≥ 0, got ${JSON.stringify(gpuCount)}`,
      );
    }
    result.gpuCount = gpuCount;
  }
  return result;
}
