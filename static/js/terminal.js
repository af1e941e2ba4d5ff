// Terminals in tabs: xterm.js over a WebSocket to the terminal server `cnilab serve`
// started (its port from /api/terminal), a root shell in the node, pod or underlay the
// student picks, working in the step's folder. Closing a tab closes its socket, and the
// server then ends the shell and all it started. The cap is the server's; the page
// disables "New" at it.

import { Terminal } from '../node_modules/@xterm/xterm/lib/xterm.mjs';
import { FitAddon } from '../node_modules/@xterm/addon-fit/lib/addon-fit.mjs';
import { getTerminalInfo, token } from './api.js';
import { h } from './dom.js';

const encoder = new TextEncoder();

/** The terminal server's address for one shell. */
export function terminalURL(location, info, query) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const params = new URLSearchParams(query).toString();
  return `${scheme}//${location.hostname}:${info.port}${info.path}?${params}`;
}

class Tab {
  constructor(dock, target, label, id) {
    this.dock = dock;
    this.id = id;
    this.target = target;
    this.ready = null;
    this.closed = false;
    this.pane = h('div', { class: 'term-pane', 'data-testid': 'terminal', 'data-target': target });
    this.button = h(
      'div',
      { class: 'term-tab', role: 'tab', 'data-testid': 'terminal-tab', 'data-target': target },
      h('button', { type: 'button', class: 'term-tab-name', text: label, onclick: () => dock.activate(this) }),
      h('button', {
        type: 'button',
        class: 'term-tab-close',
        'aria-label': `Close the terminal on ${label}`,
        'data-testid': 'terminal-close',
        text: '×',
        onclick: () => dock.close(this),
      }),
    );
    this.term = new Terminal({ fontSize: 13, cursorBlink: true, convertEol: false, scrollback: 5000 });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
  }

  open(url) {
    this.term.open(this.pane);
    this.fitNow();
    const { cols, rows } = this.term;
    this.ws = new WebSocket(`${url}&cols=${cols}&rows=${rows}`);
    this.ws.binaryType = 'arraybuffer';
    this.ws.onmessage = (event) => {
      if (typeof event.data !== 'string') {
        this.term.write(new Uint8Array(event.data));
        return;
      }
      const message = JSON.parse(event.data);
      if (message.type === 'ready') {
        this.ready = message;
        this.pane.dataset.ready = 'true';
        this.pane.dataset.pid = String(message.pid);
      }
    };
    this.ws.onclose = (event) => {
      this.closed = true;
      this.pane.dataset.closed = 'true';
      const why = event.reason || (this.ready ? 'the shell ended' : 'the terminal could not open');
      this.term.write(`\r\n\x1b[2m[${why}]\x1b[0m\r\n`);
    };
    this.term.onData((data) => this.send(encoder.encode(data)));
    this.term.onResize(({ cols: c, rows: r }) => {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'resize', cols: c, rows: r }));
    });
  }

  send(bytes) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  fitNow() {
    if (this.pane.offsetWidth > 0 && this.pane.offsetHeight > 0) this.fit.fit();
  }

  dispose() {
    if (this.ws) this.ws.close(1000, 'the tab was closed');
    this.term.dispose();
    this.pane.remove();
    this.button.remove();
  }
}

export class Terminals {
  constructor(dock, step) {
    this.dock = dock;
    this.step = step;
    this.tabs = [];
    this.active = null;
    this.info = null;
    this.count = 0;
    this.el = {
      tabs: dock.querySelector('.term-tabs'),
      panes: dock.querySelector('.term-panes'),
      target: dock.querySelector('[data-testid=terminal-target]'),
      add: dock.querySelector('[data-testid=terminal-new]'),
      note: dock.querySelector('.term-note'),
    };
    this.el.add.addEventListener('click', () => this.open(this.el.target.value));
    this.el.target.addEventListener('focus', () => this.refreshTargets());
    new ResizeObserver(() => this.active && this.active.fitNow()).observe(this.el.panes);
  }

  /** What the tests can read. */
  get state() {
    return this.tabs.map((t) => ({ target: t.target, ready: t.ready, closed: t.closed }));
  }

  async load() {
    try {
      this.info = await getTerminalInfo();
    } catch (e) {
      this.info = { enabled: false, reason: e.message };
    }
    if (!this.info.enabled) {
      this.dock.hidden = true;
      return false;
    }
    this.dock.hidden = false;
    this.showTargets(this.info.targets);
    this.update();
    return true;
  }

  showTargets(targets) {
    const chosen = this.el.target.value;
    this.el.target.replaceChildren(...targets.map((t) => h('option', { value: t.id, text: t.label })));
    if (targets.some((t) => t.id === chosen)) this.el.target.value = chosen;
  }

  async refreshTargets() {
    try {
      const info = await getTerminalInfo();
      if (info.enabled) this.showTargets(info.targets);
    } catch {
      // keep the list shown
    }
  }

  update() {
    const full = this.tabs.length >= this.info.max;
    this.el.add.disabled = full;
    this.el.note.textContent = full ? `at most ${this.info.max} terminals: close one` : '';
  }

  open(target = 'node:node1') {
    if (!this.info || !this.info.enabled || this.tabs.length >= this.info.max) return null;
    const known = (this.info.targets || []).find((t) => t.id === target);
    this.count += 1;
    const tab = new Tab(this, target, known ? known.label : target, this.count);
    this.tabs.push(tab);
    this.el.tabs.append(tab.button);
    this.el.panes.append(tab.pane);
    this.activate(tab);
    tab.open(terminalURL(window.location, this.info, { token: token(), target, step: String(this.step) }));
    this.update();
    return tab;
  }

  activate(tab) {
    for (const t of this.tabs) {
      t.pane.hidden = t !== tab;
      t.button.classList.toggle('active', t === tab);
      t.button.setAttribute('aria-selected', String(t === tab));
    }
    this.active = tab;
    tab.fitNow();
    tab.term.focus();
  }

  close(tab) {
    tab.dispose();
    this.tabs = this.tabs.filter((t) => t !== tab);
    if (this.active === tab) this.active = null;
    if (this.tabs.length) this.activate(this.tabs[this.tabs.length - 1]);
    this.update();
  }

  /** Type `command` into the active terminal (a new one on node1 if none is open). */
  async run(command) {
    let tab = this.active && !this.active.closed ? this.active : null;
    if (!tab) tab = this.open(this.el.target.value || 'node:node1');
    if (!tab) return false;
    await new Promise((resolve) => {
      const wait = () => (tab.ready || tab.closed ? resolve() : setTimeout(wait, 30));
      wait();
    });
    tab.send(encoder.encode(`${command.replace(/\n+$/, '')}\r`));
    tab.term.focus();
    return !tab.closed;
  }
}
