// Deterministic positions for every leaf of the graph (interfaces, and namespaces that
// have none). Compound boxes (lab nodes, namespaces) size themselves around them.
//
// One column per lab node, left to right in natural order. In a column, pods sit in a
// vertical list of slots, each pod's interfaces level with their host-side veths in the
// node's own netns, which holds two columns: host veths, and bridges with the uplink
// (eth0, then lo and anything else) above them. With one or two nodes their netns face
// each other and the underlay switch sits between them, level with the uplinks, the
// internet below it (the switch's two ports one above the other, to keep the lab
// narrow enough for 11 px labels in a laptop's panel); with more, every column has the same orientation and the underlay
// and the internet sit above the columns.
//
// Stability: slots are remembered. A pod keeps its slot while it exists; a new pod takes
// the first free one (several new pods at once: in name order). Nothing else moves.
// A pod whose node is not known yet (its netns exists, its veth does not) waits under
// the internet and joins its node's column when its veth appears.
//
// At scale (scale.js: `model.grid` names the nodes with many pods) a node's pods and
// pod groups sit in a grid of compact cells, growing outwards from the node's netns,
// each cell keeping its slot as in the column.

import { nodeBoxId, nsId } from './ids.js';
import { natural } from './snapshot.js';

export const IF_W = 150;
export const IF_H = 38;
export const LINE = 46; // interfaces stacked in one namespace
export const ROW = 104; // one pod slot
const LOOP_X = -160; // pod lo, outwards from the pod's eth0
const VETH_X = 190; // host veths, relative to the pods' eth0 column
const BRIDGE_X = 350;
const UPLINK_Y = -92; // the node's eth0, above its bridges
const PORT_GAP = 200; // node uplink -> its port on the underlay switch
const COLUMN_W = 700; // one column, when there are three nodes or more
const MISC_GAP = 420; // namespaces that belong nowhere: a column on the right
const SPREAD = 160;
const CELL_W = 180; // one cell of a node's grid of pods
const CELL_H = 84;

/** Rows of a grid of `cells`: about twice as tall as wide, never fewer than 6. */
export function gridRows(cells) {
  return Math.max(6, Math.ceil(Math.sqrt(cells * 2)));
}

/** Remembers which key holds which run of slots. */
export class Slots {
  constructor() {
    this.owner = [];
    this.ranges = new Map();
  }

  has(key) {
    return this.ranges.has(key);
  }

  claim(key, size = 1) {
    const r = this.ranges.get(key);
    if (r && r.size >= size) return r.start;
    if (r && this.free(r.start + r.size, size - r.size)) {
      this.fill(r.start + r.size, size - r.size, key);
      r.size = size;
      return r.start;
    }
    if (r) this.release(key);
    let start = 0;
    while (!this.free(start, size)) start += 1;
    this.fill(start, size, key);
    this.ranges.set(key, { start, size });
    return start;
  }

  free(start, size) {
    for (let i = start; i < start + size; i += 1) if (this.owner[i] !== undefined) return false;
    return true;
  }

  fill(start, size, key) {
    for (let i = start; i < start + size; i += 1) this.owner[i] = key;
  }

  release(key) {
    const r = this.ranges.get(key);
    if (!r) return;
    for (let i = r.start; i < r.start + r.size; i += 1) this.owner[i] = undefined;
    this.ranges.delete(key);
  }

  /** Release every key not in `alive`. */
  keepOnly(alive) {
    for (const key of [...this.ranges.keys()]) if (!alive.has(key)) this.release(key);
  }
}

/** 0, -1, +1, -2, +2, ...: slot k spread around a centre. */
function centred(k) {
  return k === 0 ? 0 : (k % 2 ? -1 : 1) * Math.ceil(k / 2);
}

const isLoopback = (i) => i.kind === 'loopback' || i.name === 'lo';
const byName = (a, b) => natural(a.name, b.name);

export class Layout {
  constructor() {
    this.podSlots = new Map(); // lab node name -> Slots of its pods
    this.miscSlots = new Slots(); // namespaces in the column on the right
    this.pendingSlots = new Slots(); // pods whose node is not known yet
    this.gridSlots = new Map(); // lab node name -> Slots of its grid cells
    this.ifSlots = new Map(); // namespace id -> Slots of its loose interfaces
  }

  slotsOf(map, key) {
    if (!map.has(key)) map.set(key, new Slots());
    return map.get(key);
  }

