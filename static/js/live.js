// Follows the lab: the first snapshot by fetch, then every change from the event
// stream (a full snapshot on connect, then deltas), each snapshot handed over once (the
// fetch and the stream may bring the same). A delta the page cannot apply (it missed
// the version before) is answered by fetching the whole snapshot again.
// Shared by the main page and the exercise pages.

import { getCalls, getTopology, subscribe } from './api.js';
import { applyDelta } from './delta.js';
import { parseSnapshot } from './snapshot.js';

/**
 * handlers: {topology(model, data), calls?(records), state(name), error?(e)}.
 * `state` gets "live" or "reconnecting"; `error` the failure of the first fetch.
 */
export function followLab({ topology, calls, state, error, callsLimit = 50 }) {
  let lastStamp = '';
  let current = null; // the last snapshot, node-link, with the server's version
  const onTopology = (data) => {
    current = data;
    const stamp = data && data.graph ? `${data.graph.seq}@${data.graph.taken_at}` : '';
    if (stamp && stamp === lastStamp) return;
    lastStamp = stamp;
    topology(parseSnapshot(data), data);
  };
  const resync = () =>
    getTopology()
      .then(onTopology)
      .catch((e) => (error ? error(e) : undefined));
  const onDelta = (delta) => {
    const next = applyDelta(current, delta);
    if (next) onTopology(next);
    else resync();
  };
  const source = subscribe({ topology: onTopology, delta: onDelta, calls: calls || (() => {}), state });
  resync();
  if (calls) {
    getCalls(callsLimit)
      .then(calls)
      .catch(() => {});
  }
  return source;
}

/** The connection pill in the top bar. */
export function showConnection(el, state) {
  el.textContent = state === 'live' ? 'live' : 'reconnecting…';
  el.className = `pill ${state === 'live' ? 'pill-live' : 'pill-wait'}`;
}

/** Another topic of the event stream (e.g. "demo", "kernel"): its JSON to `handler`. */
export function listen(source, topic, handler) {
  source.addEventListener(topic, (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    handler(data);
  });
}
