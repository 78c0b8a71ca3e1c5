// The HTTP API from the browser: cookie session plus the CSRF double submit (the value of the
// sebastian_csrf cookie echoed in X-CSRF-Token on every write), and errors that keep the
// `field` they are about so the page can show them next to it.

const CSRF_COOKIE = 'sebastian_csrf';
const CSRF_HEADER = 'X-CSRF-Token';

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || 'http_error';
    this.field = error.field || null;
    this.details = error;
  }
}

function cookie(name) {
  for (const part of document.cookie.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return '';
}

/**
 * Call the API. `body` is sent as JSON; answers come back parsed (null for 204).
 * Throws ApiError (status 0 and code "network" when the server cannot be reached).
 */
export async function api(method, path, body, { headers = {}, bearer = null } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (!['GET', 'HEAD'].includes(method) && !bearer) {
    const token = cookie(CSRF_COOKIE);
    if (token) init.headers[CSRF_HEADER] = token;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { code: 'network', message: String(err && err.message || err) });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, (data && data.error) || { code: 'http_error', message: `HTTP ${response.status}` });
  }
  return data;
}

export const get = (path, options) => api('GET', path, undefined, options);
export const post = (path, body, options) => api('POST', path, body, options);
export const patch = (path, body, options) => api('PATCH', path, body, options);
export const del = (path, options) => api('DELETE', path, undefined, options);

/** The signed-in account, or null. */
export async function currentAccount() {
  try {
    return await get('/api/v1/me');
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

export async function logIn(email, password) {
  return (await post('/api/v1/session', { email, password })).account;
}

export async function logOut() {
  try {
    await del('/api/v1/session');
  } catch (err) {
    if (err.status !== 401) throw err;
  }
}

let documentedPaths = null;

/** Whether the server documents this route: features of other parts appear when they exist. */
export async function hasRoute(method, path) {
  if (!documentedPaths) {
    documentedPaths = get('/api/v1/openapi.json').then((doc) => doc.paths || {}).catch(() => ({}));
  }
  const paths = await documentedPaths;
  return Boolean(paths[path] && paths[path][method.toLowerCase()]);
}
