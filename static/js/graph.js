// The Cytoscape graph: snapshot -> elements, applied as a diff (add, update, move,
// remove by id), never rebuilt. What is drawn of many pods comes from scale.js (grid,
// groups), positions from layout.js; the viewport follows the lab until the user pans
// or zooms, and "Fit" makes it follow again. A filter (search.js) dims what does not
// match and draws its hits one by one; focus shows one pod and its way out; highlight()
// lights elements by id (slow motion's touched objects), again after each snapshot.

import cytoscape from '../node_modules/cytoscape/dist/cytoscape.esm.min.mjs';

import { nodeOfBox, nsId } from './ids.js';
import { Layout } from './layout.js';
import { compactView } from './scale.js';
import { mainAddress } from './snapshot.js';
import { graphStyle } from './style.js';

const MAX_FIT_ZOOM = 1.6;
const FIT_PADDING = 30;
const FRESH_MS = 1500;
const MANY = 400; // elements beyond which pan and zoom draw a texture, without edges
const EXPAND_HITS = 40; // a filter with at most this many pod hits draws each of them
export const HIGHLIGHT = 'highlight'; // highlight()'s default class (its style: style.js)

function namespaceLabel(ns) {
  switch (ns.kind) {
    case 'pod':
      return `pod ${ns.label}`;
    case 'node':
      return `netns ${ns.name}`;
    case 'underlay':
      return `underlay switch · ${ns.name}`;
    case 'internet':
      return `internet · ${ns.name}`;
    case 'group':
      return ns.label;
    default:
      return ns.name;
  }
}

/**
 * `loopback` marks the lo interfaces the "loopback" toggle hides: those with nothing but
 * 127/8, in a namespace that has other interfaces (a namespace with only lo keeps it, so
 * its box stays where the layout puts it).
 */
function interfaceData(iface, ns, wired, masq) {
  const address = mainAddress(iface);
  const name = masq ? `${iface.name} · masq` : iface.name;
  const quiet =
    iface.kind === 'loopback' &&
    wired.has(iface.ns) &&
    (iface.addresses || []).every((a) => a.startsWith('127.'));
  return {
    id: iface.id,
    type: 'interface',
    parent: ns.id,
    label: address ? `${name}\n${address}` : name,
    kind: iface.kind,
    nskind: ns.kind,
    masq: Boolean(masq),
    down: !(iface.up && iface.operstate !== 'DOWN' && iface.operstate !== 'LOWERLAYERDOWN'),
    loopback: quiet,
  };
}

/**
 * The interfaces a node's masquerade rules act on: its way out (towards the underlay
 * or the internet, or its default route's device), when it has any such rule.
 */
function masqueradeOut(model) {
  const out = new Set();
  for (const ns of model.namespaces.values()) {
    if (ns.kind !== 'node' || !(ns.masquerade || []).length) continue;
    const devs = new Set((ns.routes || []).filter((r) => r.dst === 'default').map((r) => r.dev));
    for (const iface of model.interfaces.values()) {
      if (iface.ns !== ns.name) continue;
      const peer = iface.peer && model.interfaces.get(iface.peer);
      const peerNs = peer && model.namespaces.get(nsId(peer.ns));
      const outwards = peerNs && (peerNs.kind === 'underlay' || peerNs.kind === 'internet');
      if (outwards || devs.has(iface.name)) out.add(iface.id);
    }
  }
  return out;
}

/** Desired elements: {nodes: [{data, position?}], edges: [{data}]} in add order. */
function elementsOf(model, placed) {
  const boxes = placed.boxes.map((id) => ({
    data: { id, type: 'labnode', label: nodeOfBox(id) },
  }));
  const namespaces = [...model.namespaces.values()].map((ns) => ({
    data: {
      id: ns.id,
      type: 'namespace',
      parent: placed.parents.get(ns.id) ?? undefined,
      kind: ns.kind,
      label: namespaceLabel(ns),
      error: ns.error || '',
      count: ns.count || 0,
    },
    position: placed.positions.get(ns.id),
  }));
  const wired = new Set(
    [...model.interfaces.values()].filter((i) => i.kind !== 'loopback').map((i) => i.ns),
  );
  const masq = masqueradeOut(model);
  const interfaces = [...model.interfaces.values()]
    .filter((i) => model.namespaces.has(nsId(i.ns)))
    .map((i) => ({
      data: interfaceData(i, model.namespaces.get(nsId(i.ns)), wired, masq.has(i.id)),
      position: placed.positions.get(i.id),
    }));
  const edges = model.edges.map((e) => ({ data: { ...e } }));
  return { nodes: [...boxes, ...namespaces, ...interfaces], edges };
}