  /**
   * @returns {{positions: Map<string,{x,y}>, parents: Map<string,string|null>, boxes: string[]}}
   * positions for leaves; parents of namespaces (a lab node box (ids.js nodeBoxId) or null).
   */
  place(model) {
    const positions = new Map();
    const parents = new Map();
    const byNs = new Map();
    for (const ns of model.namespaces.keys()) byNs.set(ns, []);
    for (const iface of model.interfaces.values()) byNs.get(nsId(iface.ns))?.push(iface);
    for (const list of byNs.values()) list.sort(byName);
    const nsKind = (ifaceId) => {
      const iface = model.interfaces.get(ifaceId);
      return iface ? model.namespaces.get(nsId(iface.ns))?.kind : undefined;
    };

    const nodes = model.nodes;
    const between = nodes.length <= 2;
    const columns = new Map(); // node name -> {x (pods' eth0), dir}
    nodes.forEach((name, i) => {
      if (between) {
        const portX = BRIDGE_X + PORT_GAP; // the switch's ports, one above the other
        const x = i === 0 ? 0 : portX + PORT_GAP + BRIDGE_X;
        columns.set(name, { x, dir: i === 0 ? 1 : -1, portX, portY: i * LINE });
      } else {
        columns.set(name, { x: i * COLUMN_W, dir: 1, portX: i * COLUMN_W + BRIDGE_X, portY: 0 });
      }
    });

    // Namespaces by role.
    const nodeNs = new Map();
    const pods = new Map(nodes.map((n) => [n, []]));
    const misc = [];
    let underlay = null;
    let internet = null;
    for (const ns of [...model.namespaces.values()].sort((a, b) => natural(a.name, b.name))) {
      const node = ns.node || (ns.kind === 'node' ? ns.label : '');
      if (ns.kind === 'node' && columns.has(node) && !nodeNs.has(node)) nodeNs.set(node, ns);
      else if ((ns.kind === 'pod' || ns.kind === 'group') && columns.has(ns.node)) {
        pods.get(ns.node).push(ns);
      }
      else if (ns.kind === 'underlay' && !underlay) underlay = ns;
      else if (ns.kind === 'internet' && !internet) internet = ns;
      else misc.push(ns);
    }
    for (const [node, ns] of nodeNs) parents.set(ns.id, nodeBoxId(node));
    for (const [node, list] of pods) for (const ns of list) parents.set(ns.id, nodeBoxId(node));
    for (const ns of [underlay, internet, ...misc]) if (ns) parents.set(ns.id, null);

    // Pods: slots in their node's column, or cells of its grid.
    for (const [node, list] of pods) {
      const col = columns.get(node);
      if (model.grid && model.grid.has(node)) {
        this.placeGrid(node, list, byNs, col, positions);
        continue;
      }
      const slots = this.slotsOf(this.podSlots, node);
      slots.keepOnly(new Set(list.map((ns) => ns.id)));
      for (const ns of list) {
        const ifs = byNs.get(ns.id);
        const wired = ifs.filter((i) => !isLoopback(i));
        const size = wired.length <= 1 ? 1 : 1 + Math.ceil(((wired.length - 1) * LINE) / ROW);
        const y = slots.claim(ns.id, size) * ROW;
        if (!ifs.length) positions.set(ns.id, { x: col.x, y });
        wired.forEach((iface, k) => positions.set(iface.id, { x: col.x, y: y + k * LINE }));
        ifs.filter(isLoopback).forEach((iface, k) =>
          positions.set(iface.id, { x: col.x + col.dir * LOOP_X, y: y + k * LINE }),
        );
      }
    }

    // Each node's own netns: host veths level with their pod's end, bridges, uplinks.
    for (const [node, ns] of nodeNs) {
      const col = columns.get(node);
      const ifs = byNs.get(ns.id);
      const loose = this.slotsOf(this.ifSlots, ns.id);
      loose.keepOnly(new Set(ifs.map((i) => i.id)));
      const bridges = ifs.filter((i) => i.kind === 'bridge');
      bridges.forEach((iface, k) =>
        positions.set(iface.id, { x: col.x + col.dir * BRIDGE_X, y: k * ROW }),
      );
      const rest = [];
      for (const iface of ifs) {
        if (iface.kind === 'bridge') continue;
        const peerPos = iface.peer && nsKind(iface.peer) === 'pod' && positions.get(iface.peer);
        if (peerPos) positions.set(iface.id, { x: col.x + col.dir * VETH_X, y: peerPos.y });
        else rest.push(iface);
      }
      const rank = (i) => {
        const peerKind = i.peer && nsKind(i.peer);
        if (peerKind === 'underlay' || peerKind === 'internet' || i.name === 'eth0') return 0;
        return isLoopback(i) ? 1 : 2;
      };
      rest.sort((a, b) => rank(a) - rank(b) || byName(a, b));
      for (const iface of rest) {
        const k = loose.claim(iface.id);
        positions.set(iface.id, { x: col.x + col.dir * BRIDGE_X, y: UPLINK_Y - k * LINE });
      }
      if (!ifs.length) positions.set(ns.id, { x: col.x + col.dir * BRIDGE_X, y: 0 });
    }

    // The underlay switch and the internet: between two nodes, or above many.
    const ports = [...columns.values()].map((c) => c.portX);
    const centre = ports.length ? (Math.min(...ports) + Math.max(...ports)) / 2 : 0;
    const portsY = between ? UPLINK_Y : UPLINK_Y - 200;
    const dy = between ? 1 : -1;
    if (underlay) {
      const ifs = byNs.get(underlay.id);
      const loose = this.slotsOf(this.ifSlots, underlay.id);
      loose.keepOnly(new Set(ifs.map((i) => i.id)));
      let bridgeK = 0;
      const ordered = [...ifs].sort((a, b) => isLoopback(a) - isLoopback(b) || byName(a, b));
      for (const iface of ordered) {
        const peer = iface.peer && model.interfaces.get(iface.peer);
        const peerNs = peer && model.namespaces.get(nsId(peer.ns));
        const node = peerNs && peerNs.kind === 'node' ? peerNs.node || peerNs.label : nodes.find((n) => iface.name === `to-${n}`);
        if (node && columns.has(node)) {
          const col = columns.get(node);
          positions.set(iface.id, { x: col.portX, y: portsY + col.portY });
        } else if (iface.kind === 'bridge') {
          positions.set(iface.id, { x: centre, y: portsY + dy * (LINE * 2 + bridgeK * LINE) });
          bridgeK += 1;
        } else {
          const k = loose.claim(iface.id);
          positions.set(iface.id, { x: centre + centred(k) * SPREAD, y: portsY + dy * LINE * 4 });
        }
      }
      if (!ifs.length) positions.set(underlay.id, { x: centre, y: portsY });
    }
    const internetY = portsY + dy * LINE * 7;
    if (internet) this.placeRow(internet, byNs.get(internet.id), centre, internetY, positions, true);

    // Pods not on a node yet (a runtime's ADD in slow motion: the netns comes first):
    // under the internet, between the two nodes, until their veth says where they run.
    const pending = between ? misc.filter((ns) => ns.kind === 'pod') : [];
    this.pendingSlots.keepOnly(new Set(pending.map((ns) => ns.id)));
    for (const ns of pending) {
      const y = internetY + LINE * 3 + this.pendingSlots.claim(ns.id) * ROW;
      this.placeRow(ns, byNs.get(ns.id), centre, y, positions, true);
    }

    // Everything else (the host, other namespaces): a column on the right, one row each.
    const rest = misc.filter((ns) => !pending.includes(ns));
    const rightmost = Math.max(0, ...[...positions.values()].map((p) => p.x), centre + 2 * SPREAD);
    this.miscSlots.keepOnly(new Set(rest.map((ns) => ns.id)));
    for (const ns of rest) {
      const y = this.miscSlots.claim(ns.id) * ROW;
      this.placeRow(ns, byNs.get(ns.id), rightmost + MISC_GAP, y, positions, false);
    }

    return { positions, parents, boxes: nodes.map(nodeBoxId) };
  }

