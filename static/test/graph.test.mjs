// The snapshot applied to Cytoscape as a diff (graph.js), on a headless Cytoscape.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ifId, nodeBoxId, nsId, portEdgeId, vethEdgeId } from '../js/ids.js';
import { parseSnapshot } from '../js/snapshot.js';
import { twoNodeLab } from './lab.mjs';

// graph.js watches its pane's size through `window`; there is no pane here.
globalThis.window ??= { addEventListener() {} };
const { Graph } = await import('../js/graph.js');

const model = (pods) => parseSnapshot(twoNodeLab(pods).json());
const ids = (cy) => new Set(cy.elements().map((e) => e.id()));

/** What a pod adds to the graph: its netns, lo and eth0, the host-side veth and two edges. */
function podIds(pod, node) {
  const eth0 = ifId(`lab-${pod}`, 'eth0');
  const host = ifId(`lab-${node}`, `veth-${pod}-eth0`);
  return [nsId(`lab-${pod}`), ifId(`lab-${pod}`, 'lo'), eth0, host, vethEdgeId(eth0, host), portEdgeId(host)];
}

test('the first snapshot adds every box, namespace, interface and edge', () => {
  const graph = new Graph(undefined);
  const m = model({ web: 'node1' });
  const { added, removed } = graph.apply(m);
  const want = [
    nodeBoxId('node1'),
    nodeBoxId('node2'),
    ...m.namespaces.keys(),
    ...m.interfaces.keys(),
    ...m.edges.map((e) => e.id),
  ];
  assert.deepEqual(new Set(added), new Set(want));
  assert.deepEqual(ids(graph.cy), new Set(want));
  assert.equal(removed, 0);
  assert.equal(graph.cy.getElementById(nsId('lab-web')).parent().id(), nodeBoxId('node1'));
  assert.equal(graph.cy.getElementById(ifId('lab-web', 'eth0')).parent().id(), nsId('lab-web'));
});

test('the same snapshot again changes nothing, and no element is rebuilt', () => {
  const graph = new Graph(undefined);
  graph.apply(model({ web: 'node1' }));
  graph.cy.elements().scratch('_mark', 'first');
  assert.deepEqual(graph.apply(model({ web: 'node1' })), { added: [], removed: 0 });
  assert.ok(graph.cy.elements().every((e) => e.scratch('_mark') === 'first'));
});

test('a new pod adds its own elements only; nothing drawn moves', () => {
  const graph = new Graph(undefined);
  graph.apply(model({ web: 'node1' }));
  const before = new Map(graph.cy.nodes().filter((n) => n.isChildless()).map((n) => [n.id(), n.position()]));
  const { added, removed } = graph.apply(model({ web: 'node1', db: 'node2' }));
  assert.deepEqual(new Set(added), new Set(podIds('db', 'node2')));
  assert.equal(removed, 0);
  for (const [id, p] of before) assert.deepEqual(graph.cy.getElementById(id).position(), p, id);
});

test('a deleted pod takes its elements with it, and only those', () => {
  const graph = new Graph(undefined);
  graph.apply(model({ web: 'node1', db: 'node2' }));
  const all = ids(graph.cy);
  const { added, removed } = graph.apply(model({ web: 'node1' }));
  assert.deepEqual(added, []);
  assert.equal(removed, podIds('db', 'node2').length);
  const left = ids(graph.cy);
  for (const id of all) assert.equal(left.has(id), !podIds('db', 'node2').includes(id), id);
});

test('a changed interface is updated in place', () => {
  const graph = new Graph(undefined);
  graph.apply(model({ web: 'node1' }));
  const eth0 = graph.cy.getElementById(ifId('lab-web', 'eth0'));
  eth0.scratch('_mark', 'kept');
  assert.match(eth0.data('label'), /^eth0\n10\.244\.0\.9\/24$/);
  const data = twoNodeLab({ web: 'node1' }).json();
  const rec = data.nodes.find((n) => n.id === ifId('lab-web', 'eth0'));
  rec.addresses = ['10.244.0.42/24'];
  rec.operstate = 'DOWN';
  graph.apply(parseSnapshot(data));
  const now = graph.cy.getElementById(ifId('lab-web', 'eth0'));
  assert.equal(now.scratch('_mark'), 'kept');
  assert.equal(now.data('label'), 'eth0\n10.244.0.42/24');
  assert.equal(now.data('down'), true);
});

test('a lone lo is quiet unless the loopback toggle shows it', () => {
  const graph = new Graph(undefined);
  graph.apply(model({ web: 'node1' }));
  const lo = graph.cy.getElementById(ifId('lab-web', 'lo'));
  assert.ok(lo.hasClass('quiet'));
  assert.ok(!graph.cy.getElementById(ifId('lab-web', 'eth0')).hasClass('quiet'));
  graph.setLoopback(true);
  assert.ok(!lo.hasClass('quiet'));
  graph.apply(model({ web: 'node1', db: 'node2' }));
  assert.ok(!graph.cy.getElementById(ifId('lab-db', 'lo')).hasClass('quiet'));
});

test('highlight lights nodes and edges by id, keeps them lit across snapshots, and clears', () => {
  const graph = new Graph(undefined);
  graph.apply(model({ web: 'node1' }));
  const [ns, , eth0, host, veth] = podIds('db', 'node1');
  const web = nsId('lab-web');
  graph.highlight([web, ns, eth0, veth]); // db is not drawn yet
  const lit = () => new Set(graph.cy.elements('.highlight').map((e) => e.id()));
  assert.deepEqual(lit(), new Set([web]));
  graph.apply(model({ web: 'node1', db: 'node1' })); // its step's objects appear
  assert.deepEqual(lit(), new Set([web, ns, eth0, veth]));
  assert.ok(graph.cy.getElementById(veth).isEdge());
  assert.ok(!graph.cy.getElementById(host).hasClass('highlight'));
  graph.highlight([host], 'named'); // another class lives beside it
  assert.ok(graph.cy.getElementById(host).hasClass('named'));
  graph.highlight([]);
  assert.deepEqual(lit(), new Set());
  assert.ok(graph.cy.getElementById(host).hasClass('named'));
  graph.apply(model({ web: 'node1', db: 'node1' }));
  assert.deepEqual(lit(), new Set()); // cleared stays cleared
});

test('a highlighted pod folded into a group at scale lights its group', () => {
  const graph = new Graph(undefined);
  const pods = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`p${i}`, 'node1']));
  graph.apply(model(pods));
  const pod = nsId('lab-p7');
  assert.ok(graph.cy.getElementById(pod).empty()); // drawn as part of a group
  graph.highlight([pod]);
  const lit = graph.cy.elements('.highlight');
  assert.equal(lit.length, 1);
  assert.equal(lit.data('kind'), 'group');
  assert.equal(lit.id(), graph.view.hidden.get(pod));
});
