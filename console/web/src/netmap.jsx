// netmap.jsx: the network map. Workloads and the addresses they connect
// to, per namespace: an edge per destination port, coloured by verdict
// (allowed, refused by a policy, new since the workload's profile became
// stable), from the connections the agents count per minute. The API
// keeps the busiest edges when there are more than the limit.
import { useState } from 'preact/hooks';
import { qs } from './api.js';
import { navigate } from './router.jsx';
import { Failed, Loading, title, useAPI } from './util.jsx';

const COLOURS = { allowed: '#1e7b4f', refused: '#b3261e', new: '#c25e00' };
const COL_W = 440, ROW_H = 58, BOX_W = 230, BOX_H = 40, PAD = 16;

// layout puts each node in a column by its longest path from a node no
// edge points to, and rows in the order of their names.
function layout(nodes, edges) {
  const depth = new Map(nodes.map((n) => [n.id, 0]));
  for (let pass = 0; pass < nodes.length; pass++) {
    let moved = false;
    for (const e of edges) {
      if (e.source === e.target) continue;
      const d = depth.get(e.source) + 1;
      if (d > depth.get(e.target) && d < nodes.length) { depth.set(e.target, d); moved = true; }
    }
    if (!moved) break;
  }
  const cols = [];
  for (const n of [...nodes].sort((a, b) => a.name.localeCompare(b.name))) {
    const d = depth.get(n.id);
    (cols[d] ||= []).push(n);
  }
  const pos = new Map();
  cols.forEach((col, c) => col.forEach((n, r) => pos.set(n.id, { x: PAD + c * COL_W, y: PAD + r * ROW_H })));
  const width = PAD * 2 + Math.max(cols.length - 1, 0) * COL_W + BOX_W;
  const height = PAD * 2 + Math.max(...cols.map((c) => c.length), 1) * ROW_H;
  return { pos, width, height };
}

function Graph({ data }) {
  const { nodes, edges } = data;
  const { pos, width, height } = layout(nodes, edges);
  // Parallel edges between one pair are spread apart.
  const seen = new Map();
  return (
    <svg class="netmap" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img"
      aria-label={`network map: ${nodes.length} nodes, ${edges.length} edges`}>
      <defs>
        {Object.entries(COLOURS).map(([v, c]) => (
          <marker id={'arrow-' + v} viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" fill={c} />
          </marker>
        ))}
      </defs>
      {edges.map((e) => {
        const a = pos.get(e.source), b = pos.get(e.target);
        if (!a || !b) return null;
        const pair = e.source + '>' + e.target;
        const k = seen.get(pair) || 0;
        seen.set(pair, k + 1);
        const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2, x2 = b.x, y2 = b.y + BOX_H / 2;
        const bend = (k - 0.5) * 22 * (k % 2 ? 1 : -1);
        const mx = (x1 + x2) / 2, my = (y1 + y2) / 2 + bend;
        const label = `${e.port}/${e.protocol}${e.dns ? ' ' + e.dns : ''} ×${e.count}`;
        // The label sits on the curve nearer its destination, where
        // edges from one source have drawn apart.
        const u = 0.68, lx = (1 - u) ** 2 * x1 + 2 * (1 - u) * u * mx + u * u * x2, ly = (1 - u) ** 2 * y1 + 2 * (1 - u) * u * my + u * u * y2;
        return (
          <g class="edge" data-source={e.source} data-target={e.target} data-port={e.port} data-verdict={e.verdict}>
            <title>{`${label}: ${e.verdict}, ${e.first} to ${e.last}`}</title>
            <path d={`M ${x1} ${y1} Q ${mx} ${my} ${x2} ${y2}`} fill="none" stroke={COLOURS[e.verdict] || '#777'} stroke-width={e.verdict === 'allowed' ? 1.6 : 2.4}
              stroke-dasharray={e.verdict === 'new' ? '6 4' : undefined} marker-end={`url(#arrow-${e.verdict})`} />
            <text x={lx} y={ly - 4} text-anchor="middle" class="label" fill={COLOURS[e.verdict] || '#777'}>{label}</text>
          </g>
        );
      })}
      {nodes.map((n) => {
        const p = pos.get(n.id);
        return (
          <g class={'node node-' + n.kind} data-id={n.id} data-name={n.name} transform={`translate(${p.x},${p.y})`}>
            <rect width={BOX_W} height={BOX_H} rx="6" />
            <text x="8" y="16" class="name">{n.name.length > 32 ? n.name.slice(0, 31) + '…' : n.name}</text>
            <text x="8" y="32" class="sub">{n.kind === 'workload' ? `workload · ${n.state}` : (n.dns || 'address')}</text>
          </g>
        );
      })}
    </svg>
  );
}

export function NetworkMap({ query }) {
  title('Network map');
  const f = { namespace: query.get('namespace') || '', workload: query.get('workload') || '', since: query.get('since') || '1h',
    limit: query.get('limit') || '300' };
  const [draft, setDraft] = useState(f);
  const r = useAPI('/api/v1/netmap' + qs(f));
  const apply = (e) => { e.preventDefault(); navigate('/map' + qs(draft)); };
  return (
    <section>
      <h1>Network map</h1>
      <form class="toolbar" onSubmit={apply}>
        <label>Namespace <input id="nm-namespace" value={draft.namespace} onInput={(e) => setDraft({ ...draft, namespace: e.target.value })} placeholder="all" /></label>
        <label>Workload <input id="nm-workload" value={draft.workload} onInput={(e) => setDraft({ ...draft, workload: e.target.value })} placeholder="any" /></label>
        <label>Period <select id="nm-since" value={draft.since} onChange={(e) => setDraft({ ...draft, since: e.target.value })}>
          {['15m', '1h', '6h', '24h', '168h'].map((s) => <option value={s}>{s}</option>)}</select></label>
        <label>At most <input id="nm-limit" type="number" min="1" max="5000" value={draft.limit} onInput={(e) => setDraft({ ...draft, limit: e.target.value })} /> edges</label>
        <button type="submit">Show</button>
        <span class="legend">{Object.entries(COLOURS).map(([v, c]) => <span style={{ color: c }}>■ {v === 'new' ? 'new since profile' : v}</span>)}</span>
      </form>
      {r.error && <Failed error={r.error} />}
      {r.loading && !r.data && <Loading />}
      {r.data && (r.data.edges.length === 0
        ? <p class="muted">No connection in this period{f.namespace ? ` in namespace ${f.namespace}` : ''}: agents count them with <code>mamori agent --learn</code>.</p>
        : <>
          <p class="muted" id="nm-summary">{r.data.nodes.length} nodes, {r.data.edges.length} edges
            {r.data.truncated ? ` (the busiest ${r.data.edges.length} of ${r.data.total_edges}: narrow by namespace or workload)` : ''}</p>
          <div class="netmap-wrap"><Graph data={r.data} /></div>
        </>)}
    </section>
  );
}
