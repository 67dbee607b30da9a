// cloud.jsx: CloudTrail and Kubernetes audit alerts, grouped by account,
// identity, region and user (Kubernetes: user, namespace, resource, verb).
import { qs } from './api.js';
import { Bars } from './chart.jsx';
import { Link, navigate } from './router.jsx';
import { Failed, Loading, title, useAPI } from './util.jsx';

const NAMES = { aws_cloudtrail: 'AWS CloudTrail', k8s_audit: 'Kubernetes audit' };

export function Cloud({ query }) {
  title('Cloud');
  const since = query.get('since') || '24h';
  const r = useAPI('/api/v1/cloud' + qs({ since }));
  return (
    <section>
      <div class="toolbar">
        <h1>Cloud</h1>
        <label>Period <select id="cl-since" value={since} onChange={(e) => navigate('/cloud?since=' + e.target.value)}>
          {['1h', '24h', '168h', '720h'].map((s) => <option value={s}>last {s === '168h' ? '7 days' : s === '720h' ? '30 days' : s}</option>)}
        </select></label>
      </div>
      {r.error && <Failed error={r.error} />}
      {r.loading && !r.data && <Loading />}
      {r.data && r.data.truncated && <p class="muted">Only the newest 20,000 alerts of each source were read.</p>}
      {r.data && r.data.sources.map((s) => (
        <section class="card">
          <h2>{NAMES[s.source] || s.source}: {s.alerts} alerts</h2>
          {s.alerts === 0 ? <p class="muted">None in the period.</p> : (
            <div class="grid">
              <div><h3>Rules</h3><Bars Link={Link} rows={s.rules.slice(0, 10)} href={(v) => '/feed' + qs({ source: s.source, rule: v, since })} /></div>
              {Object.entries(s.by).map(([k, rows]) => (
                <div><h3>{k.replace('_', ' ')}</h3><Bars Link={Link} rows={rows.slice(0, 10)} href={(v) => '/feed' + qs({ source: s.source, q: v, since })} empty="not in these alerts" /></div>
              ))}
            </div>
          )}
        </section>
      ))}
    </section>
  );
}
