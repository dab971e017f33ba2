import { runInPipelineScope, type PipelineScope } from "../authoring/context.js";
import { Handle, settle, staticValueError, type CallOptions, type GraphBuilder, type HandleRef } from "../authoring/handles.js";
import type { StepDefinition } from "../authoring/step.js";
import type { ResourceSettings } from "../authoring/resources.js";
import { encodeArgs, parametersOf, refsOf, type ArgSpec } from "./args.js";
import { childPath, InvocationNamer } from "./naming.js";

/** One step of a compiled (static) snapshot. */
export interface CompiledStep {
  stepName: string;
  invocationId: string;
  upstream: string[];
  parameters: Record<string, unknown>;
  args: ArgSpec[];
  settings: { resources: ResourceSettings; [component: string]: unknown };
  module: string | undefined;
  dynamicOutput: boolean;
  /** Template steps of a map: expanded once per item at run time (`process_file[*]`). */
  mapOver?: string;
}

export interface CompiledSnapshot {
  pipelineName: string;
  isDynamic: boolean;
  parameters: Record<string, unknown>;
  steps: Record<string, CompiledStep>;
}

/** The template path used for map expansions at compile time (`step[*]`). */
const TEMPLATE_KEY = "*";

/**
 * The symbolic graph builder: runs a static pipeline function without running any step,
 * recording every call. Handles have no values here, so using one as a value throws.
 */
export class Compiler implements GraphBuilder {
  readonly isDynamic = false;
  readonly steps: Record<string, CompiledStep> = {};
  private readonly namer = new InvocationNamer();
  private readonly groups = new Map<string, { source: string }>();
  /** Sources of the map expansions being traced right now (innermost last). */
  private readonly expanding: string[] = [];

  constructor(readonly pipelineName: string) {}

  addStep(step: StepDefinition, args: unknown[], call: CallOptions, scope: PipelineScope): Handle {
    const invocationId = this.namer.next(step.name, scope.mappingPath, call.id);
    const specs = encodeArgs(step, args, this, scope.mappingPath);
    // Data edges first, then ordering-only ones (`after`), each upstream step once.
    const upstreamNodes = new Set<string>();
    for (const ref of refsOf(specs)) upstreamNodes.add(this.nodeOf(ref));
    for (const handle of call.after ?? []) upstreamNodes.add(this.nodeOf((handle as Handle).ref));
    const upstream = [...upstreamNodes];
    this.steps[invocationId] = {
      stepName: step.name,
      invocationId,
      upstream,
      parameters: parametersOf(step, specs),
      args: specs,
      settings: { ...step.options.settings, resources: step.resources },
      module: step.module,
      dynamicOutput: step.dynamicOutput,
      ...(this.expanding.length > 0 ? { mapOver: this.expanding[this.expanding.length - 1] } : {}),
    };
    return new Handle(this, { kind: "output", node: invocationId }, scope.mappingPath);
  }

  map(source: Handle, fn: (item: Handle) => unknown, scope: PipelineScope): Handle {
    const group = `map_${this.groups.size + 1}`;
    const sourceNode = this.nodeOf(source.ref);
    this.groups.set(group, { source: sourceNode });
    const itemRef: HandleRef =
      source.ref.kind === "output" ? { kind: "item", node: source.ref.node, key: TEMPLATE_KEY } : source.ref;
    const path = childPath(scope.mappingPath, TEMPLATE_KEY);
    this.expanding.push(sourceNode);
    try {
      runInPipelineScope({ builder: this, mappingPath: path }, () => fn(new Handle(this, itemRef, path)));
    } finally {
      this.expanding.pop();
    }
    return new Handle(this, { kind: "mapped", group }, scope.mappingPath);
  }

  collect(source: Handle): Handle {
    if (source.ref.kind === "mapped") return new Handle(this, { kind: "collected", group: source.ref.group }, source.scope);
    return new Handle(this, { kind: "collected", group: `collect:${this.nodeOf(source.ref)}` }, source.scope);
  }

  valueOf(handle: Handle): Promise<unknown> {
    throw staticValueError(this.pipelineName, handle.ref);
  }

  private nodeOf(ref: HandleRef): string {
    if (ref.kind === "mapped" || ref.kind === "collected") {
      return this.groups.get(ref.group)?.source ?? ref.group.replace(/^collect:/, "");
    }
    return ref.node;
  }
}

/** Compiles a static pipeline function into its snapshot, running no step. */
export async function compilePipeline(
  pipelineName: string,
  fn: (params: any) => unknown,
  parameters: Record<string, unknown>,
): Promise<{ snapshot: CompiledSnapshot; output: unknown }> {
  const compiler = new Compiler(pipelineName);
  const { value: output } = await settle(runInPipelineScope({ builder: compiler, mappingPath: "" }, () => fn(parameters)));
  return { snapshot: { pipelineName, isDynamic: false, parameters, steps: compiler.steps }, output };
}
