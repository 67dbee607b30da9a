// nodes.jsx: every node (version, kernel, last heartbeat, each control's
// mechanism or why it is degraded, what it dropped) and every container
// with its protection. A node that stopped reporting, and a container
// that should be enforced and is not, are shown in red.
import { Failed, FilterLink, fmtAgo, fmtTime, Loading, shortID, title, useAPI } from './util.jsx';
import { navigate } from './router.jsx';
import { qs } from './api.js';
import { useEffect, useState } from 'preact/hooks';

// Heartbeats come every 10 s: three missed is a node that stopped.
const STALE_MS = 30e3;

// shouldEnforce says whether a container's policies enforce a control
// that its agent does not enforce (protection "audited" or "unprotected"
// with a control in enforce mode, or an enforce control that cannot
// refuse on its node).
export function notEnforced(st) {
  if ((st.enforcement || []).some((e) => e.state === 'not-enforced')) return true;
  const enforceModes = Object.values(st.controls || {}).some((m) => m === 'enforce');
  return (enforceModes && st.protection !== 'enforced') || /cannot refuse|not enforced/.test(st.reason || '');
}

// Enforcement lists each control as the agent placed it: the mechanism
// that enforces it, or why it is not enforced.
function Enforcement({ st }) {
  const es = st.enforcement || [];
  if (!es.length) return Object.entries(st.controls || {}).map(([k, m]) => <span class={'ctl ctl-' + m}>{k}: {m}</span>);
  return (
    <ul class="plain enf">
      {es.map((e) => (
        <li class={'enf-' + e.state} data-control={e.control} data-state={e.state}>
          <span class={'ctl ctl-' + e.mode}>{e.control}</span> {e.state}
          {e.mechanism && <small>by {e.mechanism}</small>}
          {e.reason && <small class={e.state === 'not-enforced' ? 'error' : ''}>{e.reason}</small>}
        </li>
      ))}
    </ul>
  );
}

export function Nodes({ query }) {
  title('Nodes');
  const all = query.get('all') === '1';
  const nodes = useAPI('/api/v1/nodes');
  const ctrs = useAPI('/api/v1/containers' + (all ? '' : '?running=true'));
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => { setNow(Date.now()); nodes.reload(); ctrs.reload(); }, 10e3);
    return () => clearInterval(t);
  }, [all]);
  return (
    <section>
      <h1>Nodes</h1>
      {nodes.error && <Failed error={nodes.error} />}
      {!nodes.data && nodes.loading && <Loading />}
      {nodes.data && nodes.data.nodes.length === 0 && <p class="muted">No agent has reported yet.</p>}
      {nodes.data && nodes.data.nodes.map((n) => <NodeCard n={n} now={now} />)}
      <div class="toolbar">
        <h1>Containers</h1>
        <label class="check"><input type="checkbox" id="c-all" checked={all} onChange={(e) => navigate('/nodes' + (e.target.checked ? '?all=1' : ''))} /> include stopped</label>
      </div>
      {ctrs.error && <Failed error={ctrs.error} />}
      {ctrs.data && (ctrs.data.containers.length === 0 ? <p class="muted">No container.</p> : (
        <table class="containers">
          <thead><tr><th>Container</th><th>Node</th><th>Image</th><th>Pod</th><th>Protection</th><th>Why</th><th>Controls: state and mechanism</th><th>Last change</th></tr></thead>
          <tbody>
            {ctrs.data.containers.map((r) => {
              const st = r.state || {};
              const c = st.container || {};
              const bad = st.running && notEnforced(st);
              return (
                <tr class={bad ? 'bad' : ''} data-container={c.name}>
                  <td><FilterLink k="container" v={c.name || r.id}>{c.name || shortID(r.id)}</FilterLink><small class="muted">{shortID(r.id)}{st.running ? '' : ' · stopped'}</small></td>
                  <td>{r.cluster}/{r.node}</td>
                  <td>{c.image}</td>
                  <td>{c.pod ? `${c.pod.namespace}/${c.pod.name}` : ''}</td>
                  <td><span class={'prot prot-' + st.protection + (bad ? ' red' : '')}>{bad ? `${st.protection}: NOT ENFORCED` : st.protection}</span></td>
                  <td>{st.reason}</td>
                  <td><Enforcement st={st} /></td>
                  <td>{fmtTime(r.last_seen)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ))}
    </section>
  );
}

function NodeCard({ n, now }) {
  const hb = n.heartbeat || {};
  const stale = now - new Date(n.last_seen) > STALE_MS;
  const c = hb.counters || {};
  const pub = hb.console || {};
  return (
    <section class={'card node' + (stale ? ' bad' : '')} data-node={n.node}>
      <h2>{n.cluster}/{n.node} {stale ? <span class="badge red">stopped reporting {fmtAgo(n.last_seen, now)}</span> : <span class="badge ok">reporting</span>}</h2>
      <dl class="kv inline">
        <dt>Version</dt><dd>{hb.version}</dd>
        <dt>Kernel</dt><dd>{hb.kernel}</dd>
        <dt>Last seen</dt><dd>{fmtTime(n.last_seen)} ({fmtAgo(n.last_seen, now)})</dd>
        <dt>Agent started</dt><dd>{fmtTime(hb.started)}</dd>
        <dt>Events / alerts</dt><dd>{c.events} / {c.alerts}</dd>
        <dt>Dropped</dt><dd class={c.ring_buffer_dropped || pub.dropped ? 'error' : ''}>ring buffer {c.ring_buffer_dropped || 0}, to the console {pub.dropped || 0}, spooled {pub.spool_bytes || 0} bytes</dd>
        <dt>Policies</dt><dd>{(hb.policies || []).map((p) => <span class="ctl">{p.name} ({p.mode}, {p.source} {p.version})</span>)}{hb.policy_error && <span class="error"> reload failed: {hb.policy_error}</span>}</dd>
      </dl>
      {(hb.drops || []).length > 0 && <ul class="error">{hb.drops.map((d) => <li>{d}</li>)}</ul>}
      <table class="caps">
        <thead><tr><th>Control</th><th>Mechanism</th><th>Effect, or why degraded</th></tr></thead>
        <tbody>
          {(hb.capabilities || []).map((k) => (
            <tr class={k.degraded ? 'bad' : ''}><td>{k.name}</td><td>{k.mechanism || <span class="error">none</span>}</td><td>{k.effect}</td></tr>
          ))}
        </tbody>
      </table>
      <p><a href={'/feed' + qs({ node: n.node })} onClick={(e) => { e.preventDefault(); navigate('/feed' + qs({ node: n.node })); }}>alerts of {n.node}</a></p>
    </section>
  );
}
