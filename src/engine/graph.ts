import { isHandle, type Handle, type HandleRef } from "../authoring/handles.js";
import type { StepDefinition } from "../authoring/step.js";
import type { StepRunRecord, StepStatus } from "../stores/metadata/types.js";
import type { HeldStart } from "./recorder.js";
import { refsOf, type ArgSpec } from "./args.js";
import type { MapTemplate } from "./naming.js";
import type { ArtifactRef } from "./launcher.js";

// The run's graph state: step runs (nodes), map expansions (groups) and map templates.
// The engine changes it; nothing here writes to a store.

/** Something a step run can wait on: another step run, or a map group to settle. */
export interface Waitable {
  readonly label: string;
  settled: boolean;
  /** Set when it settled unsuccessfully; names the step run that failed first. */
  failedRoot: Node | undefined;
  onSettled(listener: () => void): void;
}

export type FinalStatus = "completed" | "cached" | "failed" | "skipped";

export class Node implements Waitable {
  status: StepStatus = "pending";
  settled = false;
  failedRoot: Node | undefined;
  error: Error | undefined;
  /** Someone awaited this step's handle (or one downstream of it): its failure is handled. */
  observed = false;
  output: ArtifactRef | undefined;
  // Made on first use: most step runs are not dynamic-output producers (memory at 100k steps).
  private itemList: { key: string; artifact: ArtifactRef }[] | undefined;
  private itemMap: Map<string, ArtifactRef> | undefined;
  private groupList: MapGroup[] | undefined;
  /** Dynamic-output items in emission order, and by mapping key. */
  get items(): { key: string; artifact: ArtifactRef }[] {
    return (this.itemList ??= []);
  }
  get itemsByKey(): Map<string, ArtifactRef> {
    return (this.itemMap ??= new Map());
  }
  /** The map groups expanding this producer's items. */
  get groups(): MapGroup[] {
    return (this.groupList ??= []);
  }
  attempt = 0;
  /** Resume: the attempt an earlier driver of the run left running, which the launcher may still be able to follow. */
  unfinishedAttempt: number | undefined;
  unmetDeps = 0;
  /** Everything recorded in the step run's metadata so far; every write carries all of it (patches merge). */
  metadata: Record<string, unknown> = {};
  /** Awaited values passed as parameters: the artifacts they came from (lineage). */
  derived: { index: number; artifact: ArtifactRef }[] | undefined;
  /** Where the recorder keeps its creation until it is written (recorder.ts); -1: nothing waits. */
  creationSlot = -1;
  /** The recorder's bookkeeping (recorder.ts): the step run as written, and a start held back. */
  written: StepRunRecord | undefined = undefined;
  heldStart: HeldStart | undefined = undefined;
  private listeners: (() => void)[] | undefined;

  constructor(
    readonly id: string,
    readonly invocationId: string,
    readonly step: StepDefinition,
    /** How the step's arguments are wired; dropped once resolved at launch (memory at 100k steps). */
    public args: ArgSpec[],
    readonly mappingKey: string | undefined,
    readonly position: number,
    /** Invocation ids this step run depends on; a collect's become exact when it launches. */
    public upstream: string[],
  ) {}

  get label() {
    return this.invocationId;
  }

  onSettled(listener: () => void): void {
    if (this.settled) listener();
    else (this.listeners ??= []).push(listener);
  }

  addItem(key: string, artifact: ArtifactRef): void {
    this.items.push({ key, artifact });
    this.itemsByKey.set(key, artifact);
  }

  settle(status: FinalStatus): void {
    this.status = status;
    this.settled = true;
    if (status === "failed") this.failedRoot = this;
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const listener of listeners) listener();
  }
}

/** What a map's function returned for one item. */
export interface MapResult {
  readonly key: string;
  readonly path: string;
  /** The item's position among its producer's emitted items: a collect's order. */
  readonly order: number;
  value: unknown;
  delivered: boolean;
}

/**
 * The per-item expansion of a map: for every item of its source (a dynamic-output step,
 * or another group) it calls the user's function in that item's scope and keeps what it
 * returns. It settles when no item can come any more and every result has settled.
 */
