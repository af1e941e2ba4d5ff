// The Cytoscape graph: snapshot -> elements, applied as a diff (add, update, move,
// remove by id), never rebuilt. Positions come from layout.js; the viewport follows
// the lab until the user pans or zooms, and "Fit" makes it follow again.

import cytoscape from '../node_modules/cytoscape/dist/cytoscape.esm.min.mjs';

import { nodeOfBox, nsId } from './ids.js';
import { Layout } from './layout.js';
import { mainAddress } from './snapshot.js';
import { graphStyle } from './style.js';

const MAX_FIT_ZOOM = 1.6;
const FIT_PADDING = 30;
const FRESH_MS = 1500;

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
    default:
      return ns.name;
  }
}

/**
 * `loopback` marks the lo interfaces the "loopback" toggle hides: those with nothing but
 * 127/8, in a namespace that has other interfaces (a namespace with only lo keeps it, so
 * its box stays where the layout puts it).
 */
function interfaceData(iface, ns, wired) {
  const address = mainAddress(iface);
  const quiet =
    iface.kind === 'loopback' &&
    wired.has(iface.ns) &&
    (iface.addresses || []).every((a) => a.startsWith('127.'));
  return {
    id: iface.id,
    type: 'interface',
    parent: ns.id,
    label: address ? `${iface.name}\n${address}` : iface.name,
    kind: iface.kind,
    nskind: ns.kind,
    down: !(iface.up && iface.operstate !== 'DOWN' && iface.operstate !== 'LOWERLAYERDOWN'),
    loopback: quiet,
  };
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
    },
    position: placed.positions.get(ns.id),
  }));
  const wired = new Set(
    [...model.interfaces.values()].filter((i) => i.kind !== 'loopback').map((i) => i.ns),
  );
  const interfaces = [...model.interfaces.values()]
    .filter((i) => model.namespaces.has(nsId(i.ns)))
    .map((i) => ({
      data: interfaceData(i, model.namespaces.get(nsId(i.ns)), wired),
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
    const first = this.cy.elements().empty();
    const placed = this.layout.place(model);
    const want = elementsOf(model, placed);
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
    if (!first) this.flash(added);
    this.refreshRelated();
    if (first || (this.follow && (added.length || removed || moved))) this.refit();
    return { added, removed };
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
