// The slow-motion call of the API: Next. (Pods, batches included, go through api.js's
// createPod with {count, demo, manual}.)

import { APIError, token } from './api.js';

const TOKEN_HEADER = 'X-Cnilab-Token';

/** Let the paused step of slow-motion session `session` go on. */
export async function demoNext(session) {
  const headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
  if (token()) headers[TOKEN_HEADER] = token();
  const response = await fetch('/api/demo/next', {
    method: 'POST',
    headers,
    credentials: 'same-origin',
    body: JSON.stringify({ session }),
  });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new APIError(data?.error || `HTTP ${response.status}`, response.status, data);
  }
  return response.json();
}
