// Slow motion on the page: pycni's steps as the event stream's "demo" topic brings them
// (lab/live/demo.py). A panel over the graph names the step, says why, shows the `ip`/`nft`
// commands that would do the same and what it touched; the touched namespaces and
// interfaces are highlighted on the graph (again after each snapshot, since a veth
// appears on the graph a moment after its step). In manual mode, Next (or "n") lets the
// paused step go on.

import { demoNext } from './api-demo.js';
import { h } from './dom.js';

const HIDE_AFTER_MS = 8000;

function ensureStyles() {
  if (document.getElementById('demo-css')) return;
  const link = h('link', { id: 'demo-css', rel: 'stylesheet', href: '/static/css/demo.css' });
  document.head.append(link);
}

function objectText(o) {
  const what = {
    link: o.name,
    address: o.address,
    route: o.via ? `${o.dst} via ${o.via}` : o.dst,
    rule: `nft rule '${o.tag}'`,
    netns: '',
  }[o.kind];
  return `${o.kind} ${what || ''} (${o.netns})`.replace(/\s+/g, ' ');
}

export class DemoPanel {
  /** graph: the page's Graph; readOnly: no Next button (the stream is shown all the same). */
  constructor(pane, graph, { readOnly = false } = {}) {
    ensureStyles();
    this.graph = graph;
    this.readOnly = readOnly;
    this.state = null;
    this.ids = [];
    this.el = h('section', {
      class: 'demo-panel',
      'data-testid': 'demo-panel',
      'aria-label': 'Slow motion',
      'aria-live': 'polite',
      hidden: true,
    });
    pane.append(this.el);
  }

  /** A "demo" event: the whole state of one slow-motion run. */
  show(state) {
    if (!state || !Array.isArray(state.steps)) return;
    this.state = state;
    clearTimeout(this.hideTimer);
    this.render();
    this.highlight();
    if (state.done) this.hideTimer = setTimeout(() => this.hide(), HIDE_AFTER_MS);
  }

  hide() {
    this.el.hidden = true;
    this.ids = [];
    this.highlight();
  }

  /** Light up the current step's objects (the graph lights them again after each snapshot). */
  highlight() {
    this.graph.highlight(this.ids);
    document.getElementById('app').dataset.demoTouched = this.ids.join(' ');
  }

  async next() {
    if (!this.state?.waiting) return;
    try {
      await demoNext(this.state.session);
    } catch (e) {
      this.el.querySelector('.demo-state').textContent = `Next failed: ${e.message}`;
    }
  }

  render() {
    const s = this.state;
    const step = s.steps[s.steps.length - 1];
    this.ids = step && !s.done ? step.ids : [];
    const pos = s.count > 1 ? ` (${s.index}/${s.count})` : '';
    const head = h(
      'div',
      { class: 'demo-head' },
      h('span', { class: 'demo-title', text: `Slow motion · pod ${s.pod}${pos}` }),
      h('span', { class: 'demo-pos', text: `on ${s.node} · ${s.manual ? 'step by step' : `${s.delay} s/step`}` }),
      h('button', {
        type: 'button',
        class: 'demo-close',
        'aria-label': 'Hide',
        text: '×',
        onclick: () => this.hide(),
      }),
    );
    const body = step
      ? [
          h('p', { class: 'demo-step', 'data-testid': 'demo-step', text: `${step.n}. ${step.step}` }),
          h('p', { class: 'demo-says', 'data-testid': 'demo-says', text: step.says }),
          step.commands.length
            ? h('pre', { class: 'demo-cmds', 'data-testid': 'demo-commands', text: step.commands.map((c) => `$ ${c}`).join('\n') })
            : null,
          h('ul', { class: 'demo-touched', 'data-testid': 'demo-touched' }, step.touched.map((o) => h('li', { text: objectText(o) }))),
        ]
      : [h('p', { class: 'demo-says', text: 'waiting for the plugin’s first step…' })];
    const list = h(
      'ol',
      { class: 'demo-list', 'data-testid': 'demo-steps' },
      s.steps.map((x) => h('li', { class: x === step ? 'current' : '', text: x.step })),
    );
    let status = s.done ? (s.error ? `failed: ${s.error}` : 'done') : s.waiting ? 'paused' : 'running…';
    if (s.waiting && this.readOnly) status = 'paused: the presenter goes on';
    const actions = h(
      'div',
      { class: 'demo-actions' },
      s.waiting && !this.readOnly
        ? h('button', {
            type: 'button',
            class: 'btn btn-primary demo-next',
            'data-testid': 'demo-next',
            text: 'Next step (n)',
            onclick: () => this.next(),
          })
        : null,
      h('span', { class: `demo-state${s.error ? ' demo-error' : ''}`, 'data-testid': 'demo-state', text: status }),
    );
    this.el.replaceChildren(head, ...body.filter(Boolean), list, actions);
    this.el.hidden = false;
  }
}
