// Wires the main page: the shared lab page (labpage.js), then the transcript, the pod
// actions, the tracer and the view tools.

import { DemoPanel } from './demo.js';
import { LabPage, startPage } from './labpage.js';
import { listen } from './live.js';
import { PodActions } from './pods.js';
import { SearchBar } from './search.js';
import { renderTextView } from './textview.js';
import { TracePanel } from './trace.js';
import { Transcript } from './transcript.js';

function start() {
  const app = document.getElementById('app');
  const readOnly = app.dataset.readOnly === 'true';
  const captionEl = document.getElementById('caption');
  const traceEl = document.getElementById('trace');

  const pods = new PodActions(app);
  const transcript = new Transcript(
    document.getElementById('calls'),
    document.getElementById('calls-empty'),
  );
  const page = new LabPage({
    actions: readOnly ? null : (ns) => pods.deleteButton(ns),
    // the packet's caption, while a trace is shown
    insetBottom: (graph) =>
      traceEl && traceEl.classList.contains('has-result') ? (graph.present ? 72 : 56) : 0,
  });
  const { graph } = page;

  const trace = new TracePanel(traceEl, graph, {
    caption: document.getElementById('trace-caption'),
    pick: (id) => graph.select(id),
  });

  const textEl = document.getElementById('text-view');
  const textBtn = document.getElementById('text-view-toggle');
  const search = new SearchBar(
    graph,
    {
      input: document.getElementById('search'),
      node: document.getElementById('node-filter'),
      count: document.getElementById('search-count'),
    },
    () => showText(),
  );
  const showText = () => {
    if (!textEl.hidden) renderTextView(textEl, page.model, search.predicate());
  };
  const setText = (on) => {
    textEl.hidden = !on;
    textBtn.setAttribute('aria-pressed', String(on));
    showText();
  };
  textBtn.addEventListener('click', () => setText(textEl.hidden));
  document.getElementById('show-gw').addEventListener('change', (event) => {
    graph.setGateways(event.target.checked);
  });

  const demo = new DemoPanel(document.querySelector('.graph-pane'), graph, { readOnly });
  const source = page.follow({
    topology: (model) => {
      pods.setNodes(model.nodes);
      demo.highlight();
      search.setNodes(model.nodes);
      trace.setModel(model);
      showText();
    },
    calls: (records) => {
      const newest = transcript.merge(records);
      if (newest) captionEl.textContent = Transcript.caption(transcript.latest());
      captionEl.hidden = !captionEl.textContent;
    },
  });

  listen(source, 'demo', (state) => demo.show(state));
  listen(source, 'kernel', (diffs) => transcript.setKernel(diffs));

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
  page.addKeys({
    p: () => setPresent(!document.body.classList.contains('present')),
    n: () => demo.next(),
    t: () => setText(textEl.hidden),
    '/': (event) => {
      event.preventDefault();
      document.getElementById('search').focus();
    },
    Escape: () => {
      if (document.body.classList.contains('present')) setPresent(false);
      else if (graph.focused) graph.focus(null);
    },
  });

  page.expose({ transcript, trace, search, demo });
}

startPage(start);
