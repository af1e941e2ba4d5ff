import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ifId, nsId, portEdgeId, vethEdgeId } from '../js/ids.js';
import {
  describeNamespace,
  interfacesOf,
  mainAddress,
  namespaceOf,
  natural,
  parseSnapshot,
} from '../js/snapshot.js';
import { LabJSON, twoNodeLab } from './lab.mjs';

describe('parseSnapshot', () => {
  test('no snapshot yet is an empty model', () => {
    for (const data of [null, undefined, {}]) {
      const model = parseSnapshot(data);
      assert.equal(model.seq, 0);
      assert.equal(model.namespaces.size, 0);
      assert.equal(model.interfaces.size, 0);
      assert.deepEqual(model.edges, []);
      assert.deepEqual(model.nodes, []);
    }
  });

  test('namespaces and interfaces by id, and the sequence number', () => {
    const model = parseSnapshot(twoNodeLab({ web: 'node1' }, { seq: 7 }).json());
    assert.equal(model.seq, 7);
    assert.equal(model.namespaces.get(nsId('lab-web')).kind, 'pod');
    assert.equal(model.interfaces.get(ifId('lab-web', 'eth0')).ns, 'lab-web');
    assert.ok([...model.namespaces.values()].every((n) => n.type === 'namespace'));
    assert.ok([...model.interfaces.values()].every((i) => i.type === 'interface'));
  });

  test('membership is left out: the boxes show it', () => {
    const model = parseSnapshot(twoNodeLab({ web: 'node1' }).json());
    assert.ok(model.edges.length > 0);
    assert.ok(model.edges.every((e) => e.kind !== 'member'));
  });

  test('a bridge port edge goes from the port to its bridge, however networkx wrote it', () => {
    const model = parseSnapshot(twoNodeLab({ web: 'node1' }).json());
    const port = ifId('lab-node1', 'veth-web-eth0');
    const edge = model.edges.find((e) => e.id === portEdgeId(port));
    assert.deepEqual(edge, {
      id: portEdgeId(port),
      kind: 'bridge-port',
      source: port,
      target: ifId('lab-node1', 'cni0'),
    });
  });

  test('a veth pair is one edge, its ends in id order', () => {
    const model = parseSnapshot(twoNodeLab({ web: 'node1' }).json());
    const a = ifId('lab-web', 'eth0');
    const b = ifId('lab-node1', 'veth-web-eth0');
    const veths = model.edges.filter((e) => e.kind === 'veth' && [a, b].includes(e.source));
    assert.equal(veths.length, 1);
    assert.equal(veths[0].id, vethEdgeId(a, b));
    assert.deepEqual([veths[0].source, veths[0].target], [a, b].sort());
    assert.equal(veths[0].underlay, false);
  });

  test('a veth to the underlay is an underlay cable, even when not marked so', () => {
    const lab = new LabJSON();
    lab.namespace('sw', 'underlay').namespace('n1', 'node', { node: 'n1' });
    lab.veth(['n1', 'eth0'], ['sw', 'to-n1'], { underlay: false });
    const [edge] = parseSnapshot(lab.json()).edges;
    assert.equal(edge.kind, 'veth');
    assert.equal(edge.underlay, true);
  });

  test('edges to an interface the snapshot does not hold are dropped', () => {
    const data = twoNodeLab().json();
    data.edges.push({ source: ifId('lab-node1', 'eth0'), target: 'if:gone:x', kind: 'veth' });
    data.edges.push({ source: 'if:gone:x', target: ifId('lab-node1', 'cni0'), kind: 'bridge-port' });
    const model = parseSnapshot(data);
    assert.ok(model.edges.every((e) => e.source !== 'if:gone:x' && e.target !== 'if:gone:x'));
  });

  test('older networkx writes "links" instead of "edges"', () => {
    const lab = twoNodeLab({ web: 'node1' });
    assert.deepEqual(
      parseSnapshot(lab.json({ key: 'links' })).edges,
      parseSnapshot(lab.json()).edges,
    );
  });

  test('unknown edge kinds are left out', () => {
    const data = twoNodeLab().json();
    data.edges.push({ source: ifId('lab-node1', 'eth0'), target: ifId('lab-node1', 'cni0'), kind: 'vxlan' });
    assert.ok(parseSnapshot(data).edges.every((e) => e.kind === 'veth' || e.kind === 'bridge-port'));
  });

  test('lab nodes in natural order, from node namespaces and from pods', () => {
    const lab = twoNodeLab({}, { nodes: ['node10', 'node2', 'node1'] });
    lab.namespace('lab-stray', 'pod', { node: 'node3' }); // a pod on a node whose netns is not seen
    lab.namespace('lab-host', 'host');
    assert.deepEqual(parseSnapshot(lab.json()).nodes, ['node1', 'node2', 'node3', 'node10']);
  });

  test('a node namespace without a node attribute is named by its label', () => {
    const lab = new LabJSON();
    lab.namespace('cnilab-node1', 'node', { label: 'node1' });
    assert.deepEqual(parseSnapshot(lab.json()).nodes, ['node1']);
  });
});

describe('model helpers', () => {
  const model = parseSnapshot(twoNodeLab({ web: 'node1' }).json());

  test('interfacesOf: the interfaces of one namespace, by namespace id', () => {
    const names = interfacesOf(model, nsId('lab-web')).map((i) => i.name).sort();
    assert.deepEqual(names, ['eth0', 'lo']);
    assert.deepEqual(interfacesOf(model, nsId('nowhere')), []);
  });

  test('namespaceOf: the namespace an interface lives in', () => {
    const iface = model.interfaces.get(ifId('lab-node1', 'cni0'));
    assert.equal(namespaceOf(model, iface).id, nsId('lab-node1'));
    assert.equal(namespaceOf(model, undefined), undefined);
  });

  test('mainAddress: the first address off 127/8, else the first, else none', () => {
    assert.equal(mainAddress({ addresses: ['127.0.0.1/8', '10.244.0.2/24'] }), '10.244.0.2/24');
    assert.equal(mainAddress({ addresses: ['127.0.0.1/8'] }), '127.0.0.1/8');
    assert.equal(mainAddress({ addresses: [] }), '');
    assert.equal(mainAddress({}), '');
  });

  test('describeNamespace: what to call a namespace in a sentence', () => {
    assert.equal(describeNamespace({ kind: 'pod', label: 'web' }), 'pod web');
    assert.equal(describeNamespace({ kind: 'node', node: 'node1', label: 'x' }), "node1's netns");
    assert.equal(describeNamespace({ kind: 'underlay' }), 'the underlay switch');
    assert.equal(describeNamespace({ kind: 'internet' }), 'the internet');
    assert.equal(describeNamespace({ kind: 'other', name: 'ns9' }), 'ns9');
    assert.equal(describeNamespace(undefined), '?');
  });

  test('natural order: numbers by value', () => {
    assert.deepEqual(['pod10', 'pod9', 'pod1'].sort(natural), ['pod1', 'pod9', 'pod10']);
  });
});
