// incidents.jsx: alerts grouped by workload and time; each can be
// acknowledged or resolved with a note, and its page tells the whole
// story of its container: the processes across its alerts, the files it
// touched, the connections it made.
import { useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { ancestryChain, buildForest, ProcessTree } from './tree.jsx';
import { Link, navigate } from './router.jsx';
import { Action, Failed, FilterLink, fmtAgo, fmtTime, Loading, Priority, title, useAPI } from './util.jsx';

const STATUSES = ['open', 'acknowledged', 'resolved'];

export function Incidents({ query }) {
  title('Incidents');
  const status = query.get('status') || 'open';
  const filters = { status, cluster: query.get('cluster') || '', namespace: query.get('namespace') || '', node: query.get('node') || '' };
  const r = useAPI('/api/v1/incidents' + qs({ ...filters, status: status === 'all' ? '' : status, limit: 200 }));
  const set = (k, v) => navigate('/incidents' + qs({ ...filters, [k]: v }));
  return (
    <section>
      <div class="toolbar">
        <h1>Incidents</h1>
        <div role="group" aria-label="Status" class="seg">
          {[...STATUSES, 'all'].map((s) => (
            <button type="button" aria-pressed={status === s ? 'true' : 'false'} onClick={() => set('status', s)}>{s}</button>
          ))}
        </div>
        <label>Namespace <input id="i-namespace" key={filters.namespace} defaultValue={filters.namespace} onChange={(e) => set('namespace', e.target.value.trim())} /></label>
        <label>Node <input id="i-node" key={filters.node} defaultValue={filters.node} onChange={(e) => set('node', e.target.value.trim())} /></label>
      </div>
      {r.error && <Failed error={r.error} />}
      {r.loading && !r.data && <Loading />}
      {r.data && (r.data.incidents.length === 0 ? <p class="muted">No incident.</p> : (
        <table class="incidents">
          <thead><tr><th>Last alert</th><th>Priority</th><th>Workload</th><th>Node</th><th>Alerts</th><th>Rules</th><th>Status</th></tr></thead>
          <tbody>
            {r.data.incidents.map((i) => (
              <tr class="incident-row" tabindex="0" data-id={i.id} onClick={() => navigate('/incidents/' + i.id)}
                onKeyDown={(e) => e.key === 'Enter' && navigate('/incidents/' + i.id)}>
                <td>{fmtTime(i.last)}<small class="muted">{fmtAgo(i.last)}</small></td>
                <td><Priority p={i.priority} /></td>
                <td><Link href={'/incidents/' + i.id}>{i.workload}</Link>{i.image && <small>{i.image}</small>}</td>
                <td>{i.node}</td>
                <td class="count">{i.alerts}</td>
                <td class="rules">{i.rules.slice(0, 3).join(', ')}{i.rules.length > 3 ? ` +${i.rules.length - 3}` : ''}</td>
                <td><span class={'status status-' + i.status}>{i.status}</span></td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

export function IncidentDetail({ id, me }) {
  title('Incident');
  const r = useAPI('/api/v1/incidents/' + encodeURIComponent(id));
  if (r.error) return <Failed error={r.error} />;
  if (!r.data) return <Loading />;
  return <IncidentView d={r.data} me={me} reload={r.reload} />;
}

const FILE_EVENTS = new Set(['open', 'unlink', 'rename', 'chmod', 'link', 'symlink', 'truncate', 'mkdir', 'rmdir']);

function IncidentView({ d, me, reload }) {
  const i = d.incident;
  const alerts = d.alerts;
  const [note, setNote] = useState(i.note || '');
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const admin = me.role === 'admin';
  const save = (status) => {
    setBusy(true);
    setErr(null);
    api('/api/v1/incidents/' + encodeURIComponent(i.id), { body: { status, note } }).then(() => { setBusy(false); reload(); }, (e) => { setBusy(false); setErr(e); });
  };
  const procs = alerts.flatMap((a) => ancestryChain(a.process, a.rule));
  const files = new Map();
  const conns = new Map();
  for (const a of alerts) {
    const f = a.output_fields || {};
    const path = f['fd.name'] || f['file.path'];
    if (path && (FILE_EVENTS.has(a.event) || !a.event) && !(a.event === 'connect')) files.set(path, (files.get(path) || []).concat(a));
    const dst = f['fd.sip'] || f['net.dst_ip'] || f['fd.rip'];
    if (a.event === 'connect' || dst) {
      const k = dst ? `${dst}:${f['fd.sport'] || f['fd.rport'] || f['net.dst_port'] || ''}` : path || a.output;
      conns.set(k, (conns.get(k) || []).concat(a));
    }
  }
  const chrono = alerts.slice().sort((x, y) => (x.time < y.time ? -1 : 1));
  return (
    <article class="incident">
      <p><Link href="/incidents">← incidents</Link></p>
      <h1><Priority p={i.priority} /> {i.workload}</h1>
      <p class="muted">{i.alerts} alerts from {fmtTime(i.first)} to {fmtTime(i.last)} on {i.node} · {i.image}</p>
      <section class="card status-card">
        <h2>Status: <span class={'status status-' + i.status} id="incident-status">{i.status}</span></h2>
        {i.note && <p class="note" id="incident-note">Note: {i.note}</p>}
        {i.updated_by && <p class="muted">changed by {i.updated_by} at {fmtTime(i.updated)}</p>}
        <label class="block">Note
          <textarea id="incident-note-input" rows="2" value={note} onInput={(e) => setNote(e.target.value)} disabled={!admin} />
        </label>
        <div class="buttons">
          {STATUSES.map((s) => (
            <button type="button" id={'incident-' + s} disabled={!admin || busy} onClick={() => save(s)}>
              {s === 'open' ? 'Reopen' : s === 'acknowledged' ? 'Acknowledge' : 'Resolve'}
            </button>
          ))}
        </div>
        {!admin && <p class="muted">Your token reads only: an admin token changes incidents.</p>}
        {err && <Failed error={err} />}
      </section>
      <div class="grid two">
        <section class="card"><h2>Processes across its alerts</h2><ProcessTree roots={buildForest(procs)} label="processes of the incident" /></section>
        <section class="card">
          <h2>Files</h2>
          {files.size === 0 ? <p class="muted">No file in its alerts.</p> : (
            <ul class="plain">{[...files].map(([p, as]) => <li><code>{p}</code> <small class="muted">{as.map((a) => a.rule).filter((v, j, s) => s.indexOf(v) === j).join(', ')}</small></li>)}</ul>
          )}
          <h2>Connections</h2>
          {conns.size === 0 ? <p class="muted">No connection in its alerts.</p> : (
            <ul class="plain">{[...conns].map(([k, as]) => <li><code>{k}</code> <small class="muted">{as[0].rule}</small></li>)}</ul>
          )}
          <p><FilterLink k="container" v={i.container}>every alert of {i.container}</FilterLink></p>
        </section>
      </div>
      <section class="card">
        <h2>Alerts, oldest first</h2>
        <ol class="timeline">
          {chrono.map((a) => (
            <li><time>{fmtTime(a.time)}</time> <Priority p={a.priority} /> <Link href={'/alerts/' + a.uuid}>{a.rule}</Link> {a.count > 1 ? `×${a.count}` : ''} <Action a={a.action} /> <span class="muted">{a.process?.name} {a.process?.args?.join(' ')}</span></li>
          ))}
        </ol>
      </section>
    </article>
  );
}