const signature = (data) => JSON.stringify(data, Object.keys(data).sort());

export class Graph {
  /**
   * insets(): {top, bottom} pixels of the pane that overlays cover (the legend, a
   * caption); a fit keeps the lab out of them.
   */
  constructor(container, { onSelect, insets } = {}) {
    this.insets = insets || (() => ({ top: 0, bottom: 0 }));
    this.layout = new Layout();
    this.present = false;
    this.showLoopback = false;
    this.showGateways = false;
    this.filter = null; // (namespace) -> bool, from search.js
    this.focused = null; // a pod's namespace id
    this.model = null;
    this.view = null;
    this.highlights = new Map(); // class -> the ids highlight() was given
    this.follow = true;
    this.programmatic = 0;
    this.onSelect = onSelect || (() => {});
    this.cy = cytoscape({
      container,
      style: graphStyle(),
      layout: { name: 'preset' },
      autoungrabify: true,
      boxSelectionEnabled: false,
      selectionType: 'single',
      minZoom: 0.05,
      maxZoom: 4,
      wheelSensitivity: 0.4,
    });
    this.cy.on('tap', (event) => {
      if (event.target === this.cy) this.select(null);
    });
    this.cy.on('tap', 'node', (event) => this.select(event.target.id()));
    this.cy.on('viewport', () => {
      if (!this.programmatic) this.follow = false;
    });
    // the pane changes size with the window and with the docks around it (trace, details)
    const resized = () => (this.follow ? this.refit() : this.cy.resize());
    if (window.ResizeObserver) new ResizeObserver(resized).observe(container);
    else window.addEventListener('resize', resized);
  }

  /** Apply one snapshot (from parseSnapshot) as a diff. */
  apply(model) {
    this.model = model;
    const first = this.cy.elements().empty();
    const hits = this.filter ? this.hits(model) : new Set();
    const expanded = hits.size <= EXPAND_HITS ? new Set(hits) : new Set();
    if (this.focused) expanded.add(this.focused);
    const view = compactView(model, { expanded });
    this.view = view;
    const placed = this.layout.place(view);
    const want = elementsOf(view, placed);
    const wantIds = new Set([...want.nodes, ...want.edges].map((e) => e.data.id));
    const added = [];
    let removed = 0;
    let moved = false;
    const cy = this.cy;
    cy.batch(() => {
      for (const el of want.nodes) {
        const id = el.data.id;
        let cur = cy.getElementById(id);
        const sig = signature(el.data);
        if (cur.empty()) {
          const node = { group: 'nodes', data: { ...el.data, sig } };
          if (el.position) node.position = { ...el.position };
          cur = cy.add(node);
          added.push(id);
        } else {
          const parent = el.data.parent ?? null;
          if ((cur.data('parent') ?? null) !== parent) {
            cur.move({ parent });
            cur = cy.getElementById(id);
          }
          if (cur.data('sig') !== sig) {
            const { id: _id, parent: _parent, ...rest } = el.data;
            cur.data({ ...rest, sig });
          }
          const p = cur.position();
          if (el.position && cur.isChildless() && (p.x !== el.position.x || p.y !== el.position.y)) {
            cur.position({ ...el.position });
            moved = true;
          }
        }
        const quiet = Boolean(el.data.loopback) && !this.showLoopback;
        if (cur.hasClass('quiet') !== quiet) cur.toggleClass('quiet', quiet);
      }
      for (const el of want.edges) {
        const cur = cy.getElementById(el.data.id);
        const sig = signature(el.data);
        if (cur.empty()) {
          cy.add({ group: 'edges', data: { ...el.data, sig } });
          added.push(el.data.id);
        } else if (cur.data('sig') !== sig) {
          const { id: _id, source: _s, target: _t, ...rest } = el.data;
          cur.data({ ...rest, sig });
        }
      }
      const gone = cy.edges().filter((e) => !wantIds.has(e.id()));
      removed += gone.length;
      gone.remove();
      for (const type of ['interface', 'namespace', 'labnode']) {
        const left = cy.nodes(`[type = "${type}"]`).filter((n) => !wantIds.has(n.id()));
        removed += left.length;
        left.remove();
      }
    });
    const many = cy.elements().length > MANY;
    cy.renderer().hideEdgesOnViewport = many;
    cy.renderer().textureOnViewport = many;
    if (!first) this.flash(added);
    this.refreshRelated();
    this.refreshClasses(hits);
    for (const className of this.highlights.keys()) this.refreshHighlight(className);
    if (first || (this.follow && (added.length || removed || moved))) this.refit();
    return { added, removed };
  }

