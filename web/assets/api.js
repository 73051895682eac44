// Talking to the dashboard API: relative URLs (the page also works behind the API server's
// service proxy) that carry the bearer token when the page was opened with ?access_token=.
export const token = new URLSearchParams(location.search).get('access_token');

/** A URL under this page (relative, so it works behind the service proxy), with the token. */
export function apiUrl(path, query = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  if (token) q.set('access_token', token);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

export async function getJson(path, query) {
  const r = await fetch(apiUrl(path, query));
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

