// The public API, with the key the person pasted. The key lives in sessionStorage only: never in a URL,
// never in persistent storage, never in a cookie.
const KEY_SLOT = 'neo-console-key';

export function currentKey() {
  return sessionStorage.getItem(KEY_SLOT);
}

export function rememberKey(key) {
  sessionStorage.setItem(KEY_SLOT, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY_SLOT);
}

/** An error answer of the API: its envelope's code and message (design §3). */
export class APIError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || [];
  }
}

/**
 * Calls `/public-api` + `path`. `query` is an object of parameters (empty values are left out), `body`
 * a JSON value. Answers the envelope (`{data, meta}`); throws APIError with the API's own message.
 */
export async function api(method, path, { query, body } = {}) {
  const key = currentKey();
  const url = new URL('/public-api' + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  const headers = { Accept: 'application/json' };
  if (key) headers.Authorization = 'Bearer ' + key;
  const init = { method, headers, cache: 'no-store', credentials: 'omit', referrerPolicy: 'no-referrer' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new APIError(0, 'NETWORK', 'the server did not answer (' + e.message + ')');
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch (e) {
    envelope = null;
  }
  if (!response.ok) {
    const err = envelope && envelope.error;
    if (err) {
      const detail = (err.details || []).map((d) => d.field + ': ' + d.issue).join('; ');
      throw new APIError(response.status, err.code, err.message + (detail && !err.message.includes(detail) ? ' (' + detail + ')' : ''), err.details);
    }
    throw new APIError(response.status, 'HTTP_' + response.status, 'HTTP ' + response.status + ' ' + response.statusText);
  }
  if (!envelope) throw new APIError(response.status, 'BAD_RESPONSE', 'the server answered something other than JSON');
  return envelope;
}

/** Every page of a list, up to `limit` items. */
export async function listAll(path, query = {}, limit = 200) {
  const items = [];
  let cursor = null;
  do {
    const page = await api('GET', path, { query: { ...query, page_size: Math.min(200, limit), cursor } });
    items.push(...page.data);
    cursor = page.meta.pagination && page.meta.pagination.has_more ? page.meta.pagination.next_cursor : null;
  } while (cursor && items.length < limit);
  return items.slice(0, limit);
}
