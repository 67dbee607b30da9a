// feed.jsx: alerts as they arrive, with every filter in the URL and
// repeats folded into one row (×N, first and last time).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from './api.js';
import { ACTIONS, FILTERS, PRIORITIES_FILTER, RANGES, SOURCES, readFilters } from './filters.js';
import { navigate } from './router.jsx';
import { Action, Failed, fmtAgo, fmtTime, Priority, shortID, title, workloadOf } from './util.jsx';

const PAGE = 100;
const MAX_ROWS = 5000;
// After a broken live stream, at most this many pages are read back.
const CATCH_UP_PAGES = 10;

// foldKey is what makes two alerts repeats of each other, as agents fold
// them: the same rule, container (or host), program and action.
function foldKey(a) {
  const c = a.container ? a.container.id : 'host:' + a.hostname;
  return [a.rule, a.cluster, c, a.process ? a.process.exe : '', a.action].join('\u0000');
}

function fold(alerts, on) {
  const out = [];
  const byKey = new Map();
  for (const a of alerts) {
    const n = a.count > 1 ? a.count : 1;
    const first = a.first_time || a.time;
    const last = a.last_time || a.time;
    const k = on ? foldKey(a) : a.uuid;
    const g = byKey.get(k);
    if (!g) {
      const ng = { a, count: n, first, last, key: k };
      byKey.set(k, ng);
      out.push(ng);
    } else {
      g.count += n;
      if (first < g.first) g.first = first;
      if (last > g.last) g.last = last;
    }
  }
  return out;
}

function byTimeDesc(x, y) {
  return x.time < y.time ? 1 : x.time > y.time ? -1 : x.uuid < y.uuid ? 1 : -1;
}

