// api.js: the dashboard's REST client. Same origin, the session cookie, X-CSRF-Token on every change,
// IoT Hub error bodies turned into ApiError. A 401 (session ended) calls the handler app.js installs,
// which sends the user to the login page.

export class ApiError extends Error {
  constructor(status, code, message, body, headers) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.body = body;
    this.headers = headers;
  }
}

let csrfToken = null;
let onUnauthorized = null;

export function setCsrfToken(token) { csrfToken = token; }
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

// IoT Hub's error body: {"Message":"ErrorCode:DeviceNotFound;Device d1 not found", "ExceptionMessage":...}
function errorFrom(status, body, headers) {
  let code = headers.get('iothub-errorcode') || '';
  let message = '';
  if (body && typeof body === 'object') {
    const m = typeof body.Message === 'string' ? body.Message : (typeof body.message === 'string' ? body.message : '');
    const match = /^ErrorCode:([^;]*);(.*)$/s.exec(m);
    if (match) {
      code = code || match[1];
      message = match[2];
    } else message = m;
    if (!message && typeof body.ExceptionMessage === 'string') message = body.ExceptionMessage;
  } else if (typeof body === 'string') message = body;
  if (!message) message = `HTTP ${status}`;
  return new ApiError(status, code, message, body, headers);
}

// The low-level call: returns {data, headers, status}. opts: ifMatch, headers, body (JSON-encoded).
export async function request(method, path, opts = {}) {
  const headers = {Accept: 'application/json', ...(opts.headers || {})};
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store', signal: opts.signal};
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(opts.body);
  }
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (opts.ifMatch) headers['If-Match'] = opts.ifMatch === '*' ? '*' : `"${opts.ifMatch}"`;
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'NetworkError', 'The hub cannot be reached (network error)', null, new Headers());
  }
  const text = res.status === 204 ? '' : await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    const err = errorFrom(res.status, data, res.headers);
    if (res.status === 401 && !opts.noAuthRedirect && onUnauthorized) onUnauthorized(err);
    throw err;
  }
  return {data, headers: res.headers, status: res.status};
}

async function call(method, path, body, opts = {}) {
  const r = await request(method, path, {...opts, body});
  return r.data;
}

export const api = {
  request,
  get: (path, opts) => call('GET', path, undefined, opts),
  post: (path, body, opts) => call('POST', path, body, opts),
  put: (path, body, opts) => call('PUT', path, body, opts),
  patch: (path, body, opts) => call('PATCH', path, body, opts),
  del: (path, opts) => call('DELETE', path, undefined, opts),
  // One page of a query: {items, continuationToken}. top is x-ms-max-item-count (1..1000).
  async query(sql, {top = 100, continuationToken = null, signal} = {}) {
    const headers = {'x-ms-max-item-count': String(top)};
    if (continuationToken) headers['x-ms-continuation'] = continuationToken;
    const r = await request('POST', '/devices/query', {body: {query: sql}, headers, signal});
    return {items: Array.isArray(r.data) ? r.data : [], continuationToken: r.headers.get('x-ms-continuation') || null};
  },
};

export const enc = encodeURIComponent;
