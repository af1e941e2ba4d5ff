import assert from 'node:assert/strict';
import { test } from 'node:test';

import { applyDelta } from '../js/delta.js';

const snap = (version, nodes, edges) => ({
  version,
  graph: { seq: version },
  lab_up: true,
  nodes: nodes.map((id) => ({ id, v: version })),
  edges: edges.map(([source, target]) => ({ source, target, kind: 'veth' })),
});

test('a delta on the version it builds on gives the next snapshot', () => {
  const before = snap(4, ['a', 'b', 'c'], [['a', 'b'], ['b', 'c']]);
  const delta = {
    base: 4,
    version: 5,
    graph: { seq: 5 },
    extra: { lab_up: true },
    nodes: { added: [{ id: 'd', v: 5 }], changed: [{ id: 'a', v: 5 }], removed: ['c'] },
    edges: { added: [{ source: 'd', target: 'a', kind: 'veth' }], changed: [], removed: [['c', 'b']] },
  };
  const after = applyDelta(before, delta);
  assert.equal(after.version, 5);
  assert.deepEqual(after.graph, { seq: 5 });
  assert.deepEqual(after.nodes.map((n) => [n.id, n.v]).sort(), [['a', 5], ['b', 4], ['d', 5]]);
  assert.deepEqual(after.edges.map((e) => `${e.source}-${e.target}`).sort(), ['a-b', 'd-a']);
  assert.equal(before.nodes.length, 3); // the old snapshot is left as it was
});

test('a delta on another version is refused', () => {
  const delta = { base: 7, version: 8, graph: {}, nodes: { added: [], changed: [], removed: [] },
    edges: { added: [], changed: [], removed: [] } };
  assert.equal(applyDelta(snap(6, [], []), delta), null);
  assert.equal(applyDelta(null, delta), null);
});

test('a patched node gets its attributes set, unset and its long lists spliced', () => {
  const fdb = Array.from({ length: 10 }, (_, i) => ({ mac: `m${i}` }));
  const before = {
    version: 1,
    graph: {},
    nodes: [{ id: 'br', mtu: 1500, old: true, fdb }],
    edges: [],
  };
  const delta = {
    base: 1,
    version: 2,
    graph: {},
    nodes: {
      added: [],
      changed: [],
      removed: [],
      patched: [
        { id: 'br', set: { mtu: 9000 }, unset: ['old'],
          splice: { fdb: [[1, 1, []], [4, 0, [{ mac: 'new' }]], [9, 1, [{ mac: 'x' }, { mac: 'y' }]]] } },
        { id: 'unknown', set: { mtu: 1 } },
      ],
    },
    edges: { added: [], changed: [], removed: [] },
  };
  const after = applyDelta(before, delta);
  assert.deepEqual(after.nodes, [{
    id: 'br',
    mtu: 9000,
    fdb: ['m0', 'm2', 'm3', 'new', 'm4', 'm5', 'm6', 'm7', 'm8', 'x', 'y'].map((mac) => ({ mac })),
  }]);
  assert.equal(before.nodes[0].fdb.length, 10); // the old list is left as it was
  assert.equal(before.nodes[0].old, true);
});
