// policies.jsx: the central policy files: their YAML (validation errors
// shown on their lines), which node runs which revision, and a switch
// from audit to enforce that first names the containers it affects.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { navigate } from './router.jsx';
import { Failed, fmtTime, Loading, shortID, title, useAPI } from './util.jsx';

// enforceYAML turns every top-level "mode: audit" of the file's policies
// (spec.mode, two spaces deep) into enforce; a policy without a mode is
// in audit mode, so one is added under spec.
export function enforceYAML(y) {
  const docs = y.split(/^---[ \t]*$/m);
  return docs.map((d) => {
    if (/^ {2}mode:[ \t]*["']?audit["']?[ \t]*(#.*)?$/m.test(d)) return d.replace(/^( {2}mode:[ \t]*)["']?audit["']?/m, '$1enforce');
    if (!/^ {2}mode:/m.test(d) && /^spec:[ \t]*$/m.test(d)) return d.replace(/^spec:[ \t]*$/m, 'spec:\n  mode: enforce');
    return d;
  }).join('---');
}

function isAudit(y) {
  return y.split(/^---[ \t]*$/m).some((d) => /^spec:/m.test(d) && (/^ {2}mode:[ \t]*["']?audit/m.test(d) || !/^ {2}mode:/m.test(d)));
}

// errorLines reads "file:line:col: message" lines of the API's error.
function errorLines(msg, file) {
  const out = new Map();
  for (const l of String(msg).split('\n')) {
    const m = l.match(/^(?:.*?)([^\s:]+\.ya?ml):(\d+):(\d+): (.*)$/);
    if (m && (!file || m[1] === file)) out.set(+m[2], (out.get(+m[2]) || []).concat(`col ${m[3]}: ${m[4]}`));
  }
  return out;
}

export function Policies({ query, me }) {
  title('Policies');
  const files = useAPI('/api/v1/policies');
  const status = useAPI('/api/v1/policies/status');
  const sel = query.get('file');
  if (files.error) return <Failed error={files.error} />;
  if (!files.data) return <Loading />;
  const list = files.data.files;
  const cur = list.find((f) => f.name === sel);
  const reload = () => { files.reload(); status.reload(); };
  return (
    <section>
      <h1>Policies</h1>
      {list.length === 0 && <p class="muted">The console holds no policy file. Apply one with <code>mamori policy apply --console URL FILE</code>, or write one below.</p>}
      <table class="policies">
        <thead><tr><th>File</th><th>Revision</th><th>Policies</th><th>Mode</th><th>Updated</th></tr></thead>
        <tbody>
          {list.map((f) => (
            <tr class={f.name === sel ? 'selected' : ''} data-file={f.name}>
              <td><a href={'/policies?file=' + encodeURIComponent(f.name)} onClick={(e) => { e.preventDefault(); navigate('/policies?file=' + encodeURIComponent(f.name)); }}>{f.name}</a></td>
              <td>r{f.revision}</td>
              <td>{(f.policies || []).join(', ')}</td>
              <td>{isAudit(f.content) ? <span class="ctl ctl-audit">audit</span> : <span class="ctl ctl-enforce">enforce</span>}</td>
              <td>{fmtTime(f.updated)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <NodeVersions status={status} />
      {cur ? <PolicyFile key={cur.name + cur.revision} f={cur} me={me} reload={reload} /> : me.role === 'admin' ? <NewPolicy reload={reload} /> : null}
    </section>
  );
}

function NodeVersions({ status }) {
  if (status.error) return <Failed error={status.error} />;
  if (!status.data) return null;
  const { latest, nodes } = status.data;
  const names = Object.keys(latest).sort();
  return (
    <section class="card">
      <h2>Which node runs which revision</h2>
      {nodes.length === 0 ? <p class="muted">No node has reported.</p> : (
        <table class="versions">
          <thead><tr><th>Node</th>{names.map((n) => <th>{n} (r{latest[n]})</th>)}<th>State</th></tr></thead>
          <tbody>
            {nodes.map((n) => (
              <tr class={n.current ? '' : 'bad'} data-node={n.node}>
                <td>{n.cluster}/{n.node}</td>
                {names.map((f) => <td class={n.files[f] === latest[f] ? '' : 'error'}>{n.files[f] ? 'r' + n.files[f] : '—'}</td>)}
                <td>{n.current ? 'current' : 'STALE'}{n.policy_error && <div class="error">{n.policy_error}</div>}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Editor({ name, text, setText, errors, readOnly }) {
  const lines = text.split('\n');
  return (
    <div class="yaml">
      <ol class="yaml-lines" aria-label={'YAML of ' + name}>
        {lines.map((l, i) => (
          <li class={errors.has(i + 1) ? 'err' : ''} data-line={i + 1}>
            <code>{l || ' '}</code>
            {errors.has(i + 1) && <div class="inline-error" role="alert">{errors.get(i + 1).join('; ')}</div>}
          </li>
        ))}
      </ol>
      {!readOnly && <textarea id="policy-yaml" aria-label="edit the YAML" rows={Math.min(30, lines.length + 2)} value={text} onInput={(e) => setText(e.target.value)} spellcheck={false} />}
    </div>
  );
}

function PolicyFile({ f, me, reload }) {
  const admin = me.role === 'admin';
  const [text, setText] = useState(f.content);
  const [err, setErr] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [done, setDone] = useState('');
  const apply = (content) => api('/api/v1/policies', { body: { files: [{ name: f.name, content }] } }).then((r) => {
    setErr(null);
    setConfirm(null);
    setDone(`applied ${f.name} as revision ${r.applied[0].revision}`);
    reload();
  }, (e) => { setConfirm(null); setErr(e); });
  const askEnforce = () => {
    setErr(null);
    api('/api/v1/policies/' + encodeURIComponent(f.name) + '/containers').then((r) => setConfirm(r.containers), setErr);
  };
  const errs = err ? errorLines(err.message, f.name) : new Map();
  return (
    <section class="card">
      <h2>{f.name} <small class="muted">revision {f.revision}, {fmtTime(f.updated)}</small></h2>
      {isAudit(f.content) && (
        <p>
          <button type="button" id="policy-enforce" disabled={!admin} onClick={askEnforce}>Audit → Enforce…</button>
          {!admin && <span class="muted"> your token reads only: an admin token changes policies</span>}
        </p>
      )}
      {confirm && (
        <div class="confirm" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
          <h3 id="confirm-title">Enforce {f.name}?</h3>
          <p>Its controls will refuse, not only report, in {confirm.length === 0 ? 'no running container' : `these ${confirm.length} running containers`}:</p>
          <ul id="affected">{confirm.map((c) => <li data-container={c.container.name}><strong>{c.container.name || shortID(c.container.id)}</strong> on {c.cluster}/{c.node} ({c.container.image}; {c.policies.join(', ')}; now {c.protection})</li>)}</ul>
          <button type="button" id="policy-enforce-confirm" autofocus onClick={() => apply(enforceYAML(f.content))}>Enforce</button>
          <button type="button" onClick={() => setConfirm(null)}>Cancel</button>
        </div>
      )}
      {done && <p class="ok" role="status">{done}</p>}
      {err && errs.size === 0 && <Failed error={err} />}
      {errs.size > 0 && <p class="error" role="alert">The console refused the file; nothing changed. The errors are on their lines below.</p>}
      <Editor name={f.name} text={text} setText={setText} errors={errs} readOnly={!admin} />
      {admin && <p><button type="button" id="policy-apply" disabled={text === f.content} onClick={() => apply(text)}>Validate and apply</button></p>}
    </section>
  );
}

function NewPolicy({ reload }) {
  const [name, setName] = useState('');
  const [text, setText] = useState('apiVersion: mamori.dev/v1\nkind: RuntimePolicy\nmetadata:\n  name: \nspec:\n  mode: audit\n  scope:\n    container: {}\n  controls:\n    driftPrevention: {}\n');
  const [err, setErr] = useState(null);
  const apply = () => api('/api/v1/policies', { body: { files: [{ name, content: text }] } }).then(() => { reload(); navigate('/policies?file=' + encodeURIComponent(name)); }, setErr);
  const errs = err ? errorLines(err.message, name) : new Map();
  return (
    <section class="card">
      <h2>New policy file</h2>
      <label>File name <input id="new-policy-name" value={name} onInput={(e) => setName(e.target.value)} placeholder="web.yaml" /></label>
      {err && errs.size === 0 && <Failed error={err} />}
      <Editor name={name} text={text} setText={setText} errors={errs} />
      <p><button type="button" onClick={apply} disabled={!name}>Validate and apply</button></p>
    </section>
  );
}
