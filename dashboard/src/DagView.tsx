import { Background, Controls, Handle, MarkerType, Position, ReactFlow, useReactFlow, ReactFlowProvider, type Edge, type Node, type NodeProps } from "@xyflow/react";
import { memo, useEffect, useMemo, useState } from "react";
import type { ApiStepRun } from "../../src/server/types";
import { CountsBar } from "./components";
import { duration, STEP_STATUSES } from "./format";
import { buildGraph, EXPAND_LIMIT, layout, NODE_HEIGHT, NODE_WIDTH, type GraphNode } from "./graph";

type StepNodeData = { node: GraphNode; selected: boolean; onToggle: (key: string) => void; canCollapse: boolean; collapseKey?: string };

/** The status a group shows: running beats failed beats pending, …; else the only one. */
function groupStatus(node: GraphNode): string {
  for (const s of ["running", "failed", "pending", "completed", "cached", "skipped"] as const) if (node.counts[s]) return s;
  return "pending";
}

const StepNode = memo(function StepNode({ data }: NodeProps<Node<StepNodeData>>) {
  const { node, selected } = data;
  const status = groupStatus(node);
  const one = node.members[0];
  return (
    <div
      className={`dag-node status-${status} ${node.group ? "group" : ""} ${selected ? "selected" : ""}`}
      data-testid="dag-node"
      data-key={node.key}
      data-status={status}
      style={{ width: NODE_WIDTH, height: NODE_HEIGHT }}
    >
      <Handle type="target" position={Position.Left} />
      <div className="dag-node-title" title={node.label}>
        {node.label}
      </div>
      {node.group ? (
        <div className="dag-node-sub">
          <CountsBar counts={node.counts} total={node.members.length} compact />
          <span className="group-counts">
            {STEP_STATUSES.filter((s) => node.counts[s]).map((s) => (
              <span key={s} className={`fg-${s}`}>
                {node.counts[s]} {s}
              </span>
            ))}
          </span>
          {node.members.length <= EXPAND_LIMIT && (
            <button className="expand nodrag" onClick={(e) => (e.stopPropagation(), data.onToggle(node.key))} title="Show each step run">
              ⤢
            </button>
          )}
        </div>
      ) : (
        <div className="dag-node-sub">
          <span className={`fg-${one.status}`}>{one.status}</span>
          <span className="subtle">{one.attempt > 1 ? `${one.attempt} attempts · ` : ""}{one.startedAt ? duration((one.endedAt ?? Date.now()) - one.startedAt) : ""}</span>
          {data.canCollapse && (
            <button className="expand nodrag" onClick={(e) => (e.stopPropagation(), data.onToggle(data.collapseKey!))} title="Collapse the group">
              ⤡
            </button>
          )}
        </div>
      )}
      <Handle type="source" position={Position.Right} />
    </div>
  );
});

const nodeTypes = { step: StepNode };

function Flow({ steps, selected, onOpen, onShowGroup }: { steps: ApiStepRun[]; selected: string | null; onOpen: (name: string) => void; onShowGroup: (key: string) => void }) {
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const model = useMemo(() => buildGraph(steps, expanded), [steps, expanded]);
  const [positions, setPositions] = useState<Map<string, { x: number; y: number }>>(new Map());
  const [laidOut, setLaidOut] = useState("");
  const flow = useReactFlow();
  // Re-layout only when the graph's shape changes (a discovered step, an expanded group), not on status changes.
  useEffect(() => {
    let current = true;
    void layout(model).then((p) => {
      if (!current) return;
      setPositions(p);
      setLaidOut(model.shapeKey);
    });
    return () => {
      current = false;
    };
  }, [model.shapeKey]); // only the shape: a status change keeps the layout
  useEffect(() => {
    if (laidOut) requestAnimationFrame(() => void flow.fitView({ padding: 0.15, maxZoom: 1.1, duration: 200 }));
  }, [laidOut, flow]);

  // Which group each expanded step belongs to, so it can collapse again.
  const groupOf = useMemo(() => {
    const map = new Map<string, string>();
    for (const key of expanded) for (const s of steps) if (s.name.replace(/\[[^\]]*\]$/, "[…]") === key || `${s.stepName} ×` === key) map.set(s.name, key);
    return map;
  }, [expanded, steps]);
  const toggle = (key: string) =>
    setExpanded((old) => {
      const next = new Set(old);
      if (next.has(key)) next.delete(key);
      else next.add(key);
      return next;
    });

  const nodes: Node<StepNodeData>[] = model.nodes
    .filter((n) => positions.has(n.key))
    .map((n) => ({
      id: n.key,
      type: "step",
      position: positions.get(n.key)!,
      data: { node: n, selected: !n.group && n.key === selected, onToggle: toggle, canCollapse: groupOf.has(n.key), collapseKey: groupOf.get(n.key) },
    }));
  const statusOf = new Map(model.nodes.map((n) => [n.key, groupStatus(n)]));
  const edges: Edge[] = model.edges
    .filter((e) => positions.has(e.source) && positions.has(e.target))
    .map((e) => ({
      id: e.id,
      source: e.source,
      target: e.target,
      animated: statusOf.get(e.target) === "running",
      markerEnd: { type: MarkerType.ArrowClosed, width: 16, height: 16 },
    }));

  return (
    <ReactFlow
      nodes={nodes}
      edges={edges}
      nodeTypes={nodeTypes}
      nodesDraggable={false}
      nodesConnectable={false}
      minZoom={0.1}
      proOptions={{ hideAttribution: true }}
      onNodeClick={(_, node) => {
        const n = (node.data as StepNodeData).node;
        if (!n.group) onOpen(n.members[0].name);
        else if (n.members.length <= EXPAND_LIMIT) toggle(n.key);
        else onShowGroup(n.key);
      }}
    >
      <Background gap={20} size={1} color="#e5e7eb" />
      <Controls showInteractive={false} position="bottom-right" />
    </ReactFlow>
  );
}

export function DagView(props: { steps: ApiStepRun[]; selected: string | null; onOpen: (name: string) => void; onShowGroup: (key: string) => void }) {
  if (props.steps.length === 0) return <div className="dag empty-dag">No step runs yet — the graph appears as steps are discovered.</div>;
  return (
    <div className="dag">
      <ReactFlowProvider>
        <Flow {...props} />
      </ReactFlowProvider>
    </div>
  );
}
