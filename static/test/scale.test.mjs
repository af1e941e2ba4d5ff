import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ifId, nsId } from '../js/ids.js';
import { Layout } from '../js/layout.js';
import { GROUP_FROM, GROUP_SIZE, GRID_FROM, compactView, groupId } from '../js/scale.js';
import { matcher } from '../js/search.js';
import { parseSnapshot } from '../js/snapshot.js';
import { twoNodeLab } from './lab.mjs';

const podsOn = (node, n, from = 0) =>
  Object.fromEntries(Array.from({ length: n }, (_, i) => [`${node}-p${from + i}`, node]));

test('a few pods are drawn as they are', () => {
  const model = parseSnapshot(twoNodeLab(podsOn('node1', GRID_FROM)).json());
  const view = compactView(model);
  assert.equal(view.grid.size, 0);
  assert.equal(view.namespaces.size, model.namespaces.size);
  assert.equal(view.edges.length, model.edges.length);
});

test('many pods: a grid, each eth0 wired straight to cni0, host veths folded', () => {
  const model = parseSnapshot(twoNodeLab({ ...podsOn('node1', GRID_FROM + 1), db: 'node2' }).json());
  const view = compactView(model);
  assert.deepEqual([...view.grid], ['node1']);
  const host = ifId('lab-node1', 'veth-node1-p0-eth0');
  const eth0 = ifId('lab-node1-p0', 'eth0');
  assert.equal(view.interfaces.has(host), false);
  assert.equal(view.hidden.get(host), eth0);
  const port = view.edges.find((e) => e.source === eth0);
  assert.deepEqual([port.kind, port.target, port.folded], ['bridge-port', ifId('lab-node1', 'cni0'), 'veth-node1-p0-eth0']);
  // node2's single pod keeps its host veth, its veth pair and its port
  assert.ok(view.interfaces.has(ifId('lab-node2', 'veth-db-eth0')));
  assert.ok(view.edges.some((e) => e.kind === 'veth' && e.source.includes('lab-db')));
  const { positions } = new Layout().place(view);
  const cells = [...view.namespaces.values()].filter((ns) => ns.node === 'node1' && ns.kind === 'pod')
    .map((ns) => positions.get(ifId(ns.name, 'eth0')));
  assert.ok(new Set(cells.map((p) => p.x)).size > 1, 'a grid has more than one column');
  assert.equal(new Set(cells.map((p) => `${p.x},${p.y}`)).size, cells.length, 'no two cells overlap');
});

test('beyond the threshold pods go in groups with counts; search hits stay single', () => {
  const n = GROUP_FROM + 5;
  const model = parseSnapshot(twoNodeLab(podsOn('node1', n)).json());
  const hit = nsId('lab-node1-p7');
  const view = compactView(model, { expanded: new Set([hit]) });
  const groups = [...view.namespaces.values()].filter((ns) => ns.kind === 'group');
  assert.equal(groups.length, Math.ceil((n - 1) / GROUP_SIZE));
  assert.equal(groups.reduce((sum, g) => sum + g.count, 0), n - 1);
  assert.ok(view.namespaces.has(hit) && !view.hidden.has(hit));
  assert.equal(view.hidden.get(nsId('lab-node1-p8')), groupId('node1', 0));
  assert.match(groups[0].label, /^20 pods · node1-p0 … node1-p\d+/);
  const wired = view.edges.filter((e) => e.kind === 'group-port');
  assert.equal(wired.length, groups.length);
  assert.ok(wired.every((e) => e.target === ifId('lab-node1', 'cni0')));
  // every drawn edge has both ends drawn
  const drawn = (id) => view.namespaces.has(id) || view.interfaces.has(id);
  assert.ok(view.edges.every((e) => drawn(e.source) && drawn(e.target)));
});

test('search matches names, IPs, interfaces and nodes; every word must match', () => {
  const model = parseSnapshot(twoNodeLab({ web: 'node1', db: 'node2' }).json());
  const keep = (q, node) => [...model.namespaces.values()].filter((ns) => matcher(q, node)(ns, model))
    .map((ns) => ns.label).sort();
  assert.equal(matcher('', ''), null);
  assert.deepEqual(keep('web'), ['node1', 'web']); // node1 holds web's host veth
  assert.deepEqual(keep('192.168.56.12'), ['node2']);
  assert.deepEqual(keep('10.244.0.9 node2'), ['db']);
  assert.deepEqual(keep('', 'node1'), ['node1', 'web']);
  assert.deepEqual(keep('web', 'node2'), []);
  assert.deepEqual(keep('nothing-like-it'), []);
});
