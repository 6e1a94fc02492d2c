// The /v0 API, called like any client: the API key goes in the Authorization header, never in a URL.

const STORAGE_KEY = 'agentmail-console.api-key';

export function getKey() {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function setKey(key) {
  sessionStorage.setItem(STORAGE_KEY, key);
}

export function clearKey() {
  sessionStorage.removeItem(STORAGE_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && (body.message || body.name)) || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.body = body;
  }
}

// A path segment: ids may hold any character (message ids carry <, @ and >).
export const seg = (value) => encodeURIComponent(String(value));

export async function api(path, { method = 'GET', body, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  const headers = { Authorization: `Bearer ${getKey() || ''}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit', redirect: 'error',
  });
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401) window.dispatchEvent(new CustomEvent('console:unauthorized', { detail: error }));
    throw error;
  }
  return data;
}

// One page of a list endpoint; `field` names the array in the answer.
export async function page(path, field, { pageToken, limit = 25, ...query } = {}) {
  const data = await api(path, { query: { limit, page_token: pageToken, ...query } });
  return { items: data[field] || [], next: data.next_page_token || null };
}

// The WebSocket endpoint. Browsers cannot set headers on a WebSocket, so this one URL carries the key.
export function eventsUrl() {
  const url = new URL('/v0', location.origin);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('api_key', getKey() || '');
  return url.toString();
}
