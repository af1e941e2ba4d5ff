// Wires an exercise page: the step (course.js) beside the lab's live graph, with the
// details of what is clicked in a dock under it.

import { adoptToken } from './api.js';
import { Course } from './course.js';
import { detailsKey, renderDetails } from './details.js';
import { Graph } from './graph.js';
import { followLab, showConnection } from './live.js';
import { parseSnapshot } from './snapshot.js';

const WIDTH_KEY = 'cnilab-course-graph-width';
const MIN_GRAPH = 300;
const MIN_LESSON = 420;

/** Drag (or arrow keys on) the bar between the step and the graph to share the width. */
function splitter(bar, pane) {
  const lesson = bar.previousElementSibling;
  const set = (px) => {
    const shared = lesson.offsetWidth + pane.offsetWidth;
    const width = Math.round(Math.max(MIN_GRAPH, Math.min(px, shared - MIN_LESSON)));
    pane.style.flexBasis = `${width}px`;
    localStorage.setItem(WIDTH_KEY, String(width));
  };
  const saved = Number(localStorage.getItem(WIDTH_KEY));
  if (saved) requestAnimationFrame(() => set(saved));
  bar.addEventListener('pointerdown', (event) => {
    event.preventDefault();
    bar.setPointerCapture(event.pointerId);
    bar.classList.add('dragging');
    const right = pane.getBoundingClientRect().right;
    const move = (e) => set(right - e.clientX);
    const up = () => {
      bar.classList.remove('dragging');
      bar.removeEventListener('pointermove', move);
      bar.removeEventListener('pointerup', up);
    };
    bar.addEventListener('pointermove', move);
    bar.addEventListener('pointerup', up);
  });
  bar.addEventListener('keydown', (event) => {
    const step = event.shiftKey ? 120 : 40;
    if (event.key === 'ArrowLeft') set(pane.offsetWidth + step);
    else if (event.key === 'ArrowRight') set(pane.offsetWidth - step);
    else return;
    event.preventDefault();
  });
  bar.addEventListener('dblclick', () => {
    pane.style.flexBasis = '';
    localStorage.removeItem(WIDTH_KEY);
  });
}

function start() {
  adoptToken();
  const app = document.getElementById('app');
  const emptyEl = document.getElementById('empty');
  const connEl = document.getElementById('conn');
  const legendEl = document.querySelector('.legend');
  const dock = document.getElementById('details-dock');
  const detailsEl = document.getElementById('details');
  let model = parseSnapshot(null);
  let selected = null;
  let shownKey = null;

  const showDetails = (force = true) => {
    const wasHidden = dock.hidden;
    dock.hidden = !selected;
    // keep the lab clear of the dock (a fit reserves its height), unless the user has moved
    if (wasHidden !== dock.hidden && graph.follow) requestAnimationFrame(() => graph.refit());
    if (!selected) return;
    const key = detailsKey(model, selected);
    if (!force && key === shownKey) return;
    shownKey = key;
    renderDetails(detailsEl, model, selected, { select: (id) => graph.select(id), actions: null });
  };

  const graph = new Graph(document.getElementById('cy'), {
    insets: () => ({
      top: legendEl ? Math.max(legendEl.offsetTop + legendEl.offsetHeight - 24, 0) : 0,
      bottom: dock.hidden ? 0 : Math.max(dock.offsetHeight - 20, 0),
    }),
    onSelect: (id) => {
      selected = id;
      showDetails();
    },
  });
  document.getElementById('details-close').addEventListener('click', () => graph.select(null));

  followLab({
    topology: (next) => {
      model = next;
      graph.apply(model);
      emptyEl.hidden = model.nodes.length > 0;
      if (selected) {
        if (graph.cy.getElementById(selected).empty()) graph.select(null);
        else showDetails(false);
      }
      app.dataset.seq = String(model.seq);
    },
    state: (state) => showConnection(connEl, state),
    error: (e) => {
      if (app.dataset.labUp !== 'true') emptyEl.hidden = false;
      else connEl.title = e.message;
    },
  });

  splitter(document.getElementById('splitter'), document.getElementById('graph-pane'));

  const course = new Course(app);
  course.load();

  document.getElementById('fit').addEventListener('click', () => graph.fitAndFollow());
  document.addEventListener('keydown', (event) => {
    const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === 'f') graph.fitAndFollow();
    else if (event.key === 'Escape' && selected) graph.select(null);
  });

  window.cnilab = {
    cy: graph.cy,
    graph,
    get model() {
      return model;
    },
    course,
  };
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
