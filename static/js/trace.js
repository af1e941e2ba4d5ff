// The packet tracer on the main page: a small form (from a pod, to a pod, a node, the
// internet or an address; ICMP, TCP or UDP), the hop table of the result (the request
// leg, then the reply leg), the reason when no reply came, and the packet animated over
// the graph hop by hop, the table following it. Tracing is an action: the template
// leaves the whole dock out in read-only mode.

import { runTrace } from './api.js';
import { clear, h } from './dom.js';
import { nsId } from './ids.js';
import { PacketAnimator, interfaceId } from './packet.js';
import { describeNamespace, natural } from './snapshot.js';

const IP_CHOICE = '__ip__';
const DEFAULT_PORTS = { tcp: 80, udp: 53 };
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LEG_TITLES = { request: 'Request', reply: 'Reply' };
const HEADERS = ['#', 'node', 'namespace', 'interface', '', 'ms', 'src → dst IP', 'TTL', 'MACs src → dst', 'what happened'];

function podsOf(model) {
  return [...model.namespaces.values()]
    .filter((ns) => ns.kind === 'pod')
    .map((ns) => ({ name: (ns.pod && ns.pod.name) || ns.label || ns.name, node: ns.node || '' }))
    .sort((a, b) => natural(a.name, b.name));
}

function option(value, text, selected) {
  return h('option', { value, text, selected: selected || undefined });
}

function sameOptions(select, values) {
  const current = [...select.querySelectorAll('option')].map((o) => o.value);
  return current.join('\n') === values.join('\n');
}

