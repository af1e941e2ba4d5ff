// Wires the page: token, graph, details, transcript, pod actions, live events.

import { adoptToken, getCalls, getTopology, subscribe } from './api.js';
import { detailsKey, renderDetails } from './details.js';
import { Graph } from './graph.js';
import { PodActions } from './pods.js';
import { parseSnapshot } from './snapshot.js';
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
  let lastStamp = '';
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

  const graph = new Graph(document.getElementById('cy'), {
    onSelect: (id) => {
      selected = id;
      showDetails();
    },
  });

  function onTopology(data) {
    const seq = data && data.graph ? data.graph.seq : 0;
    const stamp = data && data.graph ? `${seq}@${data.graph.taken_at}` : '';
    if (stamp && stamp === lastStamp) return; // the same snapshot, by fetch and by event
    lastStamp = stamp;
    model = parseSnapshot(data);
    graph.apply(model);
    emptyEl.hidden = model.nodes.length > 0;
    pods.setNodes(model.nodes);
    if (selected) {
      if (graph.cy.getElementById(selected).empty()) graph.select(null);
      else showDetails(false);
    }
    app.dataset.seq = String(seq);
  }

  function onCalls(records) {
    const newest = transcript.merge(records);
    if (newest) captionEl.textContent = Transcript.caption(transcript.latest());
    captionEl.hidden = !captionEl.textContent;
  }

  function onState(state) {
    connEl.textContent = state === 'live' ? 'live' : 'reconnecting…';
    connEl.className = `pill ${state === 'live' ? 'pill-live' : 'pill-wait'}`;
  }

  subscribe({ topology: onTopology, calls: onCalls, state: onState });
  getTopology()
    .then(onTopology)
    .catch((e) => {
      if (app.dataset.labUp !== 'true') emptyEl.hidden = false;
      else connEl.title = e.message;
    });
  getCalls(50)
    .then(onCalls)
    .catch(() => {});

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
  };
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