  /** Pod and other namespace ids the filter keeps. */
  hits(model) {
    const out = new Set();
    for (const ns of model.namespaces.values()) if (this.filter(ns, model)) out.add(ns.id);
    return out;
  }

  /** What the filter dims, focus hides, and the gateways toggle shows. */
  refreshClasses(hits) {
    const cy = this.cy;
    cy.batch(() => {
      cy.elements('.dim').removeClass('dim');
      cy.elements('.hit').removeClass('hit');
      cy.edges('[kind = "default-route"]').toggleClass('shown', this.showGateways);
      if (this.focused) {
        const keep = this.pathOf(this.focused);
        cy.elements().not(keep).addClass('dim');
        keep.filter('[kind = "default-route"]').addClass('shown');
        return;
      }
      if (!this.filter) return;
      const groups = this.view ? this.view.groups : new Map();
      const lit = (id) => hits.has(id) || (groups.get(id) || []).some((m) => hits.has(m));
      for (const ns of cy.nodes('[type = "namespace"]')) {
        const on = lit(ns.id());
        ns.toggleClass(on ? 'hit' : 'dim', true);
        if (!on) ns.children().addClass('dim');
      }
      cy.edges().filter((e) => e.source().hasClass('dim') || e.target().hasClass('dim')).addClass('dim');
    });
  }

  /**
   * One pod and its way out: its interfaces, its host veth and bridge, its node's
   * netns with its routes and uplinks, the underlay, and the ends of those routes.
   */
  pathOf(podId) {
    const cy = this.cy;
    const pod = cy.getElementById(podId);
    if (pod.empty()) return cy.collection();
    let keep = pod.union(pod.children());
    const box = pod.parent();
    keep = keep.union(keep.connectedEdges()).union(keep.connectedEdges().connectedNodes());
    const node = box.children('[type = "namespace"][kind = "node"]');
    keep = keep.union(node).union(node.children('[kind = "bridge"], [?masq]'));
    const routes = node.connectedEdges('[kind = "route"]');
    keep = keep.union(routes).union(routes.targets());
    const uplinks = node.children('[?masq]').union(routes.targets());
    const cables = uplinks.connectedEdges('[kind = "veth"]');
    keep = keep.union(cables).union(cables.connectedNodes());
    keep = keep.union(keep.parents());
    return keep;
  }

  /** Keep only what `predicate(namespace, model)` matches (null: everything). */
  setFilter(predicate) {
    this.filter = predicate;
    if (this.model) this.apply(this.model);
  }

  /** Show one pod and its way out, zoomed to it; null leaves focus. */
  focus(podId) {
    this.focused = podId;
    if (this.model) this.apply(this.model);
    if (podId) {
      this.select(podId);
      this.fitTo(this.pathOf(podId));
    } else {
      this.fitAndFollow();
    }
  }

