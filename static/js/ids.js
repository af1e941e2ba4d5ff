// Element ids, in one place. Namespaces and interfaces are named as lab/inspect/graph.py
// names them (ns_id, if_id); the rest are the page's own: a lab node's box, the edges it
// draws, the traced packet.

const NODE = 'node:';

/** A network namespace: "ns:<netns>". */
export const nsId = (netns) => `ns:${netns}`;

/** An interface: "if:<netns>:<ifname>". */
export const ifId = (netns, ifname) => `if:${netns}:${ifname}`;

/** The box that stands for a lab node: "node:<name>". */
export const nodeBoxId = (node) => `${NODE}${node}`;

/** The lab node a box id stands for, or null when `id` is no lab node's box. */
export const nodeOfBox = (id) => (id.startsWith(NODE) ? id.slice(NODE.length) : null);

/** The edge from a bridge port to its bridge. */
export const portEdgeId = (port) => `e:port:${port}`;

/** The edge of a veth pair, the same whichever end comes first. */
export const vethEdgeId = (a, b) => {
  const [x, y] = [a, b].sort();
  return `e:veth:${x}|${y}`;
};

/** The dot a packet trace moves over the graph. */
export const PACKET_ID = 'trace:packet';