export class MapGroup implements Waitable {
  settled = false;
  failedRoot: Node | undefined;
  closed = false;
  /** Closed and every result delivered: children may close too. */
  drained = false;
  /** In the order they were added; read them through inEmissionOrder(). */
  private readonly results: MapResult[] = [];
  /** Some result was added before one emitted ahead of it: sort before the next read. */
  private unsorted = false;
  readonly children: MapGroup[] = [];
  /** Results of async per-item functions not delivered yet. */
  pendingResults = 0;
  /** Keys expanded so far: each item is expanded once, however it reaches the group. */
  readonly keys = new Set<string>();
  private listeners: (() => void)[] = [];

  constructor(
    readonly id: string,
    readonly label: string,
    readonly fn: (item: Handle) => unknown,
    readonly parentPath: string,
    readonly template: MapTemplate,
  ) {}

  onSettled(listener: () => void): void {
    if (this.settled) listener();
    else this.listeners.push(listener);
  }

  /**
   * Results arrive in any order: a map over another map gets each item when the map
   * before delivers it, and an async per-item function delivers whenever its awaits end.
   * The list a collect gathers must not depend on that timing, so each result carries
   * its item's emission position and reads are ordered by it.
   */
  addResult(result: MapResult): void {
    const last = this.results[this.results.length - 1];
    if (last && last.order > result.order) this.unsorted = true;
    this.results.push(result);
  }

  /** The results in their items' emission order (sorted lazily: appends stay O(1)). */
  inEmissionOrder(): readonly MapResult[] {
    if (this.unsorted) {
      this.results.sort((a, b) => a.order - b.order);
      this.unsorted = false;
    }
    return this.results;
  }

  /** Settles when closed and all results are in; the engine calls this whenever that may have changed. */
  maybeSettle(resultWaitables: () => Waitable[]): void {
    if (this.settled || !this.closed || this.pendingResults > 0) return;
    const waiting = resultWaitables().filter((w) => !w.settled);
    if (waiting.length > 0) {
      let left = waiting.length;
      for (const w of waiting) {
        w.onSettled(() => {
          left -= 1;
          if (left === 0) this.maybeSettle(resultWaitables);
        });
      }
      return;
    }
    this.settled = true;
    this.failedRoot ??= resultWaitables().find((w) => w.failedRoot)?.failedRoot;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) listener();
  }
}

/** Every step run and map group of one run, and how handles point into them. */
export class RunGraph {
  readonly nodes = new Map<string, Node>();
  readonly groups = new Map<string, MapGroup>();

  constructor(private readonly runId: string) {}

  waitableOf(ref: HandleRef): Waitable | undefined {
    switch (ref.kind) {
      case "output":
      case "element":
        return this.nodeOf(ref.node);
      case "item":
        return undefined; // an item exists only once it is stored: always ready
      case "mapped":
      case "collected":
        return this.groups.get(ref.group);
    }
  }

  upstreamOf(ref: HandleRef): string {
    if (ref.kind === "mapped" || ref.kind === "collected") return this.groups.get(ref.group)?.label ?? ref.group;
    return ref.node;
  }

  nodeOf(invocationId: string): Node {
    const node = this.nodes.get(invocationId);
    if (!node) throw new Error(`internal: unknown step run "${invocationId}" in run ${this.runId}`);
    return node;
  }

  resultWaitables(group: MapGroup): Waitable[] {
    const waitables: Waitable[] = [];
    for (const result of group.inEmissionOrder()) this.collectWaitables(result.value, waitables);
    return waitables;
  }

  private collectWaitables(value: unknown, into: Waitable[]): void {
    if (isHandle(value)) {
      const w = this.waitableOf(value.ref);
      if (w) into.push(w);
    } else if (Array.isArray(value)) {
      for (const v of value) this.collectWaitables(v, into);
    }
  }

  /**
   * For a step run that takes collected or mapped results: its upstream plus the step runs
   * it gathered (known only once the map has settled), else undefined.
   */
  collectedUpstream(node: Node): string[] | undefined {
    const groups = refsOf(node.args).filter((ref) => ref.kind === "collected" || ref.kind === "mapped");
    if (groups.length === 0) return undefined;
    const upstream = new Set(node.upstream);
    for (const ref of groups) {
      for (const w of this.resultWaitables(this.groups.get((ref as { group: string }).group)!)) {
        if (w instanceof Node) upstream.add(w.invocationId);
      }
    }
    node.upstream = [...upstream];
    return node.upstream;
  }
}
