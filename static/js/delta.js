// Topology deltas from the event stream (lab/live/delta.py): applied to the last
// node-link snapshot, or refused when the page did not see the version they build on.
// A changed node comes whole ("changed") or as a patch ("patched": set, unset, and
// splices of its long lists, such as a bridge's FDB or a node's ARP table).

const edgeKey = (e) => {
  const [a, b] = [String(e.source), String(e.target)].sort();
  return `${a}\u0000${b}`;
};

/** A node after a patch: {set, unset, splice: {attr: [[at, count, items], ...]}}. */
export function applyPatch(node, patch) {
  const out = { ...node };
  for (const key of patch.unset || []) delete out[key];
  Object.assign(out, patch.set || {});
  for (const [key, edits] of Object.entries(patch.splice || {})) {
    const items = [...(out[key] || [])];
    for (let i = edits.length - 1; i >= 0; i -= 1) {
      const [at, count, inserted] = edits[i];
      items.splice(at, count, ...inserted);
    }
    out[key] = items;
  }
  return out;
}

/**
 * The snapshot after `delta`, or null when `delta.base` is not `data.version` (the
 * page fell behind: it needs the full snapshot again).
 */
export function applyDelta(data, delta) {
  if (!data || data.version !== delta.base) return null;
  const nodes = new Map(data.nodes.map((n) => [n.id, n]));
  for (const id of delta.nodes.removed) nodes.delete(id);
  for (const n of [...delta.nodes.added, ...delta.nodes.changed]) nodes.set(n.id, n);
  for (const p of delta.nodes.patched || []) {
    if (nodes.has(p.id)) nodes.set(p.id, applyPatch(nodes.get(p.id), p));
  }
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
