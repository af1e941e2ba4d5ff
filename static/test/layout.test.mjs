import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { ifId, nodeBoxId, nsId } from '../js/ids.js';
import { IF_H, LINE, Layout, ROW, Slots } from '../js/layout.js';
import { parseSnapshot } from '../js/snapshot.js';
import { addPod, twoNodeLab } from './lab.mjs';

const eth0 = (pod) => ifId(`lab-${pod}`, 'eth0');
const place = (layout, lab) => layout.place(parseSnapshot(lab.json()));

describe('Slots', () => {
  test('each key takes the first free run of slots, and keeps it', () => {
    const slots = new Slots();
    assert.equal(slots.claim('a'), 0);
    assert.equal(slots.claim('b'), 1);
    assert.equal(slots.claim('a'), 0);
    assert.ok(slots.has('a'));
    assert.ok(!slots.has('c'));
  });

  test('a released slot goes to the next new key; the others stay', () => {
    const slots = new Slots();
    for (const key of ['a', 'b', 'c']) slots.claim(key);
    slots.release('b');
    assert.equal(slots.claim('d'), 1);
    assert.equal(slots.claim('c'), 2);
  });

  test('keepOnly releases every key not alive', () => {
    const slots = new Slots();
    for (const key of ['a', 'b', 'c']) slots.claim(key);
    slots.keepOnly(new Set(['c']));
    assert.deepEqual([slots.has('a'), slots.has('b'), slots.has('c')], [false, false, true]);
    assert.equal(slots.claim('d'), 0);
  });

  test('a key that needs more slots grows in place when the next ones are free', () => {
    const slots = new Slots();
    slots.claim('a');
    assert.equal(slots.claim('a', 3), 0);
    assert.equal(slots.claim('b'), 3);
  });

  test('a key that cannot grow in place moves to the first run that fits', () => {
    const slots = new Slots();
    slots.claim('a');
    slots.claim('b');
    assert.equal(slots.claim('a', 2), 2);
    assert.equal(slots.claim('c'), 0); // what `a` left
    assert.equal(slots.claim('b'), 1);
  });

  test('a smaller claim keeps the run', () => {
    const slots = new Slots();
    slots.claim('a', 2);
    assert.equal(slots.claim('a', 1), 0);
    assert.equal(slots.claim('b'), 2);
  });

  test('releasing an unknown key is a no-op', () => {
    const slots = new Slots();
    slots.claim('a');
    slots.release('zzz');
    assert.equal(slots.claim('a'), 0);
  });
});

