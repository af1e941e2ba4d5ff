// The CNI call transcript: every call the runtime made, latest first, each one
// expandable to the exact env, stdin, stdout and stderr, and to what it changed in the
// kernel (links, addresses, routes, neighbours, FDB entries, nft rules: the "kernel"
// topic, lab/live/call_changes.py). Records are merged by identity, so entries already
// shown (and opened) stay as they are.

import { h, prettyJSON, shortId, table } from './dom.js';

const MAX_SHOWN = 200;

const keyOf = (r) =>
  [r.time, r.node, r.network, r.plugin, r.command, r.container_id, r.ifname].join('|');

function clock(seconds) {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleTimeString([], { hour12: false });
}

/** The error message of a failed call, from the spec's error JSON on stdout. */
function errorOf(r) {
  if (r.exit === 0) return '';
  try {
    const e = JSON.parse(r.stdout);
    return [e.msg, e.details].filter(Boolean).join(': ') || `code ${e.code}`;
  } catch {
    return (r.stderr || r.stdout || '').trim().split('\n').pop() || '';
  }
}

function block(title, text, testid) {
  if (!text) return null;
  return h(
    'div',
    { class: 'call-block' },
    h('h5', { text: title }),
    h('pre', { class: 'code', 'data-testid': testid, text }),
  );
}

const SIGN = { created: '+', removed: '−', changed: '~' };

/** The call's kernel diff: one line per object, or why there is none. */
function kernelBlock(diff) {
  if (!diff) return h('p', { class: 'muted small', text: 'Not watched: made while no page was following the lab.' });
  if (!diff.changes.length) return h('p', { class: 'muted small', text: 'Nothing changed in the kernel.' });
  return h(
    'div',
    {},
    diff.overlap ? h('p', { class: 'muted small', text: 'Other calls ran at the same time: their changes are in here too.' }) : null,
    h(
      'ul',
      { class: 'kernel-changes', 'data-testid': 'call-kernel-list' },
      diff.changes.map((c) =>
        h(
          'li',
          { class: `kc-${c.op}`, 'data-kind': c.kind, 'data-op': c.op },
          `${SIGN[c.op] || '~'} ${c.kind} ${c.what}`,
          c.detail ? ` (${c.detail})` : '',
          h('span', { class: 'kc-ns', text: ` · ${c.netns}` }),
        ),
      ),
    ),
  );
}

function kernelSummary(diff) {
  if (!diff) return 'Kernel changes';
  const n = (op) => diff.changes.filter((c) => c.op === op).length;
  return `Kernel changes: ${n('created')} created, ${n('changed')} changed, ${n('removed')} removed`;
}

function entry(r) {
  const failed = r.exit !== 0;
  const error = errorOf(r);
  const summary = h(
    'summary',
    { class: 'call-summary' },
    h(
      'span',
      { class: 'call-line' },
      h('span', { class: `cmd cmd-${String(r.command).toLowerCase()}`, text: r.command || '?' }),
      h('span', { class: 'call-plugin', text: r.plugin }),
      h('span', { class: 'call-where', text: `on ${r.node}` }),
      r.ifname ? h('code', { class: 'call-if', text: r.ifname }) : null,
      h('span', {
        class: failed ? 'exit exit-bad' : 'exit exit-ok',
        text: failed ? `exit ${r.exit}` : 'exit 0',
      }),
      h('span', { class: 'call-ms', text: `${Math.round(r.ms ?? 0)} ms` }),
    ),
    h(
      'span',
      { class: 'call-line call-meta' },
      h('span', { title: r.container_id, text: `container ${shortId(r.container_id, 10)}` }),
      r.network ? h('span', { text: `net ${r.network}` }) : null,
      h('span', { class: 'call-time', text: clock(r.time) }),
    ),
    error ? h('span', { class: 'call-error', text: error }) : null,
  );
  const env = Object.entries(r.env || {}).sort(([a], [b]) => a.localeCompare(b));
  const body = h(
    'div',
    { class: 'call-body' },
    h('h5', { text: 'Environment' }),
    table(
      ['variable', 'value'],
      env.map(([k, v]) => [h('code', { text: k }), h('code', { class: 'wrap', text: v })]),
      { 'data-testid': 'call-env' },
    ),
    block(`stdin (network configuration${r.network ? `: ${r.network}` : ''})`, prettyJSON(r.stdin), 'call-stdin'),
    block(failed ? 'stdout (error)' : 'stdout (result)', prettyJSON(r.stdout), 'call-stdout'),
    block('stderr', r.stderr, 'call-stderr'),
    h(
      'div',
      { class: 'call-block', 'data-testid': 'call-kernel' },
      h('h5', { text: kernelSummary(r.kernel) }),
      r.kernel === undefined ? h('p', { class: 'muted small', text: 'Waiting for the watcher…' }) : kernelBlock(r.kernel),
    ),
  );
  return h(
    'li',
    { class: failed ? 'call call-failed' : 'call', 'data-testid': 'call' },
    h('details', {}, summary, body),
  );
}

export class Transcript {
  constructor(list, empty) {
    this.list = list;
    this.empty = empty;
    this.shown = new Map(); // key -> {record, el}
    this.kernel = {}; // key -> the call's kernel diff, as the "kernel" topic has it
  }

  /** The "kernel" topic: {call key: {changes, overlap}} for the newest calls. */
  setKernel(diffs) {
    for (const [key, diff] of Object.entries(diffs || {})) {
      const had = this.kernel[key];
      this.kernel[key] = diff;
      const shown = this.shown.get(key);
      if (shown && JSON.stringify(had) !== JSON.stringify(diff)) this.fillKernel(shown.el, diff);
    }
  }

  fillKernel(el, diff) {
    const box = el.querySelector('[data-testid=call-kernel]');
    if (box) box.replaceChildren(h('h5', { text: kernelSummary(diff) }), kernelBlock(diff));
  }

  /** Merge records (any order); returns the newest one added, if any. */
  merge(records) {
    const fresh = (records || []).filter((r) => r && !this.shown.has(keyOf(r)));
    if (!fresh.length) return null;
    const initial = this.shown.size === 0;
    for (const r of fresh) {
      const known = this.kernel[keyOf(r)];
      const record = known ? { ...r, kernel: known } : r;
      if (record.kernel) this.kernel[keyOf(r)] = record.kernel;
      this.shown.set(keyOf(r), { record, el: entry(record) });
    }
    const ordered = [...this.shown.values()].sort((a, b) => b.record.time - a.record.time);
    for (const dropped of ordered.splice(MAX_SHOWN)) this.shown.delete(keyOf(dropped.record));
    this.list.replaceChildren(...ordered.map((x) => x.el));
    if (!initial) for (const r of fresh) this.shown.get(keyOf(r))?.el.classList.add('call-new');
    this.empty.hidden = this.shown.size > 0;
    return fresh.reduce((a, b) => (b.time > a.time ? b : a));
  }

  latest() {
    let best = null;
    for (const { record } of this.shown.values()) if (!best || record.time > best.time) best = record;
    return best;
  }

  static caption(r) {
    if (!r) return '';
    const what = `${r.command} ${r.plugin} on ${r.node}`;
    const target = r.ifname ? ` · ${shortId(r.container_id, 8)}/${r.ifname}` : '';
    const outcome = r.exit === 0 ? 'ok' : `exit ${r.exit}: ${errorOf(r)}`;
    return `${what}${target} · ${outcome} · ${Math.round(r.ms ?? 0)} ms`;
  }
}
