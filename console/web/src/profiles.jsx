// profiles.jsx: the behaviour profiles the agents learn (mamori agent
// --learn): each workload's state, and one profile's items with their
// evidence; its export as a policy, a dry run of it, and (admin) enforce,
// relearn and deleting an item.
import { useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { Link, navigate } from './router.jsx';
import { Failed, fmtAgo, fmtTime, Loading, title, useAPI } from './util.jsx';

const name = (w) => (w.namespace ? w.namespace + '/' : '') + w.name;
const count = (c, kind) => c[kind + '/learned'] || 0;
const newCount = (c) => Object.entries(c).filter(([k]) => k.endsWith('/new')).reduce((n, [, v]) => n + v, 0);

export function Profiles({ query }) {
  title('Profiles');
  const state = query.get('state') || '';
  const r = useAPI('/api/v1/profiles' + qs({ state }));
  return (
    <section>
      <h1>Behaviour profiles</h1>
      <div class="toolbar">
        <label>State <select id="pf-state" value={state} onChange={(e) => navigate('/profiles' + qs({ state: e.target.value }))}>
          {['', 'learning', 'stable', 'enforced'].map((s) => <option value={s}>{s || 'any'}</option>)}</select></label>
        {r.data && <span class="muted">stable after {r.data.stable_after} without anything new</span>}
      </div>
      {r.error && <Failed error={r.error} />}
      {r.loading && !r.data && <Loading />}
      {r.data && (r.data.profiles.length === 0 ? <p class="muted">No profile yet: agents learn with <code>mamori agent --console … --learn</code>.</p> : (
        <table class="profiles">
          <thead><tr><th>Workload</th><th>Image</th><th>State</th><th>Last new item</th><th>Programs</th><th>Destinations</th><th>Listening</th><th>New</th><th>Nodes</th></tr></thead>
          <tbody>
            {r.data.profiles.map((p) => (
              <tr data-profile={p.id} class={newCount(p.counts) ? 'bad' : ''}>
                <td><Link href={'/profiles/' + p.id}>{name(p.workload)}</Link></td>
                <td>{p.workload.image}<small class="muted">{p.id}</small></td>
                <td><span class={'pstate pstate-' + p.state}>{p.state}</span><small>since {fmtAgo(p.state_since)}</small></td>
                <td>{fmtAgo(p.last_new)}</td>
                <td class="count">{count(p.counts, 'exec')}</td>
                <td class="count">{count(p.counts, 'egress')}</td>
                <td class="count">{count(p.counts, 'listen')}</td>
                <td class="count">{newCount(p.counts)}</td>
                <td>{p.nodes.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </section>
  );
}

function detail(it) {
  const d = [];
  if (it.drifted) d.push('not in the image');
  if (it.parents?.length) d.push('parent ' + it.parents.join(', '));
  if (it.digests?.length) d.push('sha256 ' + it.digests.map((s) => s.slice(0, 12)).join(', '));
  if (it.names?.length) d.push(it.names.join(', '));
  if (it.peer) d.push('workload ' + it.peer);
  return d.join(' · ');
}

export function ProfileDetail({ id, me }) {
  const r = useAPI('/api/v1/profiles/' + encodeURIComponent(id));
  const [out, setOut] = useState(null); // { kind: 'export'|'dryrun'|'error'|'done', data }
  title('Profile ' + id);
  if (r.error) return <Failed error={r.error} />;
  if (!r.data) return <Loading />;
  const p = r.data;
  const admin = me.role === 'admin';
  const run = (f) => f().catch((e) => setOut({ kind: 'error', data: e.message }));
  const exp = () => run(() => api(`/api/v1/profiles/${p.id}/export` + qs({ force: p.state === 'learning' ? 'true' : '' }))
    .then((d) => setOut({ kind: 'export', data: d })));
  const dry = () => run(() => api(`/api/v1/profiles/${p.id}/dryrun`, { body: { since: '24h' }, safe: true }).then((d) => setOut({ kind: 'dryrun', data: d })));
  const act = (action, ask) => {
    if (ask && !confirm(ask)) return;
    run(() => api(`/api/v1/profiles/${p.id}`, { body: { action } }).then((d) => {
      setOut({ kind: 'done', data: action === 'enforce' ? `Enforced: ${d.policy_file} applied among the central policies.` : `Profile ${d.profile.state}.` });
      r.reload();
    }));
  };
  const del = (it) => {
    if (!confirm(`Delete ${it.kind} ${it.key} for good? It will never be learnt again, and exports leave it out.`)) return;
    run(() => api(`/api/v1/profiles/${p.id}/items` + qs({ kind: it.kind, key: it.key }), { method: 'DELETE' }).then(() => r.reload()));
  };
  return (
    <section>
      <h1>{name(p.workload)} <span class={'pstate pstate-' + p.state}>{p.state}</span></h1>
      <p class="muted">Profile <code>{p.id}</code> of image {p.workload.image} (<code>{p.workload.image_digest}</code>).
        {' '}{p.state} since {fmtTime(p.state_since)} ({p.state_by}); learning since {fmtTime(p.created)}; last new item {fmtTime(p.last_new)};
        {' '}at most {p.max_processes} processes at once; on {p.nodes.join(', ')}.
        {' '}<Link href={'/map' + qs({ workload: p.workload.name, since: '24h' })}>Its network map</Link>.</p>
      <div class="toolbar">
        <button type="button" id="pf-export" onClick={exp}>Export as a policy</button>
        <button type="button" id="pf-dryrun" onClick={dry}>Dry run</button>
        {admin && <button type="button" id="pf-enforce" disabled={p.state !== 'stable'}
          onClick={() => act('enforce', `Enforce ${name(p.workload)}'s profile? Its policy is applied in enforce mode on every node that runs it.`)}>Enforce</button>}
        {admin && <button type="button" id="pf-relearn" onClick={() => act('relearn', 'Forget what this profile learnt and learn again? Deleted items stay deleted.')}>Relearn</button>}
      </div>
      {out?.kind === 'error' && <p class="error" role="alert">{out.data}</p>}
      {out?.kind === 'done' && <p class="ok" role="status">{out.data}</p>}
      {out?.kind === 'export' && <div class="card"><h2>{out.data.name}</h2><pre class="yaml" id="pf-yaml">{out.data.content}</pre></div>}
      {out?.kind === 'dryrun' && (
        <div class="card" id="pf-dry">
          <h2>Dry run: {out.data.refused.length} of {out.data.checked} would have been refused since {fmtTime(out.data.since)}</h2>
          {out.data.refused.length > 0 && (
            <table><thead><tr><th>Control</th><th>What</th><th>Why</th><th>Last</th><th>Count</th></tr></thead>
              <tbody>{out.data.refused.map((x) => <tr class="dry-row"><td>{x.control}</td><td>{x.what}</td><td>{x.reason}</td><td>{fmtTime(x.last)}</td><td class="count">{x.count}</td></tr>)}</tbody></table>
          )}
        </div>
      )}
      <table class="items">
        <thead><tr><th>Kind</th><th>Item</th><th>Status</th><th>First seen</th><th>Last seen</th><th>Count</th><th>Nodes</th><th>Detail</th>{admin && <th />}</tr></thead>
        <tbody>
          {p.items.map((it) => (
            <tr class={'item item-' + it.status} data-kind={it.kind} data-key={it.key} data-status={it.status}>
              <td>{it.kind}</td><td><code>{it.key}</code></td><td>{it.status}</td><td>{fmtTime(it.first)}</td><td>{fmtTime(it.last)}</td>
              <td class="count">{it.count}</td><td>{it.nodes.join(', ')}</td><td class="small">{detail(it)}</td>
              {admin && <td>{it.status !== 'deleted' && <button type="button" class="small" onClick={() => del(it)} title="never learn it again">Delete</button>}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
