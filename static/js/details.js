// The details panel: what one namespace or interface is, read from the latest snapshot.

import { clear, h, shortId, table } from './dom.js';
import { nodeOfBox } from './ids.js';
import { describeNamespace, interfacesOf, namespaceOf } from './snapshot.js';

const KIND_NAMES = {
  node: 'lab node (its root netns)',
  pod: 'pod',
  underlay: 'underlay switch',
  internet: 'the "internet"',
  host: 'host',
  other: 'other namespace',
};

function row(label, value, testid) {
  return h(
    'div',
    { class: 'kv-row' },
    h('dt', { text: label }),
    h('dd', { 'data-testid': testid }, value ?? ''),
  );
}

/** A clickable reference to another element of the graph. */
function link(model, id, text, select) {
  if (!id) return '';
  const exists = model.interfaces.has(id) || model.namespaces.has(id);
  if (!exists) return text;
  return h('button', {
    type: 'button',
    class: 'link',
    text,
    'data-target-id': id,
    onclick: () => select(id),
  });
}

function ifaceName(model, id) {
  const iface = model.interfaces.get(id);
  return iface ? iface.name : id;
}

/** Leave out the columns that are empty in every row. */
function compactTable(headers, rows, attrs) {
  const keep = headers.map((_, i) => rows.some((r) => r[i] !== '' && r[i] !== undefined));
  const pick = (cells) => cells.filter((_, i) => keep[i]);
  return table(pick(headers), rows.map(pick), attrs);
}

function routesTable(ns) {
  const routes = ns.routes || [];
  if (!routes.length) return h('p', { class: 'muted', text: 'No IPv4 route.' });
  const rows = routes.map((r) => {
    const via = r.gateway || (r.nexthops || []).map((n) => `${n.gateway}@${n.dev}`).join(', ');
    return [
      h('code', { text: r.dst }),
      via || '',
      r.dev || '',
      r.src || '',
      r.type && r.type !== 'unicast' ? `${r.protocol} ${r.type}` : r.protocol || '',
      r.scope === 'universe' ? '' : r.scope || '',
      r.metric ? String(r.metric) : '',
    ];
  });
  return compactTable(['destination', 'via', 'dev', 'src', 'proto', 'scope', 'metric'], rows, {
    'data-testid': 'routes',
  });
}

function neighboursTable(ns) {
  const neighbours = ns.neighbours || [];
  if (!neighbours.length) return h('p', { class: 'muted', text: 'ARP table empty.' });
  return compactTable(
    ['IP', 'MAC', 'dev', 'state'],
    neighbours.map((n) => [n.ip, h('code', { text: n.mac || '—' }), n.dev, n.state]),
    { 'data-testid': 'neighbours' },
  );
}

function namespaceView(model, ns, { select, actions }) {
  const ifs = interfacesOf(model, ns.id);
  const title = ns.kind === 'pod' ? `pod ${ns.label}` : ns.label || ns.name;
  const parts = [
    h(
      'header',
      { class: 'details-head' },
      h('span', { class: `badge badge-${ns.kind}`, text: ns.kind }),
      h('h3', { text: title }),
    ),
    h(
      'dl',
      { class: 'kv' },
      row('namespace', h('code', { text: ns.name }), 'ns-name'),
      row('kind', KIND_NAMES[ns.kind] || ns.kind, 'ns-kind'),
      ns.node ? row('node', ns.node, 'ns-node') : null,
      ns.pod ? row('pod', ns.pod.name, 'ns-pod') : null,
      ns.pod
        ? row(
            'container ID',
            h('code', { class: 'wrap', title: ns.pod.container_id, text: ns.pod.container_id }),
            'ns-container-id',
          )
        : null,
      ns.pod && ns.pod.attachments
        ? row(
            'attachments',
            ns.pod.attachments.map((a) => `${a.ifname} on ${a.network}`).join(', '),
            'ns-attachments',
          )
        : null,
      row(
        'interfaces',
        h(
          'span',
          { class: 'chips' },
          ifs.map((i) => link(model, i.id, i.name, select)),
        ),
        'ns-interfaces',
      ),
    ),
  ];
  if (ns.error) parts.push(h('p', { class: 'error', text: `Could not read it: ${ns.error}` }));
  if (ns.kind === 'pod' && actions) parts.push(actions(ns));
  parts.push(h('h4', { text: 'Routes (main table)' }), routesTable(ns));
  parts.push(h('h4', { text: 'Neighbours (ARP)' }), neighboursTable(ns));
  return parts;
}

