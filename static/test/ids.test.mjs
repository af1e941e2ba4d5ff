import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  PACKET_ID,
  ifId,
  nodeBoxId,
  nodeOfBox,
  nsId,
  portEdgeId,
  vethEdgeId,
} from '../js/ids.js';

test('namespace and interface ids are the inspector\'s (lab/inspect/graph.py)', () => {
  assert.equal(nsId('cnilab-node1'), 'ns:cnilab-node1');
  assert.equal(ifId('cnilab-web', 'eth0'), 'if:cnilab-web:eth0');
});

test('a lab node box id round-trips to its node', () => {
  assert.equal(nodeBoxId('node2'), 'node:node2');
  assert.equal(nodeOfBox(nodeBoxId('node2')), 'node2');
});

test('an id that is no box has no node', () => {
  assert.equal(nodeOfBox(nsId('node:1')), null);
  assert.equal(nodeOfBox(ifId('cnilab-node1', 'cni0')), null);
  assert.equal(nodeOfBox('nod'), null);
});

test('a veth edge id does not depend on which end comes first', () => {
  const a = ifId('cnilab-web', 'eth0');
  const b = ifId('cnilab-node1', 'veth1234');
  assert.equal(vethEdgeId(a, b), vethEdgeId(b, a));
  assert.equal(vethEdgeId(a, b), `e:veth:${b}|${a}`);
});

test('edge and packet ids never collide with element ids', () => {
  const port = ifId('cnilab-node1', 'veth1234');
  for (const id of [portEdgeId(port), vethEdgeId(port, port), PACKET_ID]) {
    assert.ok(!id.startsWith('ns:') && !id.startsWith('if:') && nodeOfBox(id) === null, id);
  }
});