  setGateways(show) {
    this.showGateways = show;
    this.cy.edges('[kind = "default-route"]').toggleClass('shown', show);
  }

  /** Zoom to some elements (a search hit, a focused pod), leaving "follow". */
  fitTo(elements) {
    if (!elements || elements.empty()) return;
    this.follow = false;
    this.programmatic += 1;
    try {
      this.cy.fit(elements, FIT_PADDING * 2);
      if (this.cy.zoom() > MAX_FIT_ZOOM) {
        this.cy.zoom(MAX_FIT_ZOOM);
        this.cy.center(elements);
      }
    } finally {
      this.programmatic -= 1;
    }
  }

  /**
   * Light up nodes and edges by id with `className` (each class has its own style);
   * `highlight([])` clears it. An id not drawn yet lights up when a snapshot brings it
   * (a veth shows a moment after the step that made it); an element folded at scale
   * (a pod in a group, a host veth) lights what is drawn for it.
   */
  highlight(ids, className = HIGHLIGHT) {
    if (ids && ids.length) this.highlights.set(className, [...ids]);
    else this.highlights.delete(className);
    this.refreshHighlight(className);
  }

  refreshHighlight(className) {
    const cy = this.cy;
    const hidden = this.view ? this.view.hidden : new Map();
    cy.batch(() => {
      cy.elements(`.${className}`).removeClass(className);
      for (const id of this.highlights.get(className) || []) {
        let el = cy.getElementById(id);
        if (el.empty() && hidden.has(id)) el = cy.getElementById(hidden.get(id));
        el.addClass(className);
      }
    });
  }

  flash(ids) {
    const fresh = this.cy.collection(ids.map((id) => this.cy.getElementById(id)));
    fresh.addClass('fresh');
    setTimeout(() => fresh.removeClass('fresh'), FRESH_MS);
  }

  select(id) {
    this.cy.elements().unselect();
    if (id) this.cy.getElementById(id).select();
    this.selected = id;
    this.refreshRelated();
    this.onSelect(id);
  }

  /** Highlight what the selection is wired to: its peer, its bridge and their edges. */
  refreshRelated() {
    this.cy.elements('.related').removeClass('related');
    const node = this.selected ? this.cy.getElementById(this.selected) : null;
    if (!node || node.empty() || node.data('type') !== 'interface') return;
    const edges = node.connectedEdges();
    edges.addClass('related');
    edges.connectedNodes().not(node).addClass('related');
  }

  setLoopback(show) {
    this.showLoopback = show;
    this.cy.nodes('[?loopback]').toggleClass('quiet', !show);
    if (this.follow) this.refit();
  }

  setPresentation(on) {
    this.present = on;
    this.cy.style(graphStyle({ present: on }));
    this.follow = true;
    // the container changes size with the panels: fit once it has
    requestAnimationFrame(() => this.refit());
  }

  refit() {
    this.programmatic += 1;
    try {
      this.cy.resize();
      const cy = this.cy;
      const visible = cy.elements(':visible');
      if (visible.nonempty()) {
        const { top = 0, bottom = 0 } = this.insets();
        const bb = visible.boundingBox();
        const w = Math.max(cy.width() - 2 * FIT_PADDING, 1);
        const h = Math.max(cy.height() - 2 * FIT_PADDING - top - bottom, 1);
        const fits = Math.min(w / Math.max(bb.w, 1), h / Math.max(bb.h, 1));
        const zoom = Math.max(cy.minZoom(), Math.min(fits, MAX_FIT_ZOOM, cy.maxZoom()));
        cy.viewport({
          zoom,
          pan: {
            x: (cy.width() - zoom * (bb.x1 + bb.x2)) / 2,
            y: top + FIT_PADDING + (h - zoom * bb.h) / 2 - zoom * bb.y1,
          },
        });
      }
    } finally {
      this.programmatic -= 1;
    }
  }

  fitAndFollow() {
    this.follow = true;
    this.refit();
  }

  png() {
    return this.cy.png({ full: true, scale: 2, bg: '#ffffff', output: 'blob' });
  }
}