function interfaceView(model, iface, { select }) {
  const ns = namespaceOf(model, iface);
  const peer = iface.peer && model.interfaces.get(iface.peer);
  const peerNs = peer && namespaceOf(model, peer);
  const parts = [
    h(
      'header',
      { class: 'details-head' },
      h('span', { class: `badge badge-if`, text: iface.kind }),
      h('h3', { text: iface.name }),
    ),
    h(
      'dl',
      { class: 'kv' },
      row('in', link(model, ns && ns.id, `${describeNamespace(ns)} (${iface.ns})`, select), 'if-ns'),
      row('kind', iface.kind, 'if-kind'),
      row('MAC', h('code', { text: iface.mac || '—' }), 'if-mac'),
      row('MTU', String(iface.mtu ?? ''), 'if-mtu'),
      row('state', `${iface.operstate}${iface.up ? '' : ' (admin down)'}`, 'if-state'),
      row(
        'addresses',
        (iface.addresses || []).length
          ? h('span', { class: 'chips' }, iface.addresses.map((a) => h('code', { text: a })))
          : h('span', { class: 'muted', text: 'none' }),
        'if-addresses',
      ),
      iface.master
        ? row('master', link(model, iface.master, ifaceName(model, iface.master), select), 'if-master')
        : null,
      iface.kind === 'veth' || iface.peer
        ? row(
            'peer',
            peer
              ? h(
                  'span',
                  {},
                  link(model, peer.id, peer.name, select),
                  ' in ',
                  link(model, peerNs && peerNs.id, `${describeNamespace(peerNs)} (${peer.ns})`, select),
                )
              : h('span', { class: 'muted', text: 'not found (outside the lab?)' }),
            'if-peer',
          )
        : null,
      iface.network ? row('CNI network', iface.network, 'if-network') : null,
      iface.alias ? row('alias', h('code', { class: 'wrap', text: iface.alias }), 'if-alias') : null,
    ),
  ];
  if (iface.kind === 'bridge') {
    const ports = [...model.interfaces.values()].filter((i) => i.master === iface.id);
    parts.push(
      h('h4', { text: `Ports (${ports.length})` }),
      ports.length
        ? h('p', { class: 'chips' }, ports.map((p) => link(model, p.id, p.name, select)))
        : h('p', { class: 'muted', text: 'No port yet.' }),
      h('h4', { text: 'Forwarding database (FDB)' }),
    );
    const fdb = iface.fdb || [];
    parts.push(
      fdb.length
        ? compactTable(
            ['MAC', 'port', 'vlan', 'state'],
            fdb.map((e) => [
              h('code', { text: e.mac }),
              e.port ? link(model, e.port, ifaceName(model, e.port), select) : '',
              e.vlan ?? '',
              e.local ? `${e.state} (own)` : e.state,
            ]),
            { 'data-testid': 'fdb' },
          )
        : h('p', { class: 'muted', text: 'No entry.' }),
    );
  }
  return parts;
}

/** A lab node's box stands for the node's own netns. */
function resolve(model, id) {
  const name = nodeOfBox(id);
  if (name === null) return id;
  const ns = [...model.namespaces.values()].find((n) => n.kind === 'node' && n.node === name);
  return ns ? ns.id : id;
}

/** Changes when what the panel would show for `id` changes (to skip needless redraws). */
export function detailsKey(model, id) {
  if (!id) return '';
  id = resolve(model, id);
  const record = model.namespaces.get(id) || model.interfaces.get(id);
  if (!record) return `gone:${id}`;
  const around =
    record.type === 'namespace'
      ? interfacesOf(model, id).map((i) => i.id)
      : [...model.interfaces.values()].filter((i) => i.master === id).map((i) => i.id);
  return JSON.stringify([record, around]);
}

/** Render the details of `id` (a namespace or interface id) into `el`. */
export function renderDetails(el, model, id, options) {
  clear(el);
  if (!id) {
    el.append(
      h('p', {
        class: 'muted',
        text: 'Click a namespace or an interface to see its addresses, routes, neighbours and peer.',
      }),
    );
    return;
  }
  id = resolve(model, id);
  const ns = model.namespaces.get(id);
  const iface = model.interfaces.get(id);
  if (ns) el.append(...namespaceView(model, ns, options));
  else if (iface) el.append(...interfaceView(model, iface, options));
  else el.append(h('p', { class: 'muted', text: `${shortId(id, 60)} is gone.` }));
  el.dataset.showing = id;
}
