// The graph at scale: what is drawn of a node's pods once there are many.
//
// Up to GRID_FROM pods a node shows every pod beside its host veth (layout.js's column).
// Beyond, pods sit in a grid of compact cells: each pod's eth0 is wired straight to its
// bridge (the host veth is folded into that edge, named on it). Beyond GROUP_FROM, pods
// go in groups of GROUP_SIZE (natural name order), each one box with its count and
// its first and last pod, wired once to the bridge. Pods in `expanded` (a search hit,
// the focused pod) always stay single. Nothing here changes the model: it returns a
// view of it, with `hidden` telling which drawn element stands for each folded one.

import { nsId, portEdgeId } from './ids.js';
import { natural } from './snapshot.js';

export const GRID_FROM = 12;
export const GROUP_FROM = 40;
export const GROUP_SIZE = 20;

/** A box that stands for many pods of one node. */
export const groupId = (node, k) => `group:${node}:${k}`;
const groupEdgeId = (group) => `e:group:${group}`;

/** First address of an interface list, for a group's range. */
const firstIp = (ifaces) => {
  for (const i of ifaces) {
    const a = (i.addresses || []).find((x) => !x.startsWith('127.'));
    if (a) return a.split('/')[0];
  }
  return '';
};

/**
 * @returns {{namespaces, interfaces, edges, nodes, seq, grid: Set<string>,
 *   groups: Map<string, string[]>, hidden: Map<string, string>}}
 * grid: nodes drawn as a grid; groups: group id -> member namespace ids; hidden: a
 * folded element's id -> the id of what is drawn for it.
 */
export function compactView(model, { expanded = new Set() } = {}) {
  const byNode = new Map();
  for (const ns of model.namespaces.values()) {
    if (ns.kind !== 'pod' || !ns.node) continue;
    if (!byNode.has(ns.node)) byNode.set(ns.node, []);
    byNode.get(ns.node).push(ns);
  }
  const grid = new Set([...byNode].filter(([, pods]) => pods.length > GRID_FROM).map(([n]) => n));
  const view = {
    ...model,
    namespaces: new Map(model.namespaces),
    interfaces: new Map(model.interfaces),
    grid,
    groups: new Map(),
    hidden: new Map(),
  };
  if (!grid.size) return view;

  const ifacesOf = new Map();
  for (const iface of model.interfaces.values()) {
    const key = nsId(iface.ns);
    if (!ifacesOf.has(key)) ifacesOf.set(key, []);
    ifacesOf.get(key).push(iface);
  }
  const bridgeOf = new Map(); // host veth id -> its bridge id
  for (const e of model.edges) if (e.kind === 'bridge-port') bridgeOf.set(e.source, e.target);
  const hide = (id, shownAs) => {
    view.hidden.set(id, shownAs);
    view.namespaces.delete(id);
    view.interfaces.delete(id);
  };
  const folded = new Map(); // pod eth0 id -> {hostVeth, bridge}
  const groupEdges = [];

  for (const node of grid) {
    const pods = byNode.get(node).sort((a, b) => natural(a.label, b.label));
    const grouping = pods.length > GROUP_FROM;
    const loose = grouping ? pods.filter((ns) => !expanded.has(ns.id)) : [];
    for (const ns of pods) {
      for (const iface of ifacesOf.get(ns.id) || []) {
        if (iface.kind === 'loopback' || iface.name === 'lo') hide(iface.id, ns.id);
        const host = iface.peer && model.interfaces.get(iface.peer);
        if (!host || host.ns === iface.ns) continue;
        hide(host.id, iface.id);
        folded.set(iface.id, { hostVeth: host, bridge: bridgeOf.get(host.id) });
      }
    }
    for (let k = 0; k * GROUP_SIZE < loose.length; k += 1) {
      const members = loose.slice(k * GROUP_SIZE, (k + 1) * GROUP_SIZE);
      const id = groupId(node, k);
      const first = members[0];
      const last = members[members.length - 1];
      const firstIf = ifacesOf.get(first.id) || [];
      const lastIf = ifacesOf.get(last.id) || [];
      const range = [firstIp(firstIf), firstIp(lastIf)].filter(Boolean).join(' … ');
      view.namespaces.set(id, {
        id,
        type: 'namespace',
        kind: 'group',
        name: id,
        node,
        count: members.length,
        members: members.map((m) => m.label),
        label: `${members.length} pods · ${first.label} … ${last.label}${range ? `\n${range}` : ''}`,
      });
      view.groups.set(id, members.map((m) => m.id));
      const bridges = new Set();
      for (const m of members) {
        hide(m.id, id);
        for (const iface of ifacesOf.get(m.id) || []) {
          hide(iface.id, id);
          const f = folded.get(iface.id);
          if (f) {
            view.hidden.set(f.hostVeth.id, id);
            if (f.bridge) bridges.add(f.bridge);
            folded.delete(iface.id);
          }
        }
      }
      for (const bridge of bridges) {
        groupEdges.push({ id: groupEdgeId(id), kind: 'group-port', source: id, target: bridge,
          label: String(members.length) });
      }
    }
  }

  const shown = (id) => view.namespaces.has(id) || view.interfaces.has(id);
  const edges = [];
  for (const e of model.edges) {
    if (shown(e.source) && shown(e.target)) edges.push(e);
  }
  for (const [eth0, { hostVeth, bridge }] of folded) {
    if (!bridge || !shown(bridge)) continue;
    edges.push({ id: portEdgeId(hostVeth.id), kind: 'bridge-port', source: eth0, target: bridge,
      folded: hostVeth.name });
  }
  view.edges = [...edges, ...groupEdges];
  return view;
}
