// The dashboard's state and data flow. The stream's events land in a plain array and are
// handed to the view at most once per animation frame, so 1,000 decisions a second cost one
// render per frame, and only the newest RENDER_CAP rows are in the DOM.
//
//   /api/decisions?filters&limit ─► rows ◄─ rAF batch ◄─ EventSource /api/decisions/stream
//   /api/stats (every 2 s) ─► counters + rate chart     (paused: buffered, counted, bounded)
//   filters ⇄ the URL's query string (shareable), view tabs too
import { h, render } from 'preact';
import { useState, useEffect, useRef, useCallback } from 'preact/hooks';
import htm from 'htm';
import { apiUrl, getJson, token } from './api.js';
import { Header, Counters, FilterBar, Table, Detail, MapView, PoliciesView } from './views.js';

const html = htm.bind(h);

export const RENDER_CAP = 300;   // rows in the DOM
const KEEP = 5000;               // rows kept in memory
const PAUSE_BUFFER = 10000;      // events buffered while paused
export const FILTER_KEYS = ['namespace', 'pod', 'node', 'action', 'direction', 'tier', 'policy',
  'src', 'dst', 'port', 'protocol'];

const params = new URLSearchParams(location.search);

function filtersFromUrl() {
  const p = new URLSearchParams(location.search);
  const f = {};
  for (const k of FILTER_KEYS) if (p.get(k)) f[k] = p.get(k);
  return f;
}

function writeUrl(filters, view) {
  const p = new URLSearchParams();
  for (const k of FILTER_KEYS) if (filters[k]) p.set(k, filters[k]);
  if (view !== 'decisions') p.set('view', view);
  if (token) p.set('access_token', token);
  const s = p.toString();
  history.replaceState(null, '', s ? `?${s}` : location.pathname);
}

function App() {
  const [filters, setFilters] = useState(filtersFromUrl);
  const [view, setView] = useState(params.get('view') || 'decisions');
  const [config, setConfig] = useState({});
  const [rows, setRows] = useState([]);
  const [paused, setPaused] = useState(false);
  const [buffered, setBuffered] = useState(0);
  const [status, setStatus] = useState('connecting');
  const [dropped, setDropped] = useState(0);
  const [selected, setSelected] = useState(null);
  const [stats, setStats] = useState(null);
  const [error, setError] = useState(null);
  const live = useRef({ rows: [], incoming: [], buffer: [], paused: false, frame: 0 });

  useEffect(() => { writeUrl(filters, view); }, [filters, view]);
  useEffect(() => { getJson('api/config').then(setConfig).catch(e => setError(e.message)); }, []);

  const flush = useCallback(() => {
    const l = live.current;
    l.frame = 0;
    if (l.incoming.length === 0) return;
    // Newest first.
    l.rows = l.incoming.reverse().concat(l.rows).slice(0, KEEP);
    l.incoming = [];
    setRows(l.rows);
  }, []);

  const arrive = useCallback(ev => {
    const l = live.current;
    if (l.paused) {
      l.buffer.push(ev);
      if (l.buffer.length > PAUSE_BUFFER) l.buffer.shift();
      setBuffered(n => n + 1);
      return;
    }
    l.incoming.push(ev);
    if (!l.frame) l.frame = requestAnimationFrame(flush);
  }, [flush]);

  // History, then the stream from the history's cursor: no gap and no repeat.
  useEffect(() => {
    let es = null;
    let closed = false;
    const l = live.current;
    l.rows = []; l.incoming = []; l.buffer = [];
    setRows([]); setBuffered(0); setDropped(0); setStatus('connecting'); setError(null);
    getJson('api/decisions', { ...filters, limit: RENDER_CAP }).then(body => {
      if (closed) return;
      l.rows = body.events.slice().reverse();
      setRows(l.rows);
      es = new EventSource(apiUrl('api/decisions/stream', { ...filters, last_event_id: body.cursor }));
      es.addEventListener('ready', () => setStatus('live'));
      es.addEventListener('decision', m => arrive(JSON.parse(m.data)));
      es.addEventListener('dropped', m => setDropped(n => n + JSON.parse(m.data).count));
      es.onerror = () => setStatus(es.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
      es.onopen = () => setStatus('live');
    }).catch(e => { setError(e.message); setStatus('error'); });
    return () => { closed = true; if (es) es.close(); };
  }, [JSON.stringify(filters)]);

  useEffect(() => {
    const tick = () => getJson('api/stats').then(setStats).catch(() => {});
    tick();
    const t = setInterval(tick, 2000);
    return () => clearInterval(t);
  }, []);

  const togglePause = useCallback(() => {
    const l = live.current;
    if (l.paused) {
      l.paused = false;
      l.incoming.push(...l.buffer);
      l.buffer = [];
      setBuffered(0);
      flush();
    } else {
      l.paused = true;
    }
    setPaused(l.paused);
  }, [flush]);

  useEffect(() => {
    const key = e => {
      const typing = /INPUT|SELECT|TEXTAREA/.test(document.activeElement?.tagName || '');
      if (e.key === 'Escape') setSelected(null);
      else if (!typing && e.key === 'p') togglePause();
    };
    addEventListener('keydown', key);
    return () => removeEventListener('keydown', key);
  }, [togglePause]);

  const filterTo = useCallback(f => { setFilters(f); setView('decisions'); setSelected(null); }, []);

  return html`
    <${Header} view=${view} setView=${setView} config=${config} status=${status} />
    <main>
      ${error && html`<p class="error" role="alert">${error}</p>`}
      ${view === 'decisions' && html`
        <${Counters} stats=${stats} dropped=${dropped} />
        <${FilterBar} filters=${filters} setFilters=${setFilters} paused=${paused}
          buffered=${buffered} togglePause=${togglePause} shown=${Math.min(rows.length, RENDER_CAP)}
          total=${rows.length} />
        <div class="split ${selected ? 'with-detail' : ''}">
          <${Table} rows=${rows.slice(0, RENDER_CAP)} selected=${selected} select=${setSelected} />
          ${selected && html`<${Detail} event=${selected} config=${config} close=${() => setSelected(null)} />`}
        </div>`}
      ${view === 'map' && html`<${MapView} filterTo=${filterTo} />`}
      ${view === 'policies' && html`<${PoliciesView} filterTo=${filterTo} />`}
    </main>`;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading…" placeholder
render(html`<${App} />`, root);
