// A lab snapshot as lab/inspect/graph.py serialises it (networkx node-link JSON), built
// from a short description, for the tests of the pure modules.

import { ifId, nsId } from '../js/ids.js';

/** A snapshot builder: add namespaces, interfaces and links, then `json()`. */
export class LabJSON {
  constructor(seq = 1) {
    this.seq = seq;
    this.nodes = [];
    this.edges = [];
  }

  namespace(name, kind, { node = '', label = name, pod = null } = {}) {
    this.nodes.push({ id: nsId(name), type: 'namespace', kind, name, label, node, pod });
    return this;
  }

  iface(ns, name, { kind = 'veth', addresses = [], peer = null, master = null } = {}) {
    const id = ifId(ns, name);
    this.nodes.push({
      id,
      type: 'interface',
      ns,
      name,
      kind,
      addresses,
      peer,
      master: master && ifId(ns, master),
      up: true,
      operstate: 'UP',
    });
    this.edges.push({ source: nsId(ns), target: id, kind: 'member' });
    return this;
  }

  /** A veth pair [ns, ifname] - [ns, ifname], both ends with their peer set. */
  veth([nsA, ifA], [nsB, ifB], { underlay = false, addresses = [[], []] } = {}) {
    const a = ifId(nsA, ifA);
    const b = ifId(nsB, ifB);
    this.iface(nsA, ifA, { peer: b, addresses: addresses[0] });
    this.iface(nsB, ifB, { peer: a, addresses: addresses[1] });
    this.edges.push({ source: a, target: b, kind: 'veth', underlay });
    return this;
  }

  /** `port` (an interface of `ns` already added) enslaved to the bridge `bridge`. */
  port(ns, port, bridge) {
    const p = ifId(ns, port);
    const b = ifId(ns, bridge);
    this.nodes.find((n) => n.id === p).master = b;
    // networkx writes an undirected edge either way round; `port`/`bridge` say which
    this.edges.push({ source: b, target: p, kind: 'bridge-port', port: p, bridge: b });
    return this;
  }

  json({ key = 'edges' } = {}) {
    return {
      directed: false,
      multigraph: false,
      graph: { seq: this.seq, taken_at: 1 },
      nodes: this.nodes,
      [key]: this.edges,
    };
  }
}

/** Two nodes, the underlay switch, the internet, and pods: {name: node}. */
export function twoNodeLab(pods = {}, { nodes = ['node1', 'node2'], seq = 1 } = {}) {
  const lab = new LabJSON(seq);
  lab.namespace('lab-underlay', 'underlay').iface('lab-underlay', 'br0', { kind: 'bridge' });
  lab.namespace('lab-internet', 'internet');
  lab.veth(['lab-internet', 'eth0'], ['lab-underlay', 'to-internet'], { underlay: true });
  lab.port('lab-underlay', 'to-internet', 'br0');
  for (const [i, node] of nodes.entries()) {
    const ns = `lab-${node}`;
    lab.namespace(ns, 'node', { node, label: node });
    lab.iface(ns, 'lo', { kind: 'loopback', addresses: ['127.0.0.1/8'] });
    lab.iface(ns, 'cni0', { kind: 'bridge', addresses: [`10.244.${i}.1/24`] });
    lab.veth([ns, 'eth0'], ['lab-underlay', `to-${node}`], {
      underlay: true,
      addresses: [[`192.168.56.${11 + i}/24`], []],
    });
    lab.port('lab-underlay', `to-${node}`, 'br0');
  }
  for (const [pod, node] of Object.entries(pods)) addPod(lab, pod, node);
  return lab;
}

/** A pod wired to its node's cni0: its netns, eth0 and lo, and the host-side veth. */
export function addPod(lab, pod, node, { ifnames = ['eth0'] } = {}) {
  const ns = `lab-${pod}`;
  lab.namespace(ns, 'pod', { node, label: pod, pod: { name: pod, node } });
  lab.iface(ns, 'lo', { kind: 'loopback', addresses: ['127.0.0.1/8'] });
  for (const ifname of ifnames) {
    const host = `veth-${pod}-${ifname}`;
    lab.veth([ns, ifname], [`lab-${node}`, host], { addresses: [['10.244.0.9/24'], []] });
    lab.port(`lab-${node}`, host, 'cni0');
  }
  return lab;
}
