import { MapInputError } from "../authoring/errors.js";
import { isHandle, type HandleRef } from "../authoring/handles.js";
import { loadStoredArtifact, type ExecutionEnvironment } from "./executor.js";
import type { ArgSpec } from "./args.js";
import type { RunGraph, Node } from "./graph.js";
import { NOT_IN_MEMORY, type ArtifactRef, type ProducedArtifact, type ResolvedArg } from "./launcher.js";

/** Where a remembered value sits on its reference: a symbol, so it is neither serialized nor copied by a store. */
const VALUE = Symbol("weir.value");
type Remembered = ArtifactRef & { [VALUE]: unknown };

/** Values up to this size (serialized bytes) stay in memory for in-process consumers. */
const IN_MEMORY_VALUE_LIMIT = 1024 * 1024;

/**
 * Value resolution: what a handle or an argument refers to (artifacts, literals, lists of
 * them), the input links that makes, and loading values (from memory when this process
 * produced them, else from the artifact store).
 */
export class ValueResolver {
  constructor(
    private readonly graph: RunGraph,
    private readonly env: Pick<ExecutionEnvironment, "artifacts" | "materializers">,
  ) {}

  resolveArg(spec: ArgSpec): ResolvedArg {
    if ("param" in spec) return { value: spec.param };
    if ("list" in spec) return { list: spec.list.map((s) => this.resolveArg(s)) };
    return this.resolveRef(spec.ref);
  }

  resolveRef(ref: HandleRef): ResolvedArg {
    switch (ref.kind) {
      case "output": {
        const node = this.graph.nodeOf(ref.node);
        if (node.step.dynamicOutput) return { list: node.items.map((i) => ({ artifact: i.artifact })) };
        return { artifact: node.output! };
      }
      case "element": {
        const node = this.graph.nodeOf(ref.node);
        if (!node.step.dynamicOutput) return { artifact: node.output!, index: ref.index };
        // step.map over a dynamic output zips its items in emission order.
        const item = node.items[ref.index];
        if (!item) throw new MapInputError(`step "${ref.node}" has no item ${ref.index} to map over`);
        return { artifact: item.artifact };
      }
      case "item": {
        const artifact = this.graph.nodeOf(ref.node).itemsByKey.get(ref.key);
        if (!artifact) throw new Error(`internal: item "${ref.key}" of "${ref.node}" is unknown`);
        return { artifact };
      }
      case "mapped":
      case "collected": {
        const group = this.graph.groups.get(ref.group)!;
        return { list: group.inEmissionOrder().map((r) => this.resolveValue(r.value)) };
      }
    }
  }

  resolveValue(value: unknown): ResolvedArg {
    if (isHandle(value)) return this.resolveRef(value.ref);
    if (Array.isArray(value) && value.some(isHandle)) return { list: value.map((v) => this.resolveValue(v)) };
    return { value };
  }

  inputLinks(node: Node, args: ResolvedArg[]) {
    const links: { stepRunId: string; artifactVersionId: string; inputName: string }[] = [];
    const walk = (arg: ResolvedArg, name: string) => {
      if ("artifact" in arg) links.push({ stepRunId: node.id, artifactVersionId: arg.artifact.id, inputName: name });
      else if ("list" in arg) arg.list.forEach((a, i) => walk(a, `${name}[${i}]`));
    };
    args.forEach((arg, i) => walk(arg, `arg${i}`));
    // Awaited values passed as parameters still link to the artifact they came from.
    for (const { index, artifact } of node.derived ?? []) links.push({ stepRunId: node.id, artifactVersionId: artifact.id, inputName: `arg${index}` });
    return links;
  }

  async loadRef(ref: HandleRef): Promise<unknown> {
    return this.loadResolved(this.resolveRef(ref));
  }

  async loadResolved(arg: ResolvedArg): Promise<unknown> {
    if ("value" in arg) return arg.value;
    if ("list" in arg) return Promise.all(arg.list.map((a) => this.loadResolved(a)));
    const value = await this.loadArtifact(arg.artifact);
    return arg.index === undefined ? value : (value as unknown[])[arg.index];
  }

  /** In-memory value when this process produced it, else read from the artifact store. */
  loadArtifact = async (ref: ArtifactRef): Promise<unknown> => {
    const value = this.inMemory(ref);
    return value === NOT_IN_MEMORY ? loadStoredArtifact(ref, this.env) : value;
  };

  /** The value when this process produced it (and kept it), else NOT_IN_MEMORY. */
  inMemory(ref: ArtifactRef): unknown {
    return VALUE in ref ? (ref as Remembered)[VALUE] : NOT_IN_MEMORY;
  }

  /** Keeps small values produced in this process in memory; large ones are read back from the store. */
  remember(ref: ArtifactRef, produced: ProducedArtifact): void {
    if (!("value" in produced) || ref.size > IN_MEMORY_VALUE_LIMIT) return;
    // On the reference itself: the engine hands that very object to every consumer in this
    // process, and the value goes when the reference does.
    (ref as Remembered)[VALUE] = produced.value;
  }

  encodeResolved(arg: ResolvedArg): unknown {
    if ("value" in arg) return arg.value;
    if ("list" in arg) return arg.list.map((a) => this.encodeResolved(a));
    return arg.index === undefined ? { $artifact: arg.artifact.id } : { $artifact: arg.artifact.id, $index: arg.index };
  }
}
