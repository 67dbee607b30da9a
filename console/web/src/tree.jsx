// tree.jsx: processes drawn as a tree from their ids and parent ids, so
// that ancestries from several alerts join where they share a process.
import { FilterLink } from './util.jsx';

// buildForest takes processes (any order, duplicates allowed) and returns
// the roots, each with its children.
export function buildForest(procs) {
  const byID = new Map();
  for (const p of procs) {
    const id = p.id || `pid:${p.pid}`;
    const have = byID.get(id);
    if (!have) byID.set(id, { p: { ...p, id }, children: [], marks: new Set(p.marks || []) });
    else {
      (p.marks || []).forEach((m) => have.marks.add(m));
      if (!have.p.exe && p.exe) have.p = { ...p, id };
    }
  }
  const roots = [];
  for (const n of byID.values()) {
    const parent = n.p.parent_id && byID.get(n.p.parent_id);
    if (parent && parent !== n) parent.children.push(n); else roots.push(n);
  }
  return roots;
}

// ancestryChain turns an alert's process (with ancestors, nearest first)
// into a list of processes whose parent ids chain, root first.
export function ancestryChain(proc, mark) {
  if (!proc) return [];
  const chain = [{ ...proc, ancestors: undefined, marks: mark ? [mark] : [] }, ...(proc.ancestors || [])];
  for (let i = 0; i < chain.length - 1; i++) {
    if (!chain[i].parent_id) chain[i] = { ...chain[i], parent_id: chain[i + 1].id || `pid:${chain[i + 1].pid}` };
    if (!chain[i + 1].id) chain[i + 1] = { ...chain[i + 1], id: `pid:${chain[i + 1].pid}` };
  }
  return chain.reverse();
}

export function ProcessTree({ roots, label }) {
  if (!roots.length) return <p class="muted">No process recorded.</p>;
  return <ul class="tree" role="tree" aria-label={label}>{roots.map((n) => <Node n={n} />)}</ul>;
}

function Node({ n }) {
  const p = n.p;
  const acting = n.marks.size > 0;
  return (
    <li role="treeitem" aria-expanded={n.children.length ? 'true' : undefined}>
      <div class={'proc' + (acting ? ' acting' : '')} data-pid={p.pid} data-name={p.name} tabindex="0">
        <span class="pname">{p.name || '?'}</span>
        <span class="pid">pid {p.pid}</span>
        {p.exe && <code class="exe"><FilterLink k="q" v={p.exe} /></code>}
        <span class="user">uid {p.uid}{p.euid !== undefined && p.euid !== p.uid ? ` (euid ${p.euid})` : ''}</span>
        {p.exe_upper_layer && <span class="badge red" title="the executable is on the container's writable layer: it was not in the image">upper layer</span>}
        {p.exe_from_memfd && <span class="badge red">from memfd</span>}
        {p.exe_deleted && <span class="badge red">deleted</span>}
        {[...n.marks].map((m) => <span class="badge">{m}</span>)}
        {p.args && p.args.length > 0 && <div class="args"><code>{p.args.join(' ')}{p.args_truncated ? ' …' : ''}</code></div>}
      </div>
      {n.children.length > 0 && <ul role="group">{n.children.map((c) => <Node n={c} />)}</ul>}
    </li>
  );
}
