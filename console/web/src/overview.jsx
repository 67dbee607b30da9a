// overview.jsx: what happened over a period, at a glance: counts over
// time by priority, source and rule; the top workloads, rules and nodes;
// the MITRE tactics seen; and what is new in the last 24 hours.
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { Bars, StackedBars } from './chart.jsx';
import { TACTICS, tacticName } from './filters.js';
import { Link, navigate } from './router.jsx';
import { Failed, Loading, PRIORITIES, title } from './util.jsx';

const RANGES = { '1h': [3600e3, 60e3, '1m'], '6h': [6 * 3600e3, 10 * 60e3, '10m'], '24h': [24 * 3600e3, 3600e3, '1h'], '168h': [7 * 86400e3, 6 * 3600e3, '6h'] };
const PRIO_COLORS = { Emergency: '#7b241c', Alert: '#922b21', Critical: '#c0392b', Error: '#e67e22', Warning: '#d4ac0d', Notice: '#2e86c1', Informational: '#7fb3d5', Debug: '#aab7b8' };

function top(counts, n = 8) {
  return counts.slice().sort((a, b) => b.count - a.count).slice(0, n);
}

export function Overview({ query }) {
  title('Overview');
  const range = RANGES[query.get('range')] ? query.get('range') : '24h';
  const cluster = query.get('cluster') || '';
  const [span, bucketMs, bucket] = RANGES[range];
  const [st, set] = useState({ loading: true });
  useEffect(() => {
    let live = true;
    // Buckets aligned to the bucket size, as the API aligns them.
    const to = Math.ceil(Date.now() / bucketMs) * bucketMs;
    const from = to - span;
    const since = new Date(from).toISOString();
    const base = { since, cluster };
    const c = (by, extra = {}) => api('/api/v1/counts' + qs({ ...base, by, ...extra })).then((r) => r.counts);
    const day = 86400e3;
    const now = Date.now();
    Promise.all([
      c('priority', { bucket }), c('source', { bucket }), c('rule', { bucket }),
      c('rule'), c('container'), c('namespace'), c('node'), c('tag'),
      api('/api/v1/counts' + qs({ by: 'rule', cluster, since: new Date(now - day).toISOString() })).then((r) => r.counts),
      api('/api/v1/counts' + qs({ by: 'rule', cluster, since: new Date(now - 8 * day).toISOString(), until: new Date(now - day).toISOString() })).then((r) => r.counts),
      api('/api/v1/counts' + qs({ by: 'container', cluster, since: new Date(now - day).toISOString() })).then((r) => r.counts),
      api('/api/v1/counts' + qs({ by: 'container', cluster, since: new Date(now - 8 * day).toISOString(), until: new Date(now - day).toISOString() })).then((r) => r.counts),
    ]).then(([prio, source, ruleT, rules, containers, namespaces, nodes, tags, rDay, rBefore, cDay, cBefore]) => {
      if (!live) return;
      const before = new Set(rBefore.map((r) => r.value));
      const cb = new Set(cBefore.map((r) => r.value));
      set({ from, to, prio, source, ruleT, rules, containers, namespaces, nodes, tags,
        newRules: rDay.filter((r) => !before.has(r.value)), newContainers: cDay.filter((r) => r.value && !cb.has(r.value)) });
    }, (error) => live && set({ error }));
    return () => { live = false; };
  }, [range, cluster]);

  const setQ = (k, v) => {
    const p = new URLSearchParams(location.search);
    if (v) p.set(k, v); else p.delete(k);
    navigate('/overview?' + p);
  };
  const feed = (k, extra = {}) => (v) => '/feed' + qs({ [k]: v, since: range, cluster, ...extra });
  const header = (
    <div class="toolbar">
      <h1>Overview</h1>
      <label>Period <select id="o-range" value={range} onChange={(e) => setQ('range', e.target.value)}>
        {Object.keys(RANGES).map((r) => <option value={r}>{r === '168h' ? 'last 7 days' : 'last ' + r}</option>)}
      </select></label>
      <label>Cluster <input id="o-cluster" defaultValue={cluster} key={cluster} onChange={(e) => setQ('cluster', e.target.value.trim())} /></label>
    </div>
  );
  if (st.error) return <section>{header}<Failed error={st.error} /></section>;
  if (st.loading) return <section>{header}<Loading /></section>;
  const values = (counts, order) => {
    const seen = [...new Set(counts.map((c) => c.value))];
    return order ? order.filter((v) => seen.includes(v)) : seen;
  };
  const topRules = top(st.rules, 6).map((r) => r.value);
  const ruleT = st.ruleT.map((c) => topRules.includes(c.value) ? c : { ...c, value: 'other rules' });
  const total = st.prio.reduce((a, c) => a + c.count, 0);
  const tactics = st.tags.filter((t) => TACTICS.includes(t.value));
  const techniques = st.tags.filter((t) => /^T\d{4}/.test(t.value));
  const chart = (counts, order, label, colors) => (
    <StackedBars counts={counts} from={st.from} to={st.to} bucketMs={bucketMs} values={values(counts, order)} colors={colors} label={label} />
  );
  return (
    <section class="overview">
      {header}
      <p class="big-number"><strong>{total}</strong> alerts in the period</p>
      <div class="grid">
        <div class="card"><h2>By priority</h2>{chart(st.prio, PRIORITIES, 'alerts by priority over time', PRIO_COLORS)}</div>
        <div class="card"><h2>By source</h2>{chart(st.source, null, 'alerts by source over time')}</div>
        <div class="card"><h2>By rule</h2>{chart(ruleT, [...topRules, 'other rules'], 'alerts by rule over time')}</div>
        <div class="card"><h2>Top rules</h2><Bars Link={Link} rows={top(st.rules)} href={feed('rule')} /></div>
        <div class="card"><h2>Top workloads</h2>
          <h3>Containers</h3><Bars Link={Link} rows={top(st.containers).filter((r) => r.value)} href={feed('container')} empty="no container alerts" />
          <h3>Namespaces</h3><Bars Link={Link} rows={top(st.namespaces).filter((r) => r.value)} href={feed('namespace')} empty="no Kubernetes namespace" />
        </div>
        <div class="card"><h2>Top nodes</h2><Bars Link={Link} rows={top(st.nodes)} href={feed('node')} /></div>
        <div class="card"><h2>MITRE ATT&amp;CK tactics</h2>
          <Bars Link={Link} rows={tactics.map((t) => ({ ...t, label: tacticName(t.value) }))} href={feed('tag')} empty="no tactic tagged" />
          <h3>Techniques</h3><Bars Link={Link} rows={top(techniques, 10)} href={feed('tag')} empty="no technique tagged" />
        </div>
        <div class="card new"><h2>New in the last 24 h</h2>
          <h3>Rules not seen in the 7 days before</h3><Bars Link={Link} rows={st.newRules} href={feed('rule', { since: '24h' })} empty="nothing new" />
          <h3>Containers not seen in the 7 days before</h3><Bars Link={Link} rows={st.newContainers} href={feed('container', { since: '24h' })} empty="nothing new" />
        </div>
      </div>
    </section>
  );
}
