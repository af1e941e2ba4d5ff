// The server's API: JSON requests with the token (every /api/ call needs it), and the
// live event stream.

const TOKEN_KEY = 'cnilab-token';
const TOKEN_HEADER = 'X-Cnilab-Token';

/**
 * Take ?token= from the address bar into sessionStorage, and out of the address bar
 * (so it is neither bookmarked nor shown on a projector); say so when there is none.
 */
export function adoptToken() {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  const kept = sessionStorage.getItem(TOKEN_KEY) || '';
  const needed = document.getElementById('token-needed');
  if (needed) needed.hidden = Boolean(kept);
  return kept;
}

export function hasToken() {
  return Boolean(sessionStorage.getItem(TOKEN_KEY));
}

export class APIError extends Error {
  constructor(message, status, data = null) {
    super(message);
    this.status = status;
    this.data = data; // the answer's JSON (a 409 conflict carries the disk's version)
  }
}

/** The tab's token ('' when it has none): for the terminal's WebSocket, which takes ?token=. */
export const token = () => sessionStorage.getItem(TOKEN_KEY) || '';

async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers[TOKEN_HEADER] = token;
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    throw new APIError(`cannot reach the cnilab server (${e.message})`, 0);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error : response.statusText;
    throw new APIError(message || `HTTP ${response.status}`, response.status, data);
  }
  return data;
}

export const getTopology = () => request('GET', '/api/topology');
export const getCalls = (limit = 50) => request('GET', `/api/calls?limit=${limit}`);
export const createPod = (pod) => request('POST', '/api/pods', pod);
export const deletePod = (name) => request('DELETE', `/api/pods/${encodeURIComponent(name)}`);
export const runTrace = (probe) => request('POST', '/api/trace', probe);
export const getCheckWhere = (n) => request('GET', `/api/editor/${n}/where`);

const exercise = (n) => `/api/exercises/${encodeURIComponent(n)}`;
export const getExercises = () => request('GET', '/api/exercises');
export const getExercise = (n) => request('GET', exercise(n));
export const getExerciseFile = (n, which = 'workspace') =>
  request('GET', `${exercise(n)}/file?which=${encodeURIComponent(which)}`);
export const startExercise = (n) => request('POST', `${exercise(n)}/start`, {});
export const unlockHint = (n, hint) =>
  request('POST', `${exercise(n)}/hint`, hint ? { hint } : {});

const editor = (n) => `/api/editor/${encodeURIComponent(n)}`;
export const getEditorFile = (n) => request('GET', editor(n));
export const saveFile = (n, text, version) => request('POST', `${editor(n)}/save`, { text, version });
export const resetFile = (n, version) => request('POST', `${editor(n)}/reset`, { version });
export const diffFile = (n, text, against) => request('POST', `${editor(n)}/diff`, { text, against });
export const getTerminalInfo = () => request('GET', '/api/terminal');

/** Split a byte stream's text into whole lines: feed(chunk) returns the lines it completed. */
export function lineSplitter() {
  let rest = '';
  return (chunk) => {
    rest += chunk;
    const lines = rest.split('\n');
    rest = lines.pop();
    return lines.filter((line) => line.trim() !== '');
  };
}

/**
 * POST a streamed Check: onEvent(event) for each line of JSON as the check runs (each
 * assertion as it starts and ends, then the report). Resolves with the last event.
 */
export async function streamCheck(n, body, onEvent) {
  const headers = { Accept: 'application/x-ndjson', 'Content-Type': 'application/json' };
  const kept = token();
  if (kept) headers[TOKEN_HEADER] = kept;
  let response;
  try {
    response = await fetch(`${editor(n)}/check`, { method: 'POST', headers, body: JSON.stringify(body) });
  } catch (e) {
    throw new APIError(`cannot reach the cnilab server (${e.message})`, 0);
  }
  if (!response.ok) {
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    const message = data && typeof data.error === 'string' ? data.error : response.statusText;
    throw new APIError(message || `HTTP ${response.status}`, response.status, data);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const feed = lineSplitter();
  let last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    for (const line of feed(value)) {
      last = JSON.parse(line);
      onEvent(last);
    }
  }
  if (!last || (last.event !== 'report' && last.event !== 'error')) {
    throw new APIError('the check stopped before its verdict (the server went away?)', 0);
  }
  return last;
}

/**
 * Subscribe to /api/events. handlers: {topology(snapshot), delta(change), calls(records),
 * state(name)}
 * where state is "live" or "reconnecting". EventSource reconnects by itself.
 */
export function subscribe(handlers) {
  // EventSource cannot send a header: the stream takes the token as ?token= instead.
  const token = sessionStorage.getItem(TOKEN_KEY) || '';
  // deltas=1: after the first snapshot, the topology comes as what changed (delta.js).
  const source = new EventSource(`/api/events?deltas=1&token=${encodeURIComponent(token)}`);
  const parse = (fn) => (event) => {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    fn(data);
  };
  source.addEventListener('topology', parse(handlers.topology));
  source.addEventListener('topology-delta', parse(handlers.delta));
  source.addEventListener('calls', parse(handlers.calls));
  source.addEventListener('open', () => handlers.state('live'));
  source.addEventListener('error', () => handlers.state('reconnecting'));
  return source;
}
