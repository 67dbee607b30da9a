// login.jsx: the door: an API token (read or admin) exchanged for the
// login cookie, then back to the page that sent the browser here.
import { useState } from 'preact/hooks';
import { api } from './api.js';
import { title } from './util.jsx';

// safeNext keeps the redirect on this console.
function safeNext(n) {
  return n && n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/\\') ? n : '/feed';
}

export function Login({ query }) {
  title('Log in');
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = (e) => {
    e.preventDefault();
    const token = e.target.token.value.trim();
    setBusy(true);
    api('/api/v1/login', { body: { token }, safe: true }).then(() => location.assign(safeNext(query.get('next'))),
      (x) => { setBusy(false); setErr(x.status === 401 ? 'That token is not known to this console.' : x.message); });
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title"><span class="logo" aria-hidden="true" /> mamori console</h1>
        <label for="token">API token</label>
        <input id="token" name="token" type="password" autocomplete="current-password" required autofocus placeholder="mamori_…" />
        <button type="submit" id="login" disabled={busy}>Log in</button>
        {err && <p class="error" role="alert">{err}</p>}
        <p class="muted small">A first run of <code>mamori console</code> writes the admin token to its data directory
          (<code>admin.token</code>); <code>mamori console token add --name NAME --role read</code> makes one that reads only.</p>
      </form>
    </main>
  );
}
