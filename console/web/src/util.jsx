// util.jsx: small pieces every view uses.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Link } from './router.jsx';

const pad = (n, w = 2) => String(n).padStart(w, '0');

// fmtTime shows a time in the browser's zone, to the second.
export function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(t, now = Date.now()) {
  const s = Math.round((now - new Date(t)) / 1000);
  if (s < 60) return `${Math.max(s, 0)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

export const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'];

export function Priority({ p }) {
  return <span class={'prio prio-' + String(p || '').toLowerCase()}>{p}</span>;
}

export function Action({ a }) {
  return <span class={'action action-' + a}>{a}</span>;
}

// useAPI loads path and reloads it when path changes; reload() asks again.
export function useAPI(path) {
  const [state, set] = useState({ loading: true });
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!path) { set({ loading: false }); return; }
    let live = true;
    set((s) => ({ ...s, loading: true }));
    api(path).then((data) => live && set({ data }), (error) => live && set({ error }));
    return () => { live = false; };
  }, [path, n]);
  return { ...state, reload: () => setN((x) => x + 1) };
}

export function Failed({ error }) {
  return <p class="error" role="alert">{error.message}</p>;
}

export function Loading() {
  return <p class="muted" aria-busy="true">Loading…</p>;
}

// FilterLink opens the feed filtered by one field's value.
export function FilterLink({ k, v, children, extra }) {
  if (v === undefined || v === null || v === '') return null;
  const p = new URLSearchParams(extra || {});
  p.set(k, v);
  return <Link class="filter" href={'/feed?' + p.toString()} title={`show alerts with ${k} = ${v}`}>{children ?? String(v)}</Link>;
}

export function shortID(id) {
  if (!id) return '';
  return id.replace(/^sha256:/, '').slice(0, 12);
}

export function workloadOf(a) {
  const c = a.container;
  if (!c || c.id === 'host') return a.hostname + ' (host)';
  if (c.pod) return `${c.pod.namespace}/${c.pod.name}`;
  return c.name || shortID(c.id);
}

export function title(t) {
  useEffect(() => { document.title = t + ' · mamori'; }, [t]);
}
