// What every page with the lab's live graph wires the same way: the token, the graph,
// the details of what is selected, the lab followed live (the empty state, the connection
// pill), Fit and its keys, and window.cnilab for the browser tests. main.js and
// exercise.js add their own parts around it.

import { adoptToken } from './api.js';
import { detailsKey, renderDetails } from './details.js';
import { Graph } from './graph.js';
import { followLab, showConnection } from './live.js';
import { parseSnapshot } from './snapshot.js';

/** Once the document is parsed: adopt the token (before any part asks for it), then start. */
export function startPage(start) {
  const run = () => {
    adoptToken();
    start();
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run);
  else run();
}

export class LabPage {
  /**
   * actions(ns): the buttons the details of a namespace get (null: none).
   * dock: an element that holds the details and shows only while something is selected
   * (a fit keeps the lab clear of it); without one the details panel always shows.
   * insetBottom(graph): pixels at the bottom of the graph pane an overlay covers.
   */
  constructor({ actions = null, dock = null, insetBottom = () => 0 } = {}) {
    this.app = document.getElementById('app');
    this.readOnly = this.app.dataset.readOnly === 'true';
    this.actions = actions;
    this.dock = dock;
    this.detailsEl = document.getElementById('details');
    this.emptyEl = document.getElementById('empty');
    this.connEl = document.getElementById('conn');
    this.model = parseSnapshot(null);
    this.selected = null;
    this.shownKey = null;
    this.keys = new Map([['f', () => this.graph.fitAndFollow()]]);

    const legendEl = document.querySelector('.legend');
    const insetTop = () =>
      legendEl ? Math.max(legendEl.offsetTop + legendEl.offsetHeight - 24, 0) : 0;
    const dockInset = () => (!dock || dock.hidden ? 0 : Math.max(dock.offsetHeight - 20, 0));
    this.graph = new Graph(document.getElementById('cy'), {
      insets: () => ({ top: insetTop(), bottom: dockInset() + insetBottom(this.graph) }),
      onSelect: (id) => {
        this.selected = id;
        this.showDetails();
      },
    });

    document.getElementById('fit').addEventListener('click', () => this.graph.fitAndFollow());
    document.addEventListener('keydown', (event) => {
      const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName);
      if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
      const handler = this.keys.get(event.key);
      if (handler) handler(event);
    });
  }

  /** Keys of the page's own ({key: handler(event)}), besides "f" (fit). */
  addKeys(handlers) {
    for (const [key, handler] of Object.entries(handlers)) this.keys.set(key, handler);
  }

  /** Show the details of the selection; unless `force`, only when they changed. */
  showDetails(force = true) {
    if (this.dock) {
      const wasHidden = this.dock.hidden;
      this.dock.hidden = !this.selected;
      // keep the lab clear of the dock (a fit reserves its height), unless the user has moved
      if (wasHidden !== this.dock.hidden && this.graph.follow) {
        requestAnimationFrame(() => this.graph.refit());
      }
      if (!this.selected) return;
    }
    const key = detailsKey(this.model, this.selected);
    if (!force && key === this.shownKey) return;
    this.shownKey = key;
    renderDetails(this.detailsEl, this.model, this.selected, {
      select: (id) => this.graph.select(id),
      actions: this.actions,
    });
  }

  /**
   * Follow the lab: each new snapshot redraws the graph and the details, then goes to
   * topology(model) for the page's own parts; calls(records), if given, gets the journal.
   */
  follow({ topology = () => {}, calls } = {}) {
    return followLab({
      topology: (next) => {
        this.model = next;
        this.graph.apply(next);
        this.emptyEl.hidden = next.nodes.length > 0;
        topology(next);
        if (this.selected) {
          if (this.graph.cy.getElementById(this.selected).empty()) this.graph.select(null);
          else this.showDetails(false);
        }
        this.app.dataset.seq = String(next.seq);
      },
      calls,
      state: (state) => showConnection(this.connEl, state),
      error: (e) => {
        if (this.app.dataset.labUp !== 'true') this.emptyEl.hidden = false;
        else this.connEl.title = e.message;
      },
    });
  }

  /** window.cnilab: the graph and the current model, with the page's own parts. */
  expose(parts = {}) {
    const page = this;
    window.cnilab = {
      cy: this.graph.cy,
      graph: this.graph,
      get model() {
        return page.model;
      },
      ...parts,
    };
  }
}
