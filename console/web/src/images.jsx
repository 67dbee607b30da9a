// images.jsx: the registered images (`mamori image register`): verdict,
// findings by severity, executables baseline.
import { Failed, fmtTime, Loading, shortID, title, useAPI } from './util.jsx';

const SEVERITIES = ['critical', 'high', 'medium', 'low', 'unknown'];

export function Images() {
  title('Images');
  const r = useAPI('/api/v1/images');
  return (
    <section>
      <h1>Images</h1>
      {r.error && <Failed error={r.error} />}
      {r.loading && !r.data && <Loading />}
      {r.data && (r.data.images.length === 0 ? <p class="muted">No image is registered in this console's image store (<code>mamori image register IMAGE</code> on the console's host).</p> : (
        <table class="images">
          <thead><tr><th>Image</th><th>Id</th><th>Verdict</th>{SEVERITIES.map((s) => <th class={'sev-' + s}>{s}</th>)}<th>Baseline</th><th>Scanned</th></tr></thead>
          <tbody>
            {r.data.images.map((i) => {
              const sev = {};
              for (const [k, v] of Object.entries(i.findings?.bySeverity || {})) sev[k.toLowerCase()] = v;
              return (
                <tr class={i.compliant ? '' : 'bad'}>
                  <td>{(i.names || [i.ref]).join(', ')}<small class="muted">{i.os}/{i.architecture}{i.user ? ` · user ${i.user}` : ' · runs as root'}</small></td>
                  <td><code>{shortID(i.id)}</code></td>
                  <td>{i.compliant ? <span class="badge ok">compliant</span> : <span class="badge red">not compliant</span>}
                    {(i.reasons || []).length > 0 && <ul class="plain small">{i.reasons.map((x) => <li>{x.policy ? x.policy + ': ' : ''}{x.message || x.rule || JSON.stringify(x)}</li>)}</ul>}</td>
                  {SEVERITIES.map((s) => <td class={'count sev-' + s}>{sev[s] || 0}</td>)}
                  <td>{i.executables} executables</td>
                  <td>{fmtTime(i.scanned)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ))}
    </section>
  );
}
