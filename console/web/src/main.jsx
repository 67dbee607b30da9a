// main.jsx: the shell (navigation, who is logged in) and the choice of
// view by path.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import './style.css';
import { api } from './api.js';
import { AlertDetail } from './alert.jsx';
import { Cloud } from './cloud.jsx';
import { Feed } from './feed.jsx';
import { Images } from './images.jsx';
import { IncidentDetail, Incidents } from './incidents.jsx';
import { Login } from './login.jsx';
import { NetworkMap } from './netmap.jsx';
import { Nodes } from './nodes.jsx';
import { Overview } from './overview.jsx';
import { Policies } from './policies.jsx';
import { ProfileDetail, Profiles } from './profiles.jsx';
import { Link, navigate, useLocation } from './router.jsx';
import { Failed, Loading } from './util.jsx';

const NAV = [['/feed', 'Feed', 'f'], ['/overview', 'Overview', 'o'], ['/incidents', 'Incidents', 'i'], ['/nodes', 'Nodes', 'n'],
  ['/policies', 'Policies', 'p'], ['/images', 'Images', 'm'], ['/cloud', 'Cloud', 'c'], ['/profiles', 'Profiles', 'r'], ['/map', 'Map', 'a']];

function view(path, query, me) {
  let m;
  if (path === '/feed') return <Feed query={query} />;
  if (path === '/overview') return <Overview query={query} />;
  if ((m = path.match(/^\/alerts\/([^/]+)$/))) return <AlertDetail uuid={decodeURIComponent(m[1])} key={m[1]} />;
  if (path === '/incidents') return <Incidents query={query} />;
  if ((m = path.match(/^\/incidents\/([^/]+)$/))) return <IncidentDetail id={decodeURIComponent(m[1])} me={me} key={m[1]} />;
  if (path === '/nodes') return <Nodes query={query} />;
  if (path === '/policies') return <Policies query={query} me={me} />;
  if (path === '/images') return <Images />;
  if (path === '/cloud') return <Cloud query={query} />;
  if (path === '/profiles') return <Profiles query={query} />;
  if ((m = path.match(/^\/profiles\/([^/]+)$/))) return <ProfileDetail id={decodeURIComponent(m[1])} me={me} key={m[1]} />;
  if (path === '/map') return <NetworkMap query={query} key={location.search} />;
  return <p>No such page. <Link href="/feed">To the feed</Link></p>;
}

function App() {
  const { path, query } = useLocation();
  const [me, setMe] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    if (path !== '/login') api('/api/v1/whoami').then(setMe, setErr);
  }, [path === '/login']);
  useEffect(() => {
    // g then a letter goes to a view; Escape leaves a detail page.
    let g = false;
    const onKey = (e) => {
      const tag = (e.target.tagName || '').toLowerCase();
      if (tag === 'input' || tag === 'select' || tag === 'textarea' || e.ctrlKey || e.metaKey || e.altKey) return;
      if (g) {
        g = false;
        const to = NAV.find((n) => n[2] === e.key);
        if (to) { e.preventDefault(); navigate(to[0]); }
        return;
      }
      if (e.key === 'g') g = true;
      else if (e.key === 'Escape' && /^\/(alerts|incidents|profiles)\/./.test(location.pathname)) history.back();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);
  if (path === '/login') return <Login query={query} />;
  const logout = () => api('/api/v1/logout', { body: {} }).finally(() => location.assign('/login'));
  return (
    <>
      <a class="skip" href="#main">Skip to the content</a>
      <header class="top">
        <Link href="/feed" class="brand"><span class="logo" aria-hidden="true" />mamori</Link>
        <nav aria-label="Views">
          {NAV.map(([href, label, key]) => (
            <Link href={href} aria-current={path.startsWith(href) || (href === '/feed' && path.startsWith('/alerts/')) ? 'page' : undefined}
              title={`g ${key}`}>{label}</Link>
          ))}
        </nav>
        <span class="me">{me ? <>{me.name} <span class={'role role-' + me.role}>{me.role}</span></> : ''}</span>
        <button type="button" class="logout" onClick={logout}>Log out</button>
      </header>
      <main id="main" tabindex="-1">
        {err ? <Failed error={err} /> : me ? view(path, query, me) : <Loading />}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app'));
