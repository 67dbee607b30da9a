// api.js: every call the pages make goes through here, to /api/v1 on the
// same origin with the login cookie. A change carries the header the API
// asks of cookie logins (X-Mamori-Console), which another site's page
// cannot add.
export class APIError extends Error {
  constructor(msg, status) { super(msg); this.status = status; }
}

// safe marks a POST that may be sent twice with the same effect (a dry
// run, a login): it is retried like a read.
export async function api(path, { method, body, safe } = {}) {
  const init = { credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method || body !== undefined) {
    init.method = method || 'POST';
    init.headers['X-Mamori-Console'] = '1';
  }
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  for (let attempt = 0; ; attempt++) {
    try {
      r = await fetch(path, init);
      break;
    } catch (e) {
      // A laptop that changes networks (or a host whose interfaces
      // change) fails requests in flight: a read is asked again, twice.
      if ((init.method && !safe) || attempt >= 2) throw new APIError('the console cannot be reached: ' + e.message, 0);
      await new Promise((ok) => setTimeout(ok, 300 * (attempt + 1)));
    }
  }
  if (r.status === 401 && !path.startsWith('/api/v1/login')) {
    toLogin();
    throw new APIError('the login has expired', 401);
  }
  let j = {};
  try { j = await r.json(); } catch { /* an empty body */ }
  if (!r.ok) throw new APIError(j.error || r.statusText, r.status);
  return j;
}

export function toLogin() {
  const next = location.pathname + location.search;
  location.assign('/login?next=' + encodeURIComponent(next));
}

// qs renders an object as a query string, leaving out empty values.
export function qs(o) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return s ? '?' + s : '';
}
