// A topology snapshot (networkx node-link JSON) as maps the page can use.
//
// Input nodes: {type: "namespace", kind, name, label, node, pod, routes, neighbours, error}
// and {type: "interface", ns, name, kind, mac, mtu, operstate, up, addresses, master, peer,
// network, fdb}. Edges ("edges" since networkx 3.4, "links" before): kind "member",
// "veth" (underlay: true between nodes and the underlay), "bridge-port" (port, bridge),
// and the routes: "route" (a node's namespace -> the next hop's interface on another
// node: cidr, cidrs, via, dev) and "default-route" (a pod's namespace -> its gateway).

import { nsId, portEdgeId, vethEdgeId } from './ids.js';

/** A route drawn from the namespace that holds it to its next hop (or gateway). */
export const routeEdgeId = (source, target) => `e:route:${source}|${target}`;

// One collator for every comparison: localeCompare with options makes one per call, and
// sorting 500 pods' names that way took ~20 ms of a page load at 2 x 250 pods.
const COLLATOR = new Intl.Collator(undefined, { numeric: true });
export const natural = (a, b) => COLLATOR.compare(String(a), String(b));

/** @returns {{seq, namespaces: Map, interfaces: Map, edges: Array, nodes: string[]}} */
export function parseSnapshot(data) {
  const namespaces = new Map();
  const interfaces = new Map();
  for (const n of (data && data.nodes) || []) {
    if (n.type === 'namespace') namespaces.set(n.id, n);
    else if (n.type === 'interface') interfaces.set(n.id, n);
  }
  const edges = [];
  for (const e of (data && (data.edges || data.links)) || []) {
    if (e.kind === 'member') continue; // drawn as containment
    const wires = interfaces.has(e.source) && interfaces.has(e.target);
    if (e.kind === 'bridge-port' && wires) {
      const port = e.port || e.source;
      const bridge = e.bridge || e.target;
      edges.push({ id: portEdgeId(port), kind: 'bridge-port', source: port, target: bridge });
    } else if (e.kind === 'veth' && wires) {
      const [a, b] = [e.source, e.target].sort();
      const kinds = [a, b].map((i) => namespaces.get(nsId(interfaces.get(i).ns))?.kind);
      const underlay = Boolean(e.underlay) || kinds.includes('underlay');
      edges.push({ id: vethEdgeId(a, b), kind: 'veth', source: a, target: b, underlay });
    } else if (e.kind === 'route' || e.kind === 'default-route') {
      const [source, target] = namespaces.has(e.source) ? [e.source, e.target] : [e.target, e.source];
      if (!namespaces.has(source) || !interfaces.has(target)) continue;
      const route = { id: routeEdgeId(source, target), kind: e.kind, source, target };
      route.via = e.via || '';
      route.dev = e.dev || '';
      if (e.kind === 'route') {
        route.cidrs = e.cidrs || [e.cidr];
        route.label = routeLabel(route);
      }
      edges.push(route);
    }
  }
  const nodes = new Set();
  for (const ns of namespaces.values()) {
    if (ns.kind === 'node') nodes.add(ns.node || ns.label || ns.name);
    else if (ns.kind === 'pod' && ns.node) nodes.add(ns.node);
  }
  return {
    seq: data && data.graph ? data.graph.seq : 0,
    namespaces,
    interfaces,
    edges,
    nodes: [...nodes].sort(natural),
  };
}

/** "10.244.1.0/24 via 192.168.56.12 dev eth1" (and "+N" more destinations). */
export function routeLabel(route) {
  const [first, ...more] = route.cidrs || [];
  const extra = more.length ? ` (+${more.length})` : '';
  return `${first}${extra} via ${route.via}${route.dev ? ` dev ${route.dev}` : ''}`;
}

/** Interfaces of one namespace, by namespace id. */
export function interfacesOf(model, nsKey) {
  const ns = model.namespaces.get(nsKey);
  if (!ns) return [];
  return [...model.interfaces.values()].filter((i) => i.ns === ns.name);
}

/** The namespace record an interface lives in. */
export function namespaceOf(model, iface) {
  return iface ? model.namespaces.get(nsId(iface.ns)) : undefined;
}

/** The address to print under an interface's name: the first one not on 127/8. */
export function mainAddress(iface) {
  const addrs = iface.addresses || [];
  return addrs.find((a) => !a.startsWith('127.')) || addrs[0] || '';
}

/** What to call a namespace in a sentence: "pod web", "node1's netns", ... */
export function describeNamespace(ns) {
  if (!ns) return '?';
  switch (ns.kind) {
    case 'pod':
      return `pod ${ns.label}`;
    case 'node':
      return `${ns.node || ns.label}'s netns`;
    case 'underlay':
      return 'the underlay switch';
    case 'internet':
      return 'the internet';
    case 'host':
      return 'the host';
    default:
      return ns.name;
  }
}
