// alert.jsx: one alert: every field (click to filter the feed by it), the
// process ancestry as a tree, the container's alerts and events before
// and after it, its connections, and what decided and refused.
import { api, qs } from './api.js';
import { ancestryChain, buildForest, ProcessTree } from './tree.jsx';
import { Link } from './router.jsx';
import { Action, Failed, FilterLink, fmtTime, Loading, Priority, shortID, title, useAPI } from './util.jsx';

// The capability (docs: the node's heartbeat) behind each policy control.
const CONTROL_CAPABILITY = {
  driftPrevention: 'drift prevention', executableBlocklist: 'executable blocklist', executableAllowlist: 'executable allow list', limitNewPrivileges: 'limit new privileges',
  forkGuard: 'fork guard', ipReputation: 'ip reputation', networkEgress: 'egress', portScanDetection: 'port scans', listeningPorts: 'listening ports',
};

// The output fields the API filters on directly; any other is searched
// as text.
const DIRECT = { 'k8s.ns.name': 'namespace', 'k8s.pod.name': 'pod', 'container.image': 'image', 'container.image.repository': 'image', 'container.name': 'container', 'container.id': 'container' };

export function AlertDetail({ uuid }) {
  const d = useAPI('/api/v1/alerts/' + encodeURIComponent(uuid));
  title('Alert');
  if (d.error) return <Failed error={d.error} />;
  if (!d.data) return <Loading />;
  const { alert: a, around, connections } = d.data;
  return <AlertView a={a} around={around} connections={connections} />;
}

function AlertView({ a, around, connections }) {
  const c = a.container;
  const t = new Date(a.time).getTime();
  const inContainer = c && c.id !== 'host';
  const near = useAPI(inContainer ? '/api/v1/alerts' + qs({ container: c.id, since: new Date(t - 15 * 60e3).toISOString(), until: new Date(t + 15 * 60e3).toISOString(), limit: 200 }) : null);
  const nodes = useAPI(a.control ? '/api/v1/nodes' : null);
  const chain = ancestryChain(a.process, 'acting');
  const fields = [
    ['rule', a.rule], ['priority', a.priority], ['source', a.source], ['action', a.action], ['node', a.hostname],
    ['cluster', a.cluster], ['namespace', c?.pod?.namespace], ['pod', c?.pod?.name], ['container', c && c.id !== 'host' ? c.name || c.id : ''],
    ['image', c?.image],
  ];
  const of = Object.entries(a.output_fields || {}).sort(([x], [y]) => (x < y ? -1 : 1));
  const timeline = [
    ...(near.data?.alerts || []).map((x) => ({ time: x.time, kind: 'alert', x })),
    ...(around || []).map((x) => ({ time: x.time, kind: 'event', x })),
  ].sort((x, y) => (x.time < y.time ? -1 : 1));
  const hb = nodes.data?.nodes?.find((n) => n.node === a.hostname && (!a.cluster || n.cluster === a.cluster));
  const capWord = CONTROL_CAPABILITY[a.control];
  const caps = (hb?.heartbeat?.capabilities || []).filter((k) => capWord && k.name.toLowerCase().includes(capWord));
  return (
    <article class="alert-detail">
      <p><Link href="/feed">← feed</Link></p>
      <h1><Priority p={a.priority} /> {a.rule} {a.count > 1 && <span class="fold">×{a.count}</span>}</h1>
      <p class="output">{a.output}</p>
      <p class="muted">
        {fmtTime(a.time)}{a.count > 1 && <> — {a.count} times from {fmtTime(a.first_time)} to {fmtTime(a.last_time)}</>} · <Action a={a.action} /> · uuid <code>{a.uuid}</code>
      </p>
      <div class="grid two">
        <section class="card">
          <h2>Fields</h2>
          <table class="fields">
            <tbody>
              {fields.filter(([, v]) => v).map(([k, v]) => <tr><th>{k}</th><td><FilterLink k={k} v={v} /></td></tr>)}
              {(a.tags || []).length > 0 && <tr><th>tags</th><td class="tags">{a.tags.map((g) => <FilterLink k="tag" v={g} />)}</td></tr>}
              {of.map(([k, v]) => (
                <tr><th><code>{k}</code></th><td>{v === null || v === '' ? <span class="muted">—</span> : <FilterLink k={DIRECT[k] || 'q'} v={String(v)} />}</td></tr>
              ))}
            </tbody>
          </table>
        </section>
        <section class="card">
          <h2>Decision</h2>
          {a.policy || a.control ? (
            <dl class="kv">
              <dt>Policy</dt><dd>{a.policy ? <Link href="/policies">{a.policy}</Link> : '—'}</dd>
              <dt>Control</dt><dd>{a.control || '—'}</dd>
              <dt>Action</dt><dd><Action a={a.action} /></dd>
              <dt>Mechanism on {a.hostname}</dt>
              <dd>{caps.length ? caps.map((k) => (
                <div class={k.degraded ? 'error' : ''}>{k.mechanism || 'none'}{k.effect ? ` — ${k.effect}` : ''}</div>
              )) : <span class="muted">{nodes.loading ? 'loading…' : 'not reported by the node'}</span>}</dd>
            </dl>
          ) : <p>A detection rule matched ({a.source}); no policy control was involved, nothing was refused.</p>}
          <h2>Process ancestry</h2>
          <ProcessTree roots={buildForest(chain)} label="process ancestry" />
        </section>
      </div>
      <section class="card">
        <h2>Timeline of {inContainer ? <>container <FilterLink k="container" v={c.name || c.id} /> ({shortID(c.id)})</> : 'the host'}, 15 min before and after</h2>
        {near.loading && <Loading />}
        <ol class="timeline">
          {timeline.map((e) => (
            <li class={'tl-' + e.kind + (e.kind === 'alert' && e.x.uuid === a.uuid ? ' this' : '')}>
              <time>{fmtTime(e.time)}</time>
              {e.kind === 'alert' ? (
                <span>{e.x.uuid === a.uuid ? <strong>this alert: {e.x.rule}</strong> : <Link href={'/alerts/' + e.x.uuid}>{e.x.rule}</Link>} <Priority p={e.x.priority} /> {e.x.count > 1 ? `×${e.x.count}` : ''}</span>
              ) : (
                <span>event <code>{e.x.event}</code> {e.x.process?.name} {e.x.file?.path || ''} {e.x.network ? `${e.x.network.dst_ip || ''}:${e.x.network.dst_port || ''}` : ''}</span>
              )}
            </li>
          ))}
        </ol>
        {!near.loading && timeline.length <= 1 && <p class="muted">Nothing else recorded in this window (agents send events only with --console-events).</p>}
      </section>
      <section class="card">
        <h2>Network connections</h2>
        {(connections || []).length === 0 ? <p class="muted">None recorded around this alert.</p> : (
          <table><thead><tr><th>Time</th><th>Event</th><th>Process</th><th>Destination</th></tr></thead><tbody>
            {connections.map((e) => <tr><td>{fmtTime(e.time)}</td><td>{e.event}</td><td>{e.process?.name}</td><td>{e.network ? `${e.network.dst_ip || e.network.daddr || ''}:${e.network.dst_port || e.network.dport || ''}` : ''}</td></tr>)}
          </tbody></table>
        )}
      </section>
    </article>
  );
}
