// The traced packet on the graph: a dot carrying its TTL that moves hop by hop over the
// interfaces the tracer saw it on (ids.js ifId, as lab/inspect/graph.py
// names them), leaving the path it took highlighted. The request leg and the reply leg
// have their own colour (style.js LEG_COLOURS).
//
// Between two hops the dot follows the wire when there is one: a veth's edge, a bridge
// port's edge, or through the bridge when both interfaces are ports of the same one
// (a switch forwarding from port to port). Inside a namespace (routing) it goes straight.

import { PACKET_ID, ifId } from './ids.js';

export const STEP_MS = 250;
export const FAST_MS = 90;
const MARKS = 'trace-seen trace-current trace-reply trace-path trace-path-reply';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const reducedMotion = () =>
  window.matchMedia && window.matchMedia('(prefers-reduced-motion: reduce)').matches;

export const interfaceId = (hop) => ifId(hop.netns, hop.ifname);

export class PacketAnimator {
  constructor(graph, { onStep } = {}) {
    this.graph = graph;
    this.cy = graph.cy;
    this.onStep = onStep || (() => {});
    this.hops = [];
    this.fast = false;
    this.running = false;
    this.index = -1;
    this.visited = [];
    this.run = 0; // bumped to cancel a running animation
  }

  get stepMs() {
    return this.fast ? FAST_MS : STEP_MS;
  }

  get state() {
    return {
      running: this.running,
      index: this.index,
      visited: [...this.visited],
      total: this.hops.length,
      fast: this.fast,
    };
  }

  /** A new trace: forget the previous one (marks and dot). */
  load(hops) {
    this.clear();
    this.hops = hops || [];
  }

  clear() {
    this.stop();
    this.cy.elements('.trace-seen, .trace-current, .trace-path').removeClass(MARKS);
    this.cy.getElementById(PACKET_ID).remove();
    this.hops = [];
    this.index = -1;
    this.visited = [];
  }

  stop() {
    this.run += 1;
    this.running = false;
    const dot = this.cy.getElementById(PACKET_ID);
    if (dot.nonempty()) dot.stop(true, true);
  }

  /** Play from hop `from` to the last one; resolves when done or stopped. */
  async play(from = 0) {
    this.stop();
    const run = this.run;
    this.running = true;
    if (from === 0) {
      this.cy.elements('.trace-seen, .trace-current, .trace-path').removeClass(MARKS);
      this.visited = [];
    }
    try {
      for (let i = from; i < this.hops.length; i += 1) {
        const step = this.stepMs;
        const started = performance.now();
        await this.moveTo(i, step * 0.6, run);
        if (run !== this.run) return;
        this.mark(i);
        this.visited.push(i);
        this.onStep(i, this.hops[i]);
        const left = step - (performance.now() - started);
        if (left > 0) await sleep(left);
        if (run !== this.run) return;
      }
    } finally {
      if (run === this.run) this.running = false;
    }
  }

  /** Jump to hop i (a click in the table): the path up to it, the dot on it. */
  show(i) {
    this.stop();
    if (i < 0 || i >= this.hops.length) return;
    this.cy.elements('.trace-seen, .trace-current, .trace-path').removeClass(MARKS);
    for (let k = 0; k <= i; k += 1) this.mark(k);
    this.place(i, this.anchor(i));
    this.onStep(i, this.hops[i]);
  }

  // -- drawing --------------------------------------------------------------------------

  node(i) {
    const hop = this.hops[i];
    if (!hop) return null;
    const node = this.cy.getElementById(interfaceId(hop));
    return node.nonempty() ? node : null;
  }

  mark(i) {
    const hop = this.hops[i];
    this.index = i;
    this.cy.nodes('.trace-current').removeClass('trace-current');
    const node = this.node(i);
    if (node) {
      node.removeClass('trace-reply').addClass('trace-seen trace-current');
      if (hop.leg === 'reply') node.addClass('trace-reply');
    }
    const prev = i > 0 ? this.node(i - 1) : null;
    if (prev && node && prev.id() !== node.id()) {
      const cls = hop.leg === 'reply' ? 'trace-path-reply' : '';
      for (const edge of this.wire(prev, node).edges) {
        if (cls && edge.hasClass('trace-path')) continue; // the request took it first
        edge.addClass(`trace-path ${cls}`.trim());
      }
    }
  }

  /**
   * How the packet gets from interface a to b: the edges to light up, and a point to pass
   * through (the bridge, when a and b are two of its ports).
   */
  wire(a, b) {
    const direct = a.edgesWith(b);
    if (direct.nonempty()) return { edges: direct, via: null };
    const portsOf = (n) => n.connectedEdges('[kind = "bridge-port"]');
    for (const ea of portsOf(a)) {
      const bridge = ea.target().id() === a.id() ? ea.source() : ea.target();
      const eb = portsOf(b).filter((e) => e.source().id() === bridge.id() || e.target().id() === bridge.id());
      if (eb.nonempty()) return { edges: ea.union(eb), via: bridge.position() };
    }
    return { edges: this.cy.collection(), via: null };
  }

  /**
   * Where the dot sits for hop i: on the edge of the interface's box, on the side the
   * packet comes from (in) or goes to (out), so it does not hide the interface's name.
   */
  anchor(i) {
    const node = this.node(i);
    if (!node) return null;
    const p = node.position();
    const hop = this.hops[i];
    const other = (dir) => {
      for (let k = i + dir; k >= 0 && k < this.hops.length; k += dir) {
        const n = this.node(k);
        if (n && n.id() !== node.id()) return n.position();
      }
      return null;
    };
    const q = hop.direction === 'in' ? other(-1) || other(1) : other(1) || other(-1);
    const hw = node.width() / 2;
    const hh = node.height() / 2;
    if (!q) return { x: p.x, y: p.y - hh };
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    if (!dx && !dy) return { x: p.x, y: p.y - hh };
    const t = Math.min(dx ? hw / Math.abs(dx) : Infinity, dy ? hh / Math.abs(dy) : Infinity);
    return { x: p.x + dx * t, y: p.y + dy * t };
  }

  dot() {
    let dot = this.cy.getElementById(PACKET_ID);
    if (dot.empty()) {
      dot = this.cy.add({
        group: 'nodes',
        data: { id: PACKET_ID, type: 'packet', label: '', leg: 'request' },
        selectable: false,
        grabbable: false,
      });
    }
    return dot;
  }

  place(i, at) {
    const hop = this.hops[i];
    const dot = this.dot();
    dot.data({ label: String(hop.ttl ?? ''), leg: hop.leg });
    if (at) dot.position({ ...at });
  }

  async moveTo(i, ms, run) {
    const target = this.anchor(i);
    const dot = this.cy.getElementById(PACKET_ID);
    if (!target || dot.empty() || ms <= 0 || reducedMotion()) {
      this.place(i, target);
      return;
    }
    const prev = i > 0 ? this.node(i - 1) : null;
    const node = this.node(i);
    const via = prev && node && prev.id() !== node.id() ? this.wire(prev, node).via : null;
    const legs = via ? [via, target] : [target];
    for (const position of legs) {
      if (run !== this.run) return;
      const duration = ms / legs.length;
      const animation = dot.animation({ position: { ...position } }, { duration, easing: 'ease-in-out-sine' });
      // a stopped animation may never complete: do not wait on it for ever
      await Promise.race([animation.play().promise('completed'), sleep(duration + 80)]);
    }
    if (run === this.run) this.place(i, target);
  }
}
