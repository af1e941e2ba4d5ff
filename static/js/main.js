// Wires the page: token, graph, details, transcript, pod actions, tracer, live events.

import { adoptToken } from './api.js';
import { detailsKey, renderDetails } from './details.js';
import { Graph } from './graph.js';
import { followLab, showConnection } from './live.js';
import { PodActions } from './pods.js';
import { parseSnapshot } from './snapshot.js';
import { TracePanel } from './trace.js';
import { Transcript } from './transcript.js';

function start() {
  adoptToken();
  const app = document.getElementById('app');
  const readOnly = app.dataset.readOnly === 'true';
  const detailsEl = document.getElementById('details');
  const emptyEl = document.getElementById('empty');
  const connEl = document.getElementById('conn');
  const captionEl = document.getElementById('caption');

  const pods = new PodActions(app);
  const transcript = new Transcript(
    document.getElementById('calls'),
    document.getElementById('calls-empty'),
  );
  let model = parseSnapshot(null);
  let selected = null;

  let shownKey = null;
  const showDetails = (force = true) => {
    const key = detailsKey(model, selected);
    if (!force && key === shownKey) return;
    shownKey = key;
    renderDetails(detailsEl, model, selected, {
      select: (id) => graph.select(id),
      actions: readOnly ? null : (ns) => pods.deleteButton(ns),
    });
  };

  const legendEl = document.querySelector('.legend');
  const traceEl = document.getElementById('trace');
  const graph = new Graph(document.getElementById('cy'), {
    insets: () => ({
      top: legendEl ? Math.max(legendEl.offsetTop + legendEl.offsetHeight - 24, 0) : 0,
      // the packet's caption, while a trace is shown
      bottom: traceEl && traceEl.classList.contains('has-result') ? (graph.present ? 72 : 56) : 0,
    }),
    onSelect: (id) => {
      selected = id;
      showDetails();
    },
  });

  const trace = new TracePanel(document.getElementById('trace'), graph, {
    caption: document.getElementById('trace-caption'),
    pick: (id) => graph.select(id),
  });

  function onTopology(next) {
    model = next;
    graph.apply(model);
    emptyEl.hidden = model.nodes.length > 0;
    pods.setNodes(model.nodes);
    trace.setModel(model);
    if (selected) {
      if (graph.cy.getElementById(selected).empty()) graph.select(null);
      else showDetails(false);
    }
    app.dataset.seq = String(model.seq);
  }

  function onCalls(records) {
    const newest = transcript.merge(records);
    if (newest) captionEl.textContent = Transcript.caption(transcript.latest());
    captionEl.hidden = !captionEl.textContent;
  }

  followLab({
    topology: onTopology,
    calls: onCalls,
    state: (state) => showConnection(connEl, state),
    error: (e) => {
      if (app.dataset.labUp !== 'true') emptyEl.hidden = false;
      else connEl.title = e.message;
    },
  });

  // View tools
  const presentBtn = document.getElementById('present');
  const setPresent = (on) => {
    document.body.classList.toggle('present', on);
    presentBtn.setAttribute('aria-pressed', String(on));
    presentBtn.textContent = on ? 'Leave presentation' : 'Presentation';
    graph.setPresentation(on);
  };
  presentBtn.addEventListener('click', () =>
    setPresent(!document.body.classList.contains('present')),
  );
  document.getElementById('fit').addEventListener('click', () => graph.fitAndFollow());
  document.getElementById('show-lo').addEventListener('change', (event) => {
    graph.setLoopback(event.target.checked);
  });
  document.getElementById('export-png').addEventListener('click', () => {
    const url = URL.createObjectURL(graph.png());
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    const a = document.createElement('a');
    a.href = url;
    a.download = `cnilab-${stamp}.png`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });
  document.addEventListener('keydown', (event) => {
    const typing = ['INPUT', 'SELECT', 'TEXTAREA'].includes(event.target.tagName);
    if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === 'p') setPresent(!document.body.classList.contains('present'));
    else if (event.key === 'Escape' && document.body.classList.contains('present')) {
      setPresent(false);
    }
    else if (event.key === 'f') graph.fitAndFollow();
  });

  window.cnilab = {
    cy: graph.cy,
    graph,
    get model() {
      return model;
    },
    transcript,
    trace,
  };
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
