// Follows the lab: the first snapshot by fetch, then every change from the event
// stream, each snapshot handed over once (the fetch and the stream may bring the same).
// Shared by the main page and the exercise pages.

import { getCalls, getTopology, subscribe } from './api.js';
import { parseSnapshot } from './snapshot.js';

/**
 * handlers: {topology(model, data), calls?(records), state(name), error?(e)}.
 * `state` gets "live" or "reconnecting"; `error` the failure of the first fetch.
 */
export function followLab({ topology, calls, state, error, callsLimit = 50 }) {
  let lastStamp = '';
  const onTopology = (data) => {
    const stamp = data && data.graph ? `${data.graph.seq}@${data.graph.taken_at}` : '';
    if (stamp && stamp === lastStamp) return;
    lastStamp = stamp;
    topology(parseSnapshot(data), data);
  };
  const source = subscribe({ topology: onTopology, calls: calls || (() => {}), state });
  getTopology()
    .then(onTopology)
    .catch((e) => (error ? error(e) : undefined));
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