export function Feed({ query }) {
  const filters = readFilters(query);
  const foldOn = query.get('fold') !== '0';
  const key = qs(filters);
  title('Feed');
  const [st, set] = useState({ alerts: [], loading: true });
  const [live, setLive] = useState('connecting');
  const [dropped, setDropped] = useState(0);
  const [gap, setGap] = useState(false);
  const seen = useRef(new Set());
  const listRef = useRef(null);
  const pendingMark = useRef(false);

  useEffect(() => {
    let closed = false;
    seen.current = new Set();
    set({ alerts: [], loading: true });
    setDropped(0);
    setGap(false);
    let es = null;
    const add = (list) => {
      const fresh = list.filter((a) => !seen.current.has(a.uuid));
      fresh.forEach((a) => seen.current.add(a.uuid));
      return fresh;
    };
    if (!filters.until) {
      const { since, until, ...streamFilters } = filters;
      es = new EventSource('/api/v1/stream' + qs(streamFilters));
      let broken = false;
      // The stream only carries what is stored while it is open: the
      // alerts stored while it was broken (a network change, a console
      // restart) are read back, newest first, page by page until one this
      // view already holds, so that the live view misses none.
      const catchUp = (cursor, pages) => {
        api('/api/v1/alerts' + qs({ ...filters, limit: PAGE, cursor })).then((page) => {
          if (closed) return;
          const fresh = add(page.alerts);
          if (fresh.length) set((s) => ({ ...s, alerts: [...fresh, ...s.alerts].sort(byTimeDesc).slice(0, MAX_ROWS) }));
          if (fresh.length < page.alerts.length || !page.next) return;
          if (pages >= CATCH_UP_PAGES) setGap(true);
          else catchUp(page.next, pages + 1);
        }, () => !closed && setTimeout(() => catchUp(cursor, pages), 2000));
      };
      es.onopen = () => {
        setLive('live');
        if (broken) {
          broken = false;
          catchUp('', 1);
        }
      };
      es.onerror = () => {
        broken = true;
        setLive(es.readyState === EventSource.CLOSED ? 'stopped' : 'reconnecting');
      };
      es.addEventListener('alert', (m) => {
        let a;
        try { a = JSON.parse(m.data); } catch { return; }
        if (!add([a]).length) return;
        set((s) => ({ ...s, alerts: [a, ...s.alerts].sort(byTimeDesc).slice(0, MAX_ROWS) }));
      });
      es.addEventListener('dropped', (m) => {
        try { setDropped(JSON.parse(m.data).dropped); } catch { /* ignore */ }
      });
    } else {
      setLive('off');
    }
    api('/api/v1/alerts' + qs({ ...filters, limit: PAGE })).then((page) => {
      if (closed) return;
      const fresh = add(page.alerts);
      pendingMark.current = true;
      set((s) => ({ alerts: [...s.alerts, ...fresh].sort(byTimeDesc), next: page.next || '', loading: false, loadedKey: key }));
    }, (error) => !closed && set({ alerts: [], error, loading: false, loadedKey: key }));
    return () => { closed = true; if (es) es.close(); };
  }, [key]);

  useEffect(() => {
    // The browser has the rows once this runs: what the benchmark in
    // docs/benchmarks.md reads.
    if (pendingMark.current && !st.loading) {
      pendingMark.current = false;
      requestAnimationFrame(() => {
        window.__mamoriFeed = { key, renderedAt: performance.now(), rows: st.alerts.length };
        performance.mark('mamori-feed-rendered');
      });
    }
  });

  const more = () => {
    api('/api/v1/alerts' + qs({ ...filters, limit: PAGE, cursor: st.next })).then((page) => {
      const fresh = page.alerts.filter((a) => !seen.current.has(a.uuid));
      fresh.forEach((a) => seen.current.add(a.uuid));
      set((s) => ({ ...s, alerts: [...s.alerts, ...fresh], next: page.next || '' }));
    }, (error) => set((s) => ({ ...s, error })));
  };

  const setFilter = (k, v) => {
    const p = new URLSearchParams(location.search);
    if (v) p.set(k, v); else p.delete(k);
    navigate('/feed' + (p.toString() ? '?' + p : ''));
  };

  useEffect(() => {
    const onKey = (e) => {
      const tag = (e.target.tagName || '').toLowerCase();
      if (tag === 'input' || tag === 'select' || tag === 'textarea' || e.ctrlKey || e.metaKey || e.altKey) return;
      const rows = [...(listRef.current?.querySelectorAll('tr.alert-row') || [])];
      const i = rows.indexOf(document.activeElement);
      if (e.key === 'j' || e.key === 'ArrowDown') {
        e.preventDefault();
        rows[Math.min(i + 1, rows.length - 1)]?.focus();
      } else if (e.key === 'k' || e.key === 'ArrowUp') {
        e.preventDefault();
        rows[Math.max(i - 1, 0)]?.focus();
      } else if (e.key === '/') {
        e.preventDefault();
        document.getElementById('f-q')?.focus();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const groups = fold(st.alerts, foldOn);
  const now = Date.now();
  return (
    <section class="feed" data-ready={!st.loading && st.loadedKey === key ? 'true' : 'false'} data-search={!st.loading && st.loadedKey === key ? location.search : ''}>
      <FilterBar filters={filters} setFilter={setFilter} foldOn={foldOn} />
      <div class="feed-status" aria-live="polite">
        <span class={'live live-' + live} data-live={live}>{live === 'live' ? '● live' : live === 'off' ? 'not live (an end time is set)' : live}</span>
        <span>{st.loading ? 'loading…' : `${groups.length} rows, ${st.alerts.length} alerts`}</span>
        {dropped > 0 && <span class="error">{dropped} live alerts were dropped: this view is behind</span>}
        {gap && <span class="error">more alerts arrived while the live stream was broken than this view read back: reload to see them all</span>}
      </div>
      {st.error && <Failed error={st.error} />}
      <table class="alerts" ref={listRef}>
        <thead>
          <tr><th>Last seen</th><th>Priority</th><th>Rule</th><th>×</th><th>Workload</th><th>Node</th><th>Action</th><th class="wide">Output</th></tr>
        </thead>
        <tbody>
          {groups.map((g) => <Row key={g.key} g={g} now={now} setFilter={setFilter} />)}
        </tbody>
      </table>
      {!st.loading && groups.length === 0 && !st.error && <p class="muted empty">No alerts match. Alerts that arrive will show here.</p>}
      {st.next && <button class="more" onClick={more}>Older alerts</button>}
    </section>
  );
}

function Row({ g, now, setFilter }) {
  const a = g.a;
  const open = () => navigate('/alerts/' + encodeURIComponent(a.uuid));
  const f = (k, v, text) => v ? (
    <button type="button" class="cell-filter" title={`filter: ${k} = ${v}`}
      onClick={(e) => { e.stopPropagation(); setFilter(k, v); }}>{text ?? v}</button>
  ) : null;
  const c = a.container;
  return (
    <tr class={'alert-row prio-row-' + String(a.priority).toLowerCase()} tabindex="0" data-uuid={a.uuid} data-rule={a.rule} data-namespace={c && c.pod ? c.pod.namespace : ''}
      onClick={open} onKeyDown={(e) => { if (e.key === 'Enter' && e.target === e.currentTarget) open(); }}>
      <td class="time" title={`first ${fmtTime(g.first)}, last ${fmtTime(g.last)}`}>
        <span>{fmtTime(g.last)}</span>
        <small class="muted">{fmtAgo(g.last, now)}</small>
      </td>
      <td>{f('priority', a.priority, <Priority p={a.priority} />)}</td>
      <td class="rule">{f('rule', a.rule)}</td>
      <td class="count">{g.count > 1 ? <span class="fold" title={`${g.count} times from ${fmtTime(g.first)} to ${fmtTime(g.last)}`}>×{g.count}</span> : ''}</td>
      <td class="workload">
        {c && c.pod ? <>{f('namespace', c.pod.namespace)}/{f('pod', c.pod.name)}</> : c && c.id !== 'host' ? f('container', c.name || shortID(c.id)) : <span class="muted">host</span>}
        {c && c.image ? <small>{f('image', c.image)}</small> : null}
      </td>
      <td>{f('node', a.hostname)}</td>
      <td>{f('action', a.action, <Action a={a.action} />)}</td>
      <td class="output"><span>{a.output}</span></td>
    </tr>
  );
}

function FilterBar({ filters, setFilter, foldOn }) {
  const text = (k, label, placeholder) => (
    <label class="fl">
      <span>{label}</span>
      <input id={'f-' + k} name={k} key={k + '=' + (filters[k] || '')} defaultValue={filters[k] || ''} placeholder={placeholder || ''}
        onChange={(e) => setFilter(k, e.target.value.trim())} />
    </label>
  );
  const select = (k, label, options) => (
    <label class="fl">
      <span>{label}</span>
      <select id={'f-' + k} name={k} value={filters[k] || ''} onChange={(e) => setFilter(k, e.target.value)}>
        <option value="">any</option>
        {options.map(([v, l]) => <option value={v}>{l}</option>)}
        {filters[k] && !options.some(([v]) => v === filters[k]) && <option value={filters[k]}>{filters[k]}</option>}
      </select>
    </label>
  );
  const active = FILTERS.filter(({ k }) => filters[k]);
  return (
    <form class="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filters">
      <label class="fl">
        <span>Time</span>
        <select id="f-since" value={filters.since || ''} onChange={(e) => setFilter('since', e.target.value)}>
          {RANGES.map(([v, l]) => <option value={v}>{l}</option>)}
          {filters.since && !RANGES.some(([v]) => v === filters.since) && <option value={filters.since}>since {filters.since}</option>}
        </select>
      </label>
      {text('until', 'Until', 'RFC 3339 or 1h')}
      {text('cluster', 'Cluster')}
      {text('node', 'Node')}
      {text('namespace', 'Namespace')}
      {text('pod', 'Pod')}
      {text('container', 'Container', 'name or id')}
      {text('image', 'Image')}
      {text('rule', 'Rule')}
      {select('priority', 'Priority ≥', PRIORITIES_FILTER.map((p) => [p, p]))}
      {select('source', 'Source', SOURCES)}
      {select('action', 'Action', ACTIONS.map((a) => [a, a]))}
      {text('tag', 'MITRE', 'T1059, mitre_execution')}
      {text('q', 'Text', 'press / to search')}
      <label class="fl check">
        <input type="checkbox" id="f-fold" checked={foldOn} onChange={(e) => setFilter('fold', e.target.checked ? '' : '0')} />
        <span>fold repeats</span>
      </label>
      {active.length > 0 && (
        <div class="chips" aria-label="Active filters">
          {active.map(({ k, label }) => (
            <button type="button" class="chip" onClick={() => setFilter(k, '')} title="remove this filter">
              {label}: {filters[k]} ×
            </button>
          ))}
          <button type="button" class="chip clear" onClick={() => navigate('/feed')}>clear all</button>
        </div>
      )}
    </form>
  );
}
