// Wires an exercise page: the step (course.js) beside the lab's live graph (labpage.js),
// with the details of what is clicked in a dock under it, and the terminals under the
// graph (terminal.js) that the lesson's Run buttons type into.

import { hasToken } from './api.js';
import { Course } from './course.js';
import { LabPage, startPage } from './labpage.js';
import { addRunButtons } from './runblocks.js';
import { Terminals } from './terminal.js';

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
  const page = new LabPage({ dock: document.getElementById('details-dock') });
  const { graph } = page;
  document.getElementById('details-close').addEventListener('click', () => graph.select(null));
  page.follow();

  splitter(document.getElementById('splitter'), document.getElementById('graph-pane'));

  const course = new Course(page.app, { graph });
  course.load();

  const dock = document.getElementById('terminals');
  let terminals = null;
  if (dock && hasToken()) {
    terminals = new Terminals(dock, course.number);
    terminals.load().then((on) => {
      if (on) addRunButtons(document.querySelector('[data-testid=lesson]'), (command) => terminals.run(command));
    });
  }

  page.addKeys({
    Escape: () => {
      if (page.selected) graph.select(null);
    },
  });

  page.expose({ course, terminals });
}

startPage(start);
