import { hash } from "node:crypto";

import { MaterializerError } from "../authoring/errors.js";
import { timeOrderedId } from "../ids.js";
import type { ArtifactKey, ArtifactStore } from "../stores/artifacts/types.js";
import type { NewArtifactVersion } from "../stores/metadata/types.js";
import { describeType, type MaterializerRegistry } from "./registry.js";
import type { Materializer } from "./types.js";

/**
 * Values to and from the artifact store: serialize with a materializer and save, or read and
 * deserialize. The engine, step processes and the Client all use these, so reading a value
 * needs no engine.
 */

/** Where values are stored and how they are (de)serialized. */
export interface ArtifactIO {
  artifacts: ArtifactStore;
  materializers: MaterializerRegistry;
}

/** An output a step attempt wrote to the artifact store (not yet recorded in metadata). */
export interface ProducedArtifact {
  artifact: NewArtifactVersion & { id: string };
  mappingKey: string | null;
  /** The value itself, only when the step ran in this process (saves a reload). */
  value?: unknown;
}

/** What loading a stored value needs from its record. */
export type StoredValueRef = { uri: string; materializer: string; dataType: string };

/**
 * Serializes one output value and writes it to the artifact store. A store that can save
 * these bytes synchronously (`saveSync`) gets them that way and the result comes back
 * directly, without a promise (the run engine's per-step path); errors are thrown then.
 */
export function materialize(
  value: unknown,
  task: { runId: string; pipelineName: string; invocationId: string },
  env: ArtifactIO,
  mappingKey: string | null,
  metadata: Record<string, unknown>,
): ProducedArtifact | Promise<ProducedArtifact> {
  const materializer = env.materializers.forValue(value);
  if (!materializer) {
    const item = mappingKey === null ? "" : ` (item "${mappingKey}")`;
    throw new MaterializerError(
      `step "${task.invocationId}": output "output"${item} is ${describeType(value)}, which no materializer can store; ` +
        "return JSON values, strings, numbers, Buffers, typed arrays, Dates, Maps or Sets, or register a materializer for it",
    );
  }
  const bytes = materializer.save(value);
  const key: ArtifactKey = { runId: task.runId, invocationId: task.invocationId, outputName: "output", mappingKey };
  const uri = env.artifacts.saveSync?.(key, bytes);
  if (uri === undefined) return env.artifacts.save(key, bytes).then((saved) => produced(saved, task, value, materializer, bytes, mappingKey, metadata));
  return produced(uri, task, value, materializer, bytes, mappingKey, metadata);
}

function produced(
  uri: string,
  task: { pipelineName: string; invocationId: string },
  value: unknown,
  materializer: Materializer,
  bytes: Uint8Array,
  mappingKey: string | null,
  metadata: Record<string, unknown>,
): ProducedArtifact {
  return {
    artifact: {
      id: timeOrderedId(),
      artifactName: mappingKey === null ? `${task.pipelineName}::${task.invocationId}::output` : `${task.pipelineName}::${task.invocationId}::output[${mappingKey}]`,
      uri,
      dataType: materializer.dataType(value),
      materializer: materializer.name,
      contentHash: hash("sha256", bytes),
      size: bytes.byteLength,
      metadata,
    },
    mappingKey,
    value,
  };
}

/** Loads an artifact's value from the store with the materializer it was saved with. */
export async function loadStoredArtifact(ref: StoredValueRef, env: ArtifactIO): Promise<unknown> {
  const bytes = await env.artifacts.read(ref.uri);
  return env.materializers.byName(ref.materializer).load(bytes, ref.dataType);
}
