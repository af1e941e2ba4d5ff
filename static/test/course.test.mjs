// The course page's pure pieces: what a failed assertion names on the graph, which
// lines of a "What to run" block are commands, and the streamed Check's line splitter.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { lineSplitter } from '../js/api.js';
import { elementsFromGraph, namedObjects, words } from '../js/objects.js';
import { commandsOf } from '../js/runblocks.js';

const elements = [
  { id: 'ns:px-ex06-a', type: 'namespace', name: 'px-ex06-a', label: 'ex06-a' },
  { id: 'ns:px-web', type: 'namespace', name: 'px-web', label: 'web' },
  { id: 'if:px-ex06-a:eth0', type: 'interface', name: 'eth0', ns: 'px-ex06-a', addresses: ['10.244.0.7/24'] },
  { id: 'if:px-web:eth0', type: 'interface', name: 'eth0', ns: 'px-web', addresses: ['10.244.0.9/24'] },
  { id: 'if:px-node1:cni0', type: 'interface', name: 'cni0', ns: 'px-node1', addresses: ['10.244.0.1/24'] },
];

test('a pod and its interface, named together', () => {
  const ids = namedObjects("pod ex06-a: 'eth0' has no address", elements);
  assert.deepEqual(ids.sort(), ['if:px-ex06-a:eth0', 'ns:px-ex06-a']);
});

test('an interface name shared by every pod lights none of them alone', () => {
  assert.deepEqual(namedObjects('eth0 is down', elements), []);
});

test('a unique interface name, and an address, name their interface', () => {
  assert.deepEqual(namedObjects('cni0 has no 10.244.0.1', elements), ['if:px-node1:cni0']);
  assert.deepEqual(namedObjects('ping 10.244.0.9 got no answer', elements), ['if:px-web:eth0']);
});

test('a name inside a longer word is not that name', () => {
  assert.deepEqual(namedObjects('webhook ex06-ab cni01 10.244.0.90', elements), []);
  assert.ok(words('"web", (cni0).').has('web'));
});

test('commands: blank lines and whole-line comments are not run', () => {
  const block = 'cnilab status\n\n# look first\ncnilab calls -v   # what was sent\n  \n';
  assert.deepEqual(commandsOf(block), ['cnilab status', 'cnilab calls -v   # what was sent']);
});

test('the line splitter keeps a half line for the next chunk', () => {
  const feed = lineSplitter();
  assert.deepEqual(feed('{"a":1}\n{"b"'), ['{"a":1}']);
  assert.deepEqual(feed(':2}\n\n'), ['{"b":2}']);
  assert.deepEqual(feed(''), []);
});

test('the graph\'s node data read as elements', () => {
  const got = elementsFromGraph([
    { id: 'ns:px-web', type: 'namespace', label: 'web' },
    { id: 'if:px-web:eth0', type: 'interface', label: 'eth0\n10.244.0.9/24' },
    { id: 'if:px-node1:eth1', type: 'interface', label: 'eth1 · masq' },
  ]);
  assert.deepEqual(got, [
    { id: 'ns:px-web', type: 'namespace', name: 'px-web', label: 'web' },
    { id: 'if:px-web:eth0', type: 'interface', ns: 'px-web', name: 'eth0', addresses: ['10.244.0.9/24'] },
    { id: 'if:px-node1:eth1', type: 'interface', ns: 'px-node1', name: 'eth1', addresses: [] },
  ]);
  assert.deepEqual(namedObjects('pod web: eth0', got), ['ns:px-web', 'if:px-web:eth0']);
});