  /** A node's pods (and groups) as cells of a grid, outwards from its netns. */
  placeGrid(node, list, byNs, col, positions) {
    const slots = this.slotsOf(this.gridSlots, node);
    slots.keepOnly(new Set(list.map((ns) => ns.id)));
    const fresh = list.filter((ns) => !slots.has(ns.id));
    for (const ns of list) if (slots.has(ns.id)) slots.claim(ns.id);
    for (const ns of fresh) slots.claim(ns.id);
    const rows = gridRows(slots.owner.length);
    for (const ns of list) {
      const k = slots.claim(ns.id);
      const at = { x: col.x - col.dir * Math.floor(k / rows) * CELL_W, y: (k % rows) * CELL_H };
      const ifs = byNs.get(ns.id) || [];
      const wired = ifs.filter((i) => !isLoopback(i));
      if (!ifs.length) positions.set(ns.id, at);
      wired.forEach((iface, j) => positions.set(iface.id, { x: at.x, y: at.y + j * LINE }));
    }
  }

  /** A namespace's interfaces in one row: centred around x, or left-aligned from x. */
  placeRow(ns, ifs, x, y, positions, centredRow) {
    const loose = this.slotsOf(this.ifSlots, ns.id);
    loose.keepOnly(new Set(ifs.map((i) => i.id)));
    const ordered = [...ifs].sort((a, b) => isLoopback(a) - isLoopback(b) || byName(a, b));
    for (const iface of ordered) {
      const k = loose.claim(iface.id);
      positions.set(iface.id, { x: x + (centredRow ? centred(k) : k) * SPREAD, y });
    }
    if (!ifs.length) positions.set(ns.id, { x, y });
  }
}
