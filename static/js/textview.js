// The lab as text, for screen readers and for reading at any scale: one table of
// every namespace (kind, node), its interfaces (kind, state, addresses, peer) and its
// routes, from the same snapshot as the graph, narrowed by the same filter.

import { clear, h } from './dom.js';
import { describeNamespace, interfacesOf, natural, routeLabel } from './snapshot.js';

const ORDER = { node: 0, underlay: 1, internet: 2, pod: 3 };

function routeText(r) {
  const via = r.gateway || (r.nexthops || []).map((n) => n.gateway).join(', ');
  return [r.dst, via && `via ${via}`, r.dev && `dev ${r.dev}`].filter(Boolean).join(' ');
}

function peerText(model, iface) {
  const peer = iface.peer && model.interfaces.get(iface.peer);
  return peer ? `${peer.name} in ${peer.ns}` : '';
}

/** One <tbody> per namespace: its interfaces, then its routes and masquerade rules. */
function namespaceBody(model, ns, routeEdges) {
  const ifaces = interfacesOf(model, ns.id).sort((a, b) => natural(a.name, b.name));
  const rows = Math.max(ifaces.length, 1);
  const head = h('th', { scope: 'rowgroup', rowspan: String(rows) },
    h('span', { class: 'tv-ns', text: ns.label || ns.name }),
    h('span', { class: 'tv-sub', text: `${describeNamespace(ns)}${ns.node ? ` · on ${ns.node}` : ''}` }),
    h('span', { class: 'tv-sub', text: ns.name }));
  const routes = (ns.routes || []).map(routeText);
  for (const e of routeEdges.get(ns.id) || []) routes.push(`→ ${routeLabel(e)} (to ${e.targetNode})`);
  for (const m of ns.masquerade || []) routes.push(`masquerade: ${m.family} ${m.table} ${m.chain}${m.comment ? ` "${m.comment}"` : ''}`);
  const routeCell = h('td', { rowspan: String(rows), class: 'tv-routes' },
    routes.length ? h('ul', {}, routes.map((t) => h('li', {}, h('code', { text: t })))) : '—');
  const cells = (iface) => [
    h('td', {}, h('code', { text: iface.name })),
    h('td', { text: `${iface.kind}${iface.up ? '' : ', down'} · ${iface.operstate}` }),
    h('td', {}, (iface.addresses || []).map((a) => h('code', { class: 'tv-addr', text: a }))),
    h('td', { text: peerText(model, iface) }),
  ];
  const first = ifaces[0];
  const trs = [h('tr', {}, head, ...(first ? cells(first) : [h('td', { colspan: '4', text: 'no interface' })]), routeCell)];
  for (const iface of ifaces.slice(1)) trs.push(h('tr', {}, ...cells(iface)));
  return h('tbody', { 'data-ns': ns.id }, trs);
}

export function renderTextView(el, model, predicate = null) {
  const routeEdges = new Map();
  for (const e of model.edges) {
    if (e.kind !== 'route') continue;
    const target = model.interfaces.get(e.target);
    const targetNs = target && model.namespaces.get(`ns:${target.ns}`);
    if (!routeEdges.has(e.source)) routeEdges.set(e.source, []);
    routeEdges.get(e.source).push({ ...e, targetNode: targetNs ? targetNs.node || targetNs.label : '?' });
  }
  const shown = [...model.namespaces.values()]
    .filter((ns) => !predicate || predicate(ns, model))
    .sort((a, b) => (ORDER[a.kind] ?? 9) - (ORDER[b.kind] ?? 9) || natural(a.node || '', b.node || '') || natural(a.label, b.label));
  clear(el).append(
    h('p', { class: 'muted', 'data-testid': 'text-view-count',
      text: `${shown.length} of ${model.namespaces.size} namespaces` }),
    h('table', { class: 'data text-view-table', 'data-testid': 'text-view-table' },
      h('caption', { text: 'Namespaces, interfaces, addresses and routes' }),
      h('thead', {}, h('tr', {}, ['Namespace', 'Interface', 'Kind · state', 'Addresses', 'Peer', 'Routes']
        .map((t) => h('th', { scope: 'col', text: t })))),
      shown.map((ns) => namespaceBody(model, ns, routeEdges))),
  );
}
