// Topology deltas from the event stream (lab/live/delta.py): applied to the last
// node-link snapshot, or refused when the page did not see the version they build on.

const edgeKey = (e) => {
  const [a, b] = [String(e.source), String(e.target)].sort();
  return `${a}\u0000${b}`;
};

/**
 * The snapshot after `delta`, or null when `delta.base` is not `data.version` (the
 * page fell behind: it needs the full snapshot again).
 */
export function applyDelta(data, delta) {
  if (!data || data.version !== delta.base) return null;
  const nodes = new Map(data.nodes.map((n) => [n.id, n]));
  for (const id of delta.nodes.removed) nodes.delete(id);
  for (const n of [...delta.nodes.added, ...delta.nodes.changed]) nodes.set(n.id, n);
  const edges = new Map((data.edges || []).map((e) => [edgeKey(e), e]));
  for (const [source, target] of delta.edges.removed) edges.delete(edgeKey({ source, target }));
  for (const e of [...delta.edges.added, ...delta.edges.changed]) edges.set(edgeKey(e), e);
  return {
    ...data,
    ...(delta.extra || {}),
    graph: delta.graph,
    version: delta.version,
    nodes: [...nodes.values()],
    edges: [...edges.values()],
  };
}