describe('Layout', () => {
  test('every interface gets a position; namespaces are boxes around them', () => {
    const lab = twoNodeLab({ web: 'node1', db: 'node2' });
    lab.namespace('lab-empty', 'other');
    const model = parseSnapshot(lab.json());
    const { positions } = new Layout().place(model);
    for (const id of model.interfaces.keys()) assert.ok(positions.has(id), id);
    assert.ok(!positions.has(nsId('lab-web')), 'a namespace with interfaces has no position');
    assert.ok(positions.has(nsId('lab-empty')), 'a namespace without any has one');
    for (const p of positions.values()) assert.ok(Number.isFinite(p.x) && Number.isFinite(p.y));
  });

  test('node netns and pods sit in their lab node box; the switch and internet in none', () => {
    const { parents, boxes } = place(new Layout(), twoNodeLab({ web: 'node1', db: 'node2' }));
    assert.deepEqual(boxes, [nodeBoxId('node1'), nodeBoxId('node2')]);
    assert.equal(parents.get(nsId('lab-node1')), nodeBoxId('node1'));
    assert.equal(parents.get(nsId('lab-web')), nodeBoxId('node1'));
    assert.equal(parents.get(nsId('lab-db')), nodeBoxId('node2'));
    assert.equal(parents.get(nsId('lab-underlay')), null);
    assert.equal(parents.get(nsId('lab-internet')), null);
  });

  test('two nodes face each other with the underlay switch between them', () => {
    const { positions } = place(new Layout(), twoNodeLab({ web: 'node1', db: 'node2' }));
    const x = (ns, i) => positions.get(ifId(ns, i)).x;
    assert.ok(x('lab-web', 'eth0') < x('lab-node1', 'cni0'));
    assert.ok(x('lab-node1', 'cni0') < x('lab-underlay', 'br0'));
    assert.ok(x('lab-underlay', 'br0') < x('lab-node2', 'cni0'));
    assert.ok(x('lab-node2', 'cni0') < x('lab-db', 'eth0'));
    // node1's uplink is level with its port on the switch; the ports sit one above the other
    const y = (ns, i) => positions.get(ifId(ns, i)).y;
    assert.equal(y('lab-node1', 'eth0'), y('lab-underlay', 'to-node1'));
    assert.equal(x('lab-underlay', 'to-node1'), x('lab-underlay', 'to-node2'));
    assert.ok(y('lab-underlay', 'to-node2') - y('lab-underlay', 'to-node1') > IF_H);
  });

  test('with three nodes the columns go left to right, the switch above them', () => {
    const lab = twoNodeLab({ a: 'node1', b: 'node3' }, { nodes: ['node1', 'node2', 'node3'] });
    const { positions } = place(new Layout(), lab);
    const cni0 = ['node1', 'node2', 'node3'].map((n) => positions.get(ifId(`lab-${n}`, 'cni0')));
    assert.ok(cni0[0].x < cni0[1].x && cni0[1].x < cni0[2].x);
    const br0 = positions.get(ifId('lab-underlay', 'br0'));
    for (const p of cni0) assert.ok(br0.y < p.y);
  });

  test("a pod's host-side veth is level with the pod's eth0", () => {
    const { positions } = place(new Layout(), twoNodeLab({ web: 'node1', db: 'node2' }));
    for (const [pod, node] of [['web', 'node1'], ['db', 'node2']]) {
      const host = positions.get(ifId(`lab-${node}`, `veth-${pod}-eth0`));
      assert.equal(host.y, positions.get(eth0(pod)).y);
    }
  });

  test('pods of a node take slots in name order, one row apart', () => {
    const { positions } = place(new Layout(), twoNodeLab({ c: 'node1', a: 'node1', b: 'node1' }));
    const ys = ['a', 'b', 'c'].map((p) => positions.get(eth0(p)).y);
    assert.deepEqual(ys, [0, ROW, 2 * ROW]);
  });

  test('a new pod takes a free slot: no pod already drawn moves', () => {
    const layout = new Layout();
    const pods = { b: 'node1', d: 'node1', x: 'node2' };
    const before = place(layout, twoNodeLab(pods)).positions;
    const after = place(layout, twoNodeLab({ ...pods, a: 'node1' })).positions;
    for (const [id, p] of before) assert.deepEqual(after.get(id), p, id);
    assert.equal(after.get(eth0('a')).y, 2 * ROW); // after b and d, although "a" sorts first
  });

  test('a deleted pod leaves its slot to the next new pod; the others stay', () => {
    const layout = new Layout();
    const first = place(layout, twoNodeLab({ a: 'node1', b: 'node1', c: 'node1' })).positions;
    const second = place(layout, twoNodeLab({ a: 'node1', c: 'node1' })).positions;
    assert.deepEqual(second.get(eth0('c')), first.get(eth0('c')));
    const third = place(layout, twoNodeLab({ a: 'node1', c: 'node1', z: 'node1' })).positions;
    assert.deepEqual(third.get(eth0('z')), first.get(eth0('b')));
    assert.deepEqual(third.get(eth0('c')), first.get(eth0('c')));
  });

  test('a pod with more interfaces takes more room; its neighbours move only if it grows into them', () => {
    const layout = new Layout();
    const lab = twoNodeLab({ a: 'node1' });
    addPod(lab, 'b', 'node1', { ifnames: ['eth0', 'eth1', 'eth2'] });
    const { positions } = place(layout, lab);
    const ys = ['eth0', 'eth1', 'eth2'].map((i) => positions.get(ifId('lab-b', i)).y);
    assert.deepEqual(ys, [ROW, ROW + LINE, ROW + 2 * LINE]);
    const c = addPod(lab, 'c', 'node1');
    const next = place(layout, c).positions;
    assert.ok(next.get(eth0('c')).y > ROW + 2 * LINE, 'c is below all of b');
  });

  test('a pod whose node is not known yet waits below the internet, then joins its column', () => {
    const layout = new Layout();
    const lab = twoNodeLab({ web: 'node1' });
    // slow motion: the netns exists, its veth does not yet
    lab.namespace('lab-new', 'pod', { label: 'new' });
    lab.iface('lab-new', 'lo', { kind: 'loopback', addresses: ['127.0.0.1/8'] });
    const waiting = place(layout, lab);
    const lo = ifId('lab-new', 'lo');
    const internetY = waiting.positions.get(ifId('lab-internet', 'eth0')).y;
    assert.ok(waiting.positions.get(lo).y > internetY);
    assert.equal(waiting.parents.get(nsId('lab-new')), null);

    const wired = place(layout, twoNodeLab({ web: 'node1', new: 'node1' }));
    assert.equal(wired.parents.get(nsId('lab-new')), nodeBoxId('node1'));
    assert.equal(wired.positions.get(eth0('new')).y, ROW);
    assert.equal(wired.positions.get(eth0('web')).y, 0);
  });

  test('namespaces that belong nowhere go in a column right of everything', () => {
    const lab = twoNodeLab({ web: 'node1', db: 'node2' });
    lab.namespace('lab-host', 'host');
    lab.iface('lab-host', 'eth9', { addresses: ['192.0.2.1/24'] });
    const { positions, parents } = place(new Layout(), lab);
    const host = positions.get(ifId('lab-host', 'eth9'));
    for (const [id, p] of positions) if (id !== ifId('lab-host', 'eth9')) assert.ok(p.x < host.x, id);
    assert.equal(parents.get(nsId('lab-host')), null);
  });

  test('the same snapshot twice gives the same positions', () => {
    const layout = new Layout();
    const lab = twoNodeLab({ web: 'node1', db: 'node2', api: 'node1' });
    const once = place(layout, lab).positions;
    assert.deepEqual(place(layout, lab).positions, once);
    assert.deepEqual(place(new Layout(), lab).positions, once);
  });
});
