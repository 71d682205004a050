// A thin client of the producer's HTTP API. HTTP errors are answers, not
// exceptions: every call resolves to { status, data, retryAfter }, and status 0
// means the server could not be reached at all.

const TIMEOUT_MS = 8000;

/** Calls the API and parses its JSON answer. */
export async function call(path, { method = 'GET', body, headers = {}, timeoutMs = TIMEOUT_MS } = {}) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  const init = { method, headers: { Accept: 'application/json', ...headers }, cache: 'no-store', signal: controller.signal };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  try {
    const res = await fetch(path, init);
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    return { status: res.status, data, retryAfter: retryAfterSeconds(res.headers.get('Retry-After')) };
  } catch (err) {
    return { status: 0, data: null, retryAfter: null, error: err.name === 'AbortError' ? 'timed out' : 'unreachable' };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a Retry-After header (seconds or an HTTP date) as whole seconds, or null. */
export function retryAfterSeconds(value) {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

/** A fresh Idempotency-Key. crypto.randomUUID exists only on HTTPS or localhost. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const addUser = (user, key) =>
  call('/api/users', { method: 'POST', body: user, headers: { 'Idempotency-Key': key } });
export const getUser = (id) => call(`/api/users/${encodeURIComponent(id)}`);
export const listUsers = (limit, before) =>
  call(`/api/users?limit=${limit}${before ? `&before=${encodeURIComponent(before)}` : ''}`);
export const getStats = () => call('/api/stats', { timeoutMs: 4000 });