export class TracePanel {
  /** caption: an element over the graph for the current hop; pick(id): a row was clicked. */
  constructor(root, graph, { caption, pick } = {}) {
    this.root = root;
    this.form = root && root.querySelector('#trace-form');
    this.enabled = Boolean(this.form);
    this.caption = caption || null;
    this.pick = pick || (() => {});
    this.result = null;
    this.model = null;
    this.rows = [];
    this.current = -1;
    this.animator = new PacketAnimator(graph, { onStep: (i) => this.highlight(i) });
    if (!this.enabled) return;
    const $ = (sel) => root.querySelector(sel);
    this.src = $('#trace-src');
    this.dst = $('#trace-dst');
    this.ip = $('#trace-ip');
    this.proto = $('#trace-proto');
    this.port = $('#trace-port');
    this.fast = $('#trace-fast');
    this.runBtn = $('#trace-run');
    this.busyEl = $('#trace-busy');
    this.out = $('#trace-result');
    this.srcChosen = false;
    this.dstChosen = false;

    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.run();
    });
    this.src.addEventListener('change', () => {
      this.srcChosen = true;
    });
    this.dst.addEventListener('change', () => {
      this.dstChosen = true;
      this.syncInputs();
      if (this.dst.value === IP_CHOICE) this.ip.focus();
    });
    this.proto.addEventListener('change', () => {
      if (this.proto.value !== 'icmp' && !this.port.value) {
        this.port.value = String(DEFAULT_PORTS[this.proto.value]);
      }
      this.syncInputs();
    });
    this.fast.addEventListener('change', () => {
      this.animator.fast = this.fast.checked;
    });
    this.syncInputs();
  }

  /** What the tests (and a curious user) can read: window.cnilab.trace.state */
  get state() {
    return { ...this.animator.state, current: this.current, result: this.result };
  }

  syncInputs() {
    this.ip.hidden = this.dst.value !== IP_CHOICE;
    this.ip.required = !this.ip.hidden;
    this.port.disabled = this.proto.value === 'icmp';
  }

  /** Keep the choices in step with the lab. */
  setModel(model) {
    this.model = model;
    if (!this.enabled) return;
    const pods = podsOf(model);
    const srcValues = pods.map((p) => p.name);
    if (!sameOptions(this.src, srcValues)) {
      const chosen = this.src.value;
      this.src.replaceChildren(...pods.map((p) => option(p.name, p.node ? `${p.name} (${p.node})` : p.name)));
      if (srcValues.includes(chosen) && this.srcChosen) this.src.value = chosen;
      else {
        // a pod on the first node: the natural start of a walk across the lab
        const first = pods.find((p) => p.node === model.nodes[0]) || pods[0];
        if (first) this.src.value = first.name;
      }
    }
    const dstValues = [...srcValues, ...model.nodes, 'internet', IP_CHOICE];
    if (!sameOptions(this.dst, dstValues)) {
      const chosen = this.dst.value;
      this.dst.replaceChildren(
        pods.length
          ? h('optgroup', { label: 'pods' }, pods.map((p) => option(p.name, p.node ? `${p.name} (${p.node})` : p.name)))
          : null,
        model.nodes.length ? h('optgroup', { label: 'nodes' }, model.nodes.map((n) => option(n, n))) : null,
        h('optgroup', { label: 'elsewhere' }, option('internet', 'internet'), option(IP_CHOICE, 'IPv4 address…')),
      );
      if (dstValues.includes(chosen) && this.dstChosen) this.dst.value = chosen;
      else this.dst.value = this.defaultDst(pods);
    }
    const none = pods.length === 0;
    this.src.disabled = none;
    this.runBtn.disabled = none || this.busy;
    this.runBtn.title = none ? 'Create a pod first: a trace starts in a pod' : '';
    this.syncInputs();
  }

  /** A pod on another node than the source, else another pod, else the internet. */
  defaultDst(pods) {
    const src = pods.find((p) => p.name === this.src.value);
    const others = pods.filter((p) => p.name !== this.src.value);
    const far = others.find((p) => src && p.node && p.node !== src.node);
    return (far || others[0] || { name: 'internet' }).name;
  }

  probe() {
    const proto = this.proto.value;
    const dst = this.dst.value === IP_CHOICE ? this.ip.value.trim() : this.dst.value;
    const body = { src: this.src.value, dst, proto };
    if (proto !== 'icmp') body.port = Number(this.port.value) || DEFAULT_PORTS[proto];
    return body;
  }

  setBusy(message) {
    this.busy = Boolean(message);
    this.busyEl.textContent = message || '';
    this.busyEl.hidden = !message;
    this.runBtn.disabled = this.busy || this.src.disabled;
  }

  async run() {
    const probe = this.probe();
    if (this.dst.value === IP_CHOICE && !IPV4.test(probe.dst)) {
      this.showError(`"${probe.dst}" is not an IPv4 address`);
      return;
    }
    this.setBusy(`tracing ${probe.src} → ${probe.dst}…`);
    try {
      const result = await runTrace(probe);
      this.show(result);
      this.play();
    } catch (e) {
      this.showError(`Could not trace ${probe.src} → ${probe.dst}: ${e.message}`);
    } finally {
      this.setBusy('');
    }
  }

  play() {
    if (!this.result || !this.result.hops.length) return;
    this.root.dataset.playing = 'true';
    this.animator.play(0).then(() => {
      if (this.animator.running) return;
      delete this.root.dataset.playing;
      this.root.dataset.played = String(this.animator.visited.length);
      if (this.result && !this.result.replied) this.setCaption(`✗ no reply · ${this.result.why || 'no reason found'}`, 'bad');
    });
  }

  clear() {
    this.animator.clear();
    this.result = null;
    this.rows = [];
    this.current = -1;
    clear(this.out);
    this.out.hidden = true;
    this.root.classList.remove('has-result');
    delete this.root.dataset.current;
    delete this.root.dataset.played;
    this.setCaption('');
  }

  showError(message) {
    this.clear();
    this.out.hidden = false;
    this.out.append(h('p', { class: 'error', role: 'alert', 'data-testid': 'trace-error', text: message }));
  }

  // -- the result -----------------------------------------------------------------------

  where(hop) {
    if (hop.node) return hop.node;
    const ns = this.model && this.model.namespaces.get(nsId(hop.netns));
    if (ns && ns.kind !== 'other') return ns.kind === 'pod' ? describeNamespace(ns) : ns.kind;
    return '—';
  }

  /** The namespace in a sentence: "pod db", "node2", "underlay". */
  place(hop) {
    const ns = this.model && this.model.namespaces.get(nsId(hop.netns));
    if (ns && ns.kind === 'pod') return describeNamespace(ns);
    return this.where(hop);
  }

  show(result) {
    this.clear();
    this.result = result;
    this.animator.load(result.hops);
    this.root.classList.add('has-result');
    this.out.hidden = false;
    const proto = result.proto === 'icmp' ? 'ICMP echo' : `${result.proto.toUpperCase()} port ${result.port}`;
    const summary = h(
      'div',
      { class: 'trace-summary', 'data-testid': 'trace-summary' },
      h('strong', { class: 'trace-route', text: `${result.src} → ${result.dst}` }),
      result.dst !== result.dst_ip ? h('code', { text: result.dst_ip }) : null,
      h('span', { text: proto }),
      h('span', {
        class: `pill ${result.replied ? 'pill-live' : 'pill-bad'}`,
        'data-testid': 'trace-outcome',
        text: result.replied ? 'reply received' : 'no reply',
      }),
      h('span', { class: 'muted', text: `${result.hops.length} hops · traced in ${Math.round(result.ms)} ms` }),
      h(
        'span',
        { class: 'trace-tools' },
        result.hops.length
          ? h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'trace-replay', text: 'Replay', onclick: () => this.play() })
          : null,
        h('button', { type: 'button', class: 'btn btn-ghost btn-small', 'data-testid': 'trace-clear', text: 'Clear', onclick: () => this.clear() }),
      ),
    );
    const why = result.replied
      ? null
      : h(
          'p',
          { class: 'trace-why', role: 'alert', 'data-testid': 'trace-why' },
          h('strong', { text: 'Why no reply: ' }),
          result.why || 'the tracer could not tell where the packet was dropped.',
        );
    const table = this.table(result.hops);
    this.out.append(summary, why || '', h('div', { class: 'hop-scroll' }, table));
  }

  table(hops) {
    this.rows = [];
    const bodies = [];
    let body = null;
    let leg = null;
    const prevOfLeg = {};
    hops.forEach((hop, i) => {
      if (hop.leg !== leg) {
        leg = hop.leg;
        body = h(
          'tbody',
          { class: `leg leg-${leg}`, 'data-leg': leg },
          h(
            'tr',
            { class: 'leg-head' },
            h(
              'th',
              { colspan: HEADERS.length },
              h('span', { class: `leg-badge leg-badge-${leg}`, text: LEG_TITLES[leg] || leg }),
              h('span', { text: ` ${hop.src_ip} → ${hop.dst_ip} · ${hop.summary}` }),
            ),
          ),
        );
        bodies.push(body);
      }
      const prev = prevOfLeg[leg];
      prevOfLeg[leg] = hop;
      const changed = (cond) => (prev && cond ? 'changed' : undefined);
      const row = h(
        'tr',
        {
          class: `hop hop-${hop.leg}`,
          'data-testid': 'hop-row',
          'data-index': i,
          'data-leg': hop.leg,
          'data-if': interfaceId(hop),
          title: 'Show this hop on the graph',
          tabindex: 0,
          onclick: () => this.pickHop(i),
          onkeydown: (event) => {
            if (event.key !== 'Enter' && event.key !== ' ') return;
            event.preventDefault();
            this.pickHop(i);
          },
        },
        h('td', { class: 'num', text: String(i + 1) }),
        h('td', { class: 'sans', text: this.where(hop) }),
        h('td', { text: hop.netns }),
        h('td', { class: 'ifname', text: hop.ifname }),
        h('td', {}, h('span', { class: `dir dir-${hop.direction}`, text: hop.direction })),
        h('td', { class: 'num', text: Number(hop.ms).toFixed(3) }),
        h(
          'td',
          { class: changed(prev && (prev.src_ip !== hop.src_ip || prev.dst_ip !== hop.dst_ip)), 'data-col': 'ips' },
          `${hop.src_ip} → ${hop.dst_ip}`,
        ),
        h(
          'td',
          { class: 'num', 'data-col': 'ttl' },
          h('span', { class: `ttl ${changed(prev && prev.ttl !== hop.ttl) || ''}`.trim(), text: String(hop.ttl) }),
        ),
        h(
          'td',
          { class: `macs ${changed(prev && (prev.src_mac !== hop.src_mac || prev.dst_mac !== hop.dst_mac)) || ''}`.trim() },
          h('span', { text: hop.src_mac }),
          h('span', { text: `→ ${hop.dst_mac}` }),
        ),
        h('td', { class: 'action sans', text: hop.action || hop.summary }),
      );
      this.rows.push(row);
      body.append(row);
    });
    return h(
      'table',
      { class: 'hops', 'data-testid': 'trace-hops' },
      h('thead', {}, h('tr', {}, HEADERS.map((t) => h('th', { text: t })))),
      ...bodies,
    );
  }

  /** A row was clicked: the packet on that hop, its interface in the details. */
  pickHop(i) {
    this.animator.show(i);
    this.pick(interfaceId(this.result.hops[i]));
  }

  /** The row of hop i becomes the current one (the animation, or a click). */
  highlight(i) {
    const hop = this.result && this.result.hops[i];
    if (!hop) return;
    const old = this.rows[this.current];
    if (old) {
      old.classList.remove('current');
      old.removeAttribute('aria-current');
    }
    const row = this.rows[i];
    this.current = i;
    this.root.dataset.current = String(i);
    if (row) {
      row.classList.add('current');
      row.setAttribute('aria-current', 'step');
      row.scrollIntoView({ block: 'nearest' });
    }
    this.setCaption(
      `${i + 1}/${this.result.hops.length} · ${this.place(hop)} ${hop.ifname} ${hop.direction} · TTL ${hop.ttl} · ${hop.action || hop.summary}`,
      hop.leg,
    );
  }

  setCaption(text, tone = '') {
    if (!this.caption) return;
    this.caption.textContent = text;
    this.caption.dataset.tone = tone;
    this.caption.hidden = !text;
  }
}
