// Search and filter: by pod or namespace name, IP address (or its start: "10.244.1."),
// interface name and node. Every word of the query must match something of the
// namespace; the node list narrows to one node. Enter focuses the first pod hit (its
// way out drawn, the rest dimmed); Escape clears.

import { interfacesOf } from './snapshot.js';

const DEBOUNCE_MS = 120;

/** The words a namespace answers to: its names, its node, its interfaces' names and IPs. */
export function haystack(ns, model) {
  const words = [ns.name, ns.label, ns.node, ns.kind];
  for (const iface of interfacesOf(model, ns.id)) {
    words.push(iface.name, ...(iface.addresses || []).map((a) => a.split('/')[0]));
  }
  return words.filter(Boolean).map((w) => String(w).toLowerCase());
}

/**
 * (namespace, model) -> bool for a query and a node ("" for any), or null when both
 * are empty (no filter at all).
 */
export function matcher(query, node = '') {
  const terms = String(query || '').toLowerCase().split(/\s+/).filter(Boolean);
  if (!terms.length && !node) return null;
  const cache = new WeakMap();
  return (ns, model) => {
    if (node && ns.node !== node && !(ns.kind === 'node' && ns.label === node)) return false;
    if (!terms.length) return true;
    if (!cache.has(ns)) cache.set(ns, haystack(ns, model));
    const words = cache.get(ns);
    return terms.every((t) => words.some((w) => w.includes(t)));
  };
}

export class SearchBar {
  /** els: {input, node (a select), count (where "N match" goes)}. */
  constructor(graph, { input, node, count }, onChange = () => {}) {
    this.graph = graph;
    this.els = { input, node, count };
    this.onChange = onChange;
    this.timer = 0;
    input.addEventListener('input', () => this.later());
    node.addEventListener('change', () => this.run());
    input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') {
        event.preventDefault();
        this.run();
        this.focusFirst();
      } else if (event.key === 'Escape') {
        this.clear();
      }
    });
  }

  setNodes(nodes) {
    const select = this.els.node;
    const known = [...select.options].map((o) => o.value).slice(1).join(',');
    if (known === nodes.join(',')) return;
    const chosen = select.value;
    select.replaceChildren(new Option('all nodes', ''), ...nodes.map((n) => new Option(n, n)));
    select.value = nodes.includes(chosen) ? chosen : '';
  }

  later() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), DEBOUNCE_MS);
  }

  predicate() {
    return matcher(this.els.input.value, this.els.node.value);
  }

  run() {
    clearTimeout(this.timer);
    const predicate = this.predicate();
    this.graph.setFilter(predicate);
    const model = this.graph.model;
    const hits = predicate && model ? this.graph.hits(model) : null;
    const pods = hits ? [...hits].filter((id) => model.namespaces.get(id).kind === 'pod') : [];
    this.els.count.textContent = hits ? `${pods.length} pods, ${hits.size} namespaces` : '';
    this.onChange(predicate);
  }

  focusFirst() {
    const model = this.graph.model;
    const predicate = this.predicate();
    if (!predicate || !model) return;
    const pod = [...model.namespaces.values()].find((ns) => ns.kind === 'pod' && predicate(ns, model));
    if (pod) this.graph.focus(pod.id);
  }

  clear() {
    this.els.input.value = '';
    this.els.node.value = '';
    this.graph.focused = null;
    this.run();
    this.graph.fitAndFollow();
  }
}
