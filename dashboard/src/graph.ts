// Turns a run's step runs into the graph the run page draws: a map's runs (and a step called
// many times) collapse into one group node unless expanded; elkjs lays the nodes out.
import ELK from "elkjs/lib/elk-api.js";
import elkWorkerUrl from "elkjs/lib/elk-worker.min.js?url";
import type { ApiStepRun, StepStatus } from "../../src/server/types";

/** A step called more often than this without a map is collapsed too (`work_item ×40`). */
const REPEAT_THRESHOLD = 6;
/** Groups larger than this never expand in the graph (the Steps tab lists them instead). */
export const EXPAND_LIMIT = 60;

export interface GraphNode {
  key: string;
  label: string;
  /** Group nodes: how many step runs, by status. */
  members: ApiStepRun[];
  counts: Partial<Record<StepStatus, number>>;
  group: boolean;
  expanded: boolean;
}

export interface GraphModel {
  nodes: GraphNode[];
  edges: { id: string; source: string; target: string }[];
  /** Changes only when nodes or edges are added or removed, not when a status changes. */
  shapeKey: string;
}

export function groupKeyOf(s: ApiStepRun, repeated: Set<string>): string {
  if (s.mappingKey !== null) return s.name.replace(/\[[^\]]*\]$/, "[…]");
  if (repeated.has(s.stepName)) return `${s.stepName} ×`;
  return s.name;
}

export function buildGraph(steps: ApiStepRun[], expanded: ReadonlySet<string>): GraphModel {
  const perStep = new Map<string, number>();
  for (const s of steps) if (s.mappingKey === null) perStep.set(s.stepName, (perStep.get(s.stepName) ?? 0) + 1);
  const repeated = new Set([...perStep].filter(([, n]) => n > REPEAT_THRESHOLD).map(([name]) => name));

  const groups = new Map<string, ApiStepRun[]>();
  for (const s of [...steps].sort((a, b) => a.position - b.position)) {
    const key = groupKeyOf(s, repeated);
    let list = groups.get(key);
    if (!list) groups.set(key, (list = []));
    list.push(s);
  }
  const nodeOf = new Map<string, string>();
  const nodes: GraphNode[] = [];
  for (const [key, members] of groups) {
    const isGroup = key !== members[0].name || members.length > 1;
    const open = isGroup && expanded.has(key) && members.length <= EXPAND_LIMIT;
    if (open) {
      for (const m of members) {
        nodeOf.set(m.name, m.name);
        nodes.push({ key: m.name, label: m.name, members: [m], counts: { [m.status]: 1 }, group: false, expanded: false });
      }
      continue;
    }
    for (const m of members) nodeOf.set(m.name, key);
    const counts: GraphNode["counts"] = {};
    for (const m of members) counts[m.status] = (counts[m.status] ?? 0) + 1;
    const label = isGroup ? (key.endsWith(" ×") ? `${key}${members.length}` : `${key} ×${members.length}`) : key;
    nodes.push({ key, label, members, counts, group: isGroup, expanded: false });
  }
  const edgeIds = new Set<string>();
  const edges: GraphModel["edges"] = [];
  for (const s of steps) {
    const target = nodeOf.get(s.name)!;
    for (const u of s.upstream) {
      const source = nodeOf.get(u);
      if (source === undefined || source === target) continue;
      const id = `${source}→${target}`;
      if (edgeIds.has(id)) continue;
      edgeIds.add(id);
      edges.push({ id, source, target });
    }
  }
  const shapeKey = `${nodes.map((n) => n.key).join("|")}#${edges.map((e) => e.id).join("|")}`;
  return { nodes, edges, shapeKey };
}

// ELK (1.6 MB) loads and lays out in a worker: the page shows up without parsing it first.
const elk = new ELK({ workerFactory: () => new Worker(elkWorkerUrl) });
export const NODE_WIDTH = 220;
export const NODE_HEIGHT = 58;

/** Node positions, left to right in dependency order. */
export async function layout(model: GraphModel): Promise<Map<string, { x: number; y: number }>> {
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "70",
      "elk.spacing.nodeNode": "22",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
    },
    children: model.nodes.map((n) => ({ id: n.key, width: NODE_WIDTH, height: NODE_HEIGHT })),
    edges: model.edges.map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  });
  return new Map((result.children ?? []).map((c) => [c.id, { x: c.x ?? 0, y: c.y ?? 0 }]));
}
