// chart.jsx: counts over time as stacked bars, drawn as SVG. The charts
// are only bars per bucket; a library would bring more than it saves.
const PALETTE = ['#c0392b', '#e67e22', '#d4ac0d', '#2e86c1', '#16a085', '#8e44ad', '#7f8c8d', '#a04000', '#1f618d', '#117a65'];

export function colorOf(value, values, fixed) {
  if (fixed && fixed[value]) return fixed[value];
  const i = values.indexOf(value);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}

// StackedBars draws counts [{bucket, value, count}] per bucket, one colour
// per value; buckets without alerts are drawn empty.
export function StackedBars({ counts, from, to, bucketMs, values, colors, label }) {
  const W = 600, H = 160, L = 34, B = 18, T = 8;
  const n = Math.max(1, Math.round((to - from) / bucketMs));
  const per = Array.from({ length: n }, () => new Map());
  for (const c of counts) {
    const i = Math.floor((new Date(c.bucket) - from) / bucketMs);
    if (i >= 0 && i < n) per[i].set(c.value, (per[i].get(c.value) || 0) + c.count);
  }
  const totals = per.map((m) => [...m.values()].reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const bw = (W - L) / n;
  const y = (v) => T + (H - B - T) * (1 - v / max);
  const ticks = [0, Math.round(max / 2), max];
  const fmtHour = (t) => { const d = new Date(t); return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`; };
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label} preserveAspectRatio="none">
        {ticks.map((t) => (
          <g>
            <line x1={L} x2={W} y1={y(t)} y2={y(t)} class="grid" />
            <text x={L - 4} y={y(t) + 4} class="axis" text-anchor="end">{t}</text>
          </g>
        ))}
        {per.map((m, i) => {
          let acc = 0;
          return values.filter((v) => m.get(v)).map((v) => {
            const c = m.get(v);
            const y0 = y(acc + c), h = y(acc) - y(acc + c);
            acc += c;
            return (
              <rect x={L + i * bw + 0.5} y={y0} width={Math.max(bw - 1, 0.5)} height={h} fill={colorOf(v, values, colors)}>
                <title>{`${fmtHour(from + i * bucketMs)}: ${v} ${c}`}</title>
              </rect>
            );
          });
        })}
        {[[0, 'start'], [Math.floor(n / 2), 'middle'], [n, 'end']].map(([i, anchor]) => (
          <text x={L + i * bw} y={H - 4} class="axis" text-anchor={anchor}>{fmtHour(from + i * bucketMs)}</text>
        ))}
      </svg>
      <figcaption class="legend">
        {values.map((v) => <span><i style={{ background: colorOf(v, values, colors) }} />{v}</span>)}
      </figcaption>
    </figure>
  );
}

// Bars is a ranked list with proportional bars; each label links where
// href(value) says.
export function Bars({ rows, href, Link, empty }) {
  if (!rows.length) return <p class="muted">{empty || 'none'}</p>;
  const max = Math.max(...rows.map((r) => r.count));
  return (
    <ol class="bars">
      {rows.map((r) => (
        <li>
          <Link href={href(r.value)} title={r.value}>{r.label || r.value || '(none)'}</Link>
          <span class="bar"><i style={{ width: (100 * r.count) / max + '%' }} /></span>
          <span class="n">{r.count}</span>
        </li>
      ))}
    </ol>
  );
}
