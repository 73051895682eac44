// The dashboard's views. Each is a Preact component written with htm (no build step); the
// chart is uPlot and the map's layout is cytoscape's.
import { h } from 'preact';
import { useState, useEffect, useRef } from 'preact/hooks';
import htm from 'htm';
import uPlot from 'uplot';
import cytoscape from 'cytoscape';
import { apiUrl, getJson } from './api.js';

const html = htm.bind(h);

// ---- formatting ---------------------------------------------------------------------------

const KIND_SHORT = {
  NetworkPolicy: '', AdminNetworkPolicy: 'anp/', BaselineAdminNetworkPolicy: 'banp/',
  ClusterNetworkPolicy: 'cnp/',
};

export function policyName(p) {
  if (!p) return '';
  if (p.namespace) return `${p.namespace}/${p.name}`;
  const prefix = KIND_SHORT[p.kind] ?? `${p.kind}/`;
  return `${prefix}${p.name}`;
}

function ruleName(direction, rule) {
  if (!rule) return '';
  return rule.name ? `${direction} rule ${rule.index} "${rule.name}"` : `${direction} rule ${rule.index}`;
}

export function endpointLabel(e) {
  if (!e) return '?';
  if (e.type === 'pod') return `${e.namespace}/${e.name}`;
  if (e.type === 'node') return `node/${e.name}`;
  return e.ip;
}

function time(ns) {
  const d = new Date(Number(BigInt(ns) / 1000000n));
  const ms = String(d.getMilliseconds()).padStart(3, '0');
  return `${d.toLocaleTimeString([], { hour12: false })}.${ms}`;
}

function hold(ns) {
  if (ns === 0) return '0';
  if (ns < 1e6) return `${(ns / 1e3).toFixed(0)} µs`;
  return `${(ns / 1e6).toFixed(1)} ms`;
}

function ago(ns) {
  if (!ns) return 'never';
  const s = Math.max(0, (Date.now() - Number(BigInt(ns) / 1000000n)) / 1000);
  if (s < 60) return `${s.toFixed(0)} s ago`;
  if (s < 3600) return `${(s / 60).toFixed(0)} min ago`;
  return `${(s / 3600).toFixed(1)} h ago`;
}

/** The deciding direction, as the server's `deciding()` picks it. */
export function deciding(ev) {
  const ds = [ev.egress, ev.ingress].filter(Boolean);
  return ds.find(d => d.verdict === 'deny') || ds.find(d => d.tier !== 'Default') || ds[0];
}

/** "backend/allow-web ingress rule 0", "isolated by backend/default-deny", or "default". */
export function attribution(ev) {
  if (ev.defaulted) return `default verdict: ${ev.defaulted.replaceAll('_', ' ')}`;
  const d = deciding(ev);
  if (!d) return '';
  const passed = d.passed_by?.length ? ` (passed by ${d.passed_by.map(policyName).join(', ')})` : '';
  if (d.policy) return `${policyName(d.policy)} ${ruleName(d.direction, d.rule)}${passed}`;
  if (d.verdict === 'deny' && d.isolated_by?.length) {
    return `isolated by ${d.isolated_by.map(policyName).join(', ')}${passed}`;
  }
  return `not isolated (${d.direction})`;
}

function Verdict({ v }) {
  const word = v === 'deny' ? 'DENY' : 'ALLOW';
  return html`<span class="verdict ${v}"><span aria-hidden="true">${v === 'deny' ? '✕' : '✓'}</span> ${word}</span>`;
}

function Endpoint({ e, ip, port, showPort }) {
  const node = e?.type === 'pod' ? e.node : null;
  return html`<div class="ep">
    <div class="ep-name">${e?.type === 'pod' ? html`<span class="ep-ns">${e.namespace}/</span>${e.name}` : endpointLabel(e)}</div>
    <div class="ep-addr">${ip}${showPort ? `:${port}` : ''}${node ? html`<div class="ep-node small">on ${node}</div>` : ''}</div>
  </div>`;
}

// ---- header, counters, chart --------------------------------------------------------------

export function Header({ view, setView, config, status }) {
  const tabs = [['decisions', 'Decisions'], ['map', 'Map'], ['policies', 'Policies']];
  return html`<header>
    <h1>kube-verdict</h1>
    <nav role="tablist" aria-label="Views">
      ${tabs.map(([id, label]) => html`<button role="tab" aria-selected=${view === id}
        class=${view === id ? 'tab active' : 'tab'} onClick=${() => setView(id)}>${label}</button>`)}
    </nav>
    <div class="where">
      ${config.node ? html`node <strong>${config.node}</strong>` : 'cluster'}
      <span class="status ${status}" role="status" aria-live="polite">● ${status}</span>
    </div>
  </header>`;
}

function Chart({ series }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!series || !box.current) return;
    const data = [series.map(s => s.t), series.map(s => s.allow), series.map(s => s.deny)];
    if (!plot.current) {
      plot.current = new uPlot({
        width: Math.max(240, box.current.clientWidth), height: 90,
        legend: { show: false }, cursor: { show: false },
        scales: { x: { time: true } },
        axes: [{ size: 24, font: '11px system-ui' }, { size: 36, font: '11px system-ui' }],
        series: [{}, { label: 'allow/s', stroke: '#1a7f37', fill: 'rgba(26,127,55,.12)', width: 1.5 },
          { label: 'deny/s', stroke: '#cf222e', fill: 'rgba(207,34,46,.12)', width: 1.5 }],
      }, data, box.current);
    } else {
      plot.current.setData(data);
    }
  }, [series]);
  useEffect(() => {
    const resize = () => plot.current && box.current &&
      plot.current.setSize({ width: Math.max(240, box.current.clientWidth), height: 90 });
    addEventListener('resize', resize);
    return () => { removeEventListener('resize', resize); plot.current?.destroy(); plot.current = null; };
  }, []);
  return html`<figure class="chart-box">
    <div class="chart" ref=${box} role="img" aria-label="Allowed and denied decisions per second, last minute"></div>
    <figcaption class="small"><span class="allow-text">━ allowed/s</span> <span class="deny-text">━ denied/s</span>, last minute</figcaption>
  </figure>`;
}

export function Counters({ stats, dropped }) {
  const e = stats?.events || { total: 0, allow: 0, deny: 0 };
  const r = stats?.rate || {};
  const drops = stats ? Object.entries(stats.dropped).filter(([, n]) => n > 0) : [];
  return html`<section class="counters" aria-label="Counters">
    <div class="counter"><div class="n">${e.total}</div><div>decisions</div></div>
    <div class="counter allow"><div class="n">${e.allow}</div><div>allowed · ${(r.allow_per_s_10s ?? 0).toFixed(1)}/s</div></div>
    <div class="counter deny"><div class="n">${e.deny}</div><div>denied · ${(r.deny_per_s_10s ?? 0).toFixed(1)}/s</div></div>
    <div class="counter ${drops.length || dropped ? 'warn' : ''}">
      <div class="n">${dropped}</div><div>missed by this page</div>
      ${drops.length > 0 && html`<div class="small">${drops.map(([k, n]) => `${k}: ${n}`).join(' · ')} dropped</div>`}
    </div>
    <${Chart} series=${stats?.series} />
  </section>`;
}

// ---- filters ------------------------------------------------------------------------------

export function FilterBar({ filters, setFilters, paused, buffered, togglePause, shown, total }) {
  const [draft, setDraft] = useState(filters);
  useEffect(() => setDraft(filters), [JSON.stringify(filters)]);
  const set = (k, v) => setDraft(d => ({ ...d, [k]: v }));
  const apply = e => {
    e.preventDefault();
    const f = {};
    for (const [k, v] of Object.entries(draft)) if (v) f[k] = v.trim();
    setFilters(f);
  };
  const text = (k, label, placeholder) => html`<label>${label}
    <input name=${k} value=${draft[k] || ''} placeholder=${placeholder} onInput=${e => set(k, e.target.value)} /></label>`;
  const select = (k, label, options) => html`<label>${label}
    <select name=${k} value=${draft[k] || ''} onChange=${e => { const f = { ...filters, [k]: e.target.value }; if (!e.target.value) delete f[k]; setFilters(f); }}>
      <option value="">any</option>${options.map(o => html`<option value=${o}>${o}</option>`)}
    </select></label>`;
  const edge = ['src', 'dst', 'port', 'protocol'].filter(k => filters[k]);
  return html`<form class="filters" onSubmit=${apply} aria-label="Filters">
    ${text('namespace', 'Namespace', 'any')}
    ${text('pod', 'Pod', 'ns/name or name')}
    ${text('node', 'Node', 'any')}
    ${select('action', 'Action', ['allow', 'deny'])}
    ${select('direction', 'Direction', ['ingress', 'egress'])}
    ${text('policy', 'Policy', 'ns/name or name')}
    <button type="submit">Apply</button>
    ${Object.keys(filters).length > 0 && html`<button type="button" onClick=${() => setFilters({})}>Clear</button>`}
    ${edge.length > 0 && html`<span class="chip">map edge: ${filters.src || '*'} → ${filters.dst || '*'} ${filters.protocol || ''}/${filters.port || '*'}</span>`}
    <span class="spacer"></span>
    <button type="button" class="pause ${paused ? 'paused' : ''}" onClick=${togglePause}
      aria-pressed=${paused} title="Pause or resume the table (key: p)">
      ${paused ? `▶ Resume (${buffered} new)` : '❚❚ Pause'}</button>
    <span class="shown" aria-live="polite">${shown} of ${total} shown</span>
  </form>`;
}

// ---- the decisions table ------------------------------------------------------------------

export function Table({ rows, selected, select }) {
  const onKey = (e, ev) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); select(ev); }
    else if (e.key === 'ArrowDown') { e.preventDefault(); e.currentTarget.nextElementSibling?.focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); e.currentTarget.previousElementSibling?.focus(); }
  };
  return html`<div class="table-wrap">
    <table class="decisions" aria-label="Decisions, newest first">
      <thead><tr>
        <th>Time</th><th>Source</th><th>Destination</th><th>Proto</th><th>Action</th>
        <th>Direction</th><th>Policy and rule</th><th>Via</th><th>Hold</th>
      </tr></thead>
      <tbody>
        ${rows.length === 0 && html`<tr><td colspan="9" class="empty">No decisions yet for these filters.</td></tr>`}
        ${rows.map(ev => {
          const f = ev.flow || {};
          const ports = f.protocol === 'TCP' || f.protocol === 'UDP' || f.protocol === 'SCTP';
          const d = deciding(ev);
          const dirs = [ev.egress, ev.ingress].filter(Boolean).map(x => x.direction);
          return html`<tr key=${ev.id} tabindex="0" data-id=${ev.id}
              class="${ev.verdict} ${selected?.id === ev.id ? 'selected' : ''}"
              onClick=${() => select(ev)} onKeyDown=${e => onKey(e, ev)} aria-selected=${selected?.id === ev.id}>
            <td class="time">${time(ev.time_unix_nano)}<div class="small">${ev.node}</div></td>
            <td><${Endpoint} e=${ev.src} ip=${f.src_ip} port=${f.src_port} showPort=${ports} /></td>
            <td><${Endpoint} e=${ev.dst} ip=${f.dst_ip} port=${f.dst_port} showPort=${ports} /></td>
            <td>${f.protocol || '?'}</td>
            <td><${Verdict} v=${ev.verdict} /></td>
            <td>${dirs.map(x => html`<span class=${x === d?.direction ? 'dir deciding' : 'dir'}>${x}</span> `)}</td>
            <td class="policy">${attribution(ev)}</td>
            <td>${ev.source}</td>
            <td class="num">${hold(ev.hold_ns)}</td>
          </tr>`;
        })}
      </tbody>
    </table>
  </div>`;
}

// ---- the detail panel ---------------------------------------------------------------------

function whatIfTarget(e, ip) {
  return e?.type === 'pod' ? `${e.namespace}/${e.name}` : ip;
}

function WhatIf({ ev }) {
  const f = ev.flow || {};
  const [form, setForm] = useState({});
  const [answer, setAnswer] = useState(null);
  useEffect(() => {
    setForm({
      from: whatIfTarget(ev.src, f.src_ip), to: whatIfTarget(ev.dst, f.dst_ip),
      protocol: (f.protocol || 'TCP').toLowerCase(), port: String(f.dst_port ?? 80),
    });
    setAnswer(null);
  }, [ev.id]);
  const ask = async e => {
    e.preventDefault();
    const probe = form.protocol === 'icmp' ? 'icmp' : `${form.protocol}/${form.port}`;
    try {
      const body = await getJson('api/explain', { from: form.from, to: form.to, probe });
      setAnswer({ allowed: body.results[0].allowed, line: body.explain[0] });
    } catch (err) {
      setAnswer({ error: err.message });
    }
  };
  const set = k => e => setForm(s => ({ ...s, [k]: e.target.value }));
  return html`<form class="whatif" onSubmit=${ask} aria-label="What if">
    <h3>What if…</h3>
    <p class="small">This pair on another port or protocol, judged on the live index.</p>
    <div class="row">
      <label>From <input name="from" value=${form.from || ''} onInput=${set('from')} /></label>
      <label>To <input name="to" value=${form.to || ''} onInput=${set('to')} /></label>
    </div>
    <div class="row">
      <label>Protocol <select name="protocol" value=${form.protocol} onChange=${set('protocol')}>
        ${['tcp', 'udp', 'sctp', 'icmp'].map(p => html`<option value=${p}>${p.toUpperCase()}</option>`)}
      </select></label>
      <label>Port <input name="port" value=${form.port || ''} inputmode="numeric" size="6"
        disabled=${form.protocol === 'icmp'} onInput=${set('port')} /></label>
      <button type="submit">Ask</button>
    </div>
    ${answer && (answer.error
      ? html`<p class="error" role="alert">${answer.error}</p>`
      : html`<div class="answer" role="status"><${Verdict} v=${answer.allowed ? 'allow' : 'deny'} />
          <span class="whatif-word">${answer.allowed ? 'would be allowed' : 'would be denied'}</span>
          <p class="explanation">${answer.line}</p></div>`)}
  </form>`;
}

function DirectionDetail({ d }) {
  if (!d) return null;
  return html`<div class="direction">
    <div><strong>${d.direction}</strong>: <${Verdict} v=${d.verdict} /> by tier ${d.tier}</div>
    ${d.policy && html`<div>policy <code>${policyName(d.policy)}</code> ${d.rule ? ruleName(d.direction, d.rule) : ''}</div>`}
    ${d.isolated_by?.length > 0 && html`<div>isolated by ${d.isolated_by.map(p => html`<code>${policyName(p)}</code> `)}</div>`}
    ${d.passed_by?.length > 0 && html`<div>passed by ${d.passed_by.map(p => html`<code>${policyName(p)}</code> `)}</div>`}
  </div>`;
}

export function Detail({ event: ev, config, close }) {
  const jaeger = new URLSearchParams(location.search).get('jaeger') || config.jaeger_url;
  const f = ev.flow || {};
  const tags = { 'verdict.action': ev.verdict };
  if (ev.src?.type === 'pod') tags['verdict.src.k8s.pod.name'] = ev.src.name;
  if (ev.dst?.type === 'pod') tags['verdict.dst.k8s.pod.name'] = ev.dst.name;
  const search = jaeger && `${jaeger}/search?service=verdict-agent&tags=${encodeURIComponent(JSON.stringify(tags))}`;
  const panel = useRef(null);
  useEffect(() => { panel.current?.focus({ preventScroll: true }); }, [ev.id]);
  return html`<aside class="detail" aria-label="Decision detail" tabindex="-1" ref=${panel}>
    <div class="detail-head">
      <h2><${Verdict} v=${ev.verdict} /> ${endpointLabel(ev.src)} → ${endpointLabel(ev.dst)}</h2>
      <button type="button" onClick=${close} aria-label="Close the detail (Escape)">✕</button>
    </div>
    <p class="explanation">${ev.explanation}</p>
    <dl>
      <dt>Flow</dt><dd>${f.protocol} ${f.src_ip}:${f.src_port} → ${f.dst_ip}:${f.dst_port}</dd>
      <dt>Node</dt><dd>${ev.node} (${ev.source}${ev.queue !== undefined ? `, queue ${ev.queue}` : ''})</dd>
      <dt>Held</dt><dd>${hold(ev.hold_ns)}</dd>
      <dt>Index generation</dt><dd>${ev.generation}</dd>
      <dt>Decision id</dt><dd><code>${ev.id}</code></dd>
      <dt>Trace</dt><dd><code>${ev.trace_id}</code></dd>
    </dl>
    <${DirectionDetail} d=${ev.egress} />
    <${DirectionDetail} d=${ev.ingress} />
    <p class="links">
      ${jaeger
        ? html`<a class="trace-link" href=${`${jaeger}/trace/${ev.trace_id}`} target="_blank" rel="noopener">Open the trace in Jaeger</a>
               · <a class="search-link" href=${search} target="_blank" rel="noopener">Similar decisions in Jaeger</a>`
        : html`<span class="small">Set the agent's Jaeger UI URL (or add <code>?jaeger=URL</code>) for trace links.</span>`}
    </p>
    <${WhatIf} ev=${ev} />
  </aside>`;
}

// ---- the map ------------------------------------------------------------------------------

export function MapView({ filterTo }) {
  const box = useRef(null);
  const [window_, setWindow] = useState('5m');
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const load = () => getJson('api/map', { window: window_ }).then(setData).catch(e => setError(e.message));
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [window_]);
  useEffect(() => {
    if (!data || !box.current) return;
    const groups = [...new Set(data.nodes.map(n => n.group))];
    const elements = [
      ...groups.map(g => ({ data: { id: `group:${g}`, label: g }, classes: 'group' })),
      ...data.nodes.map(n => ({ data: { id: n.id, label: n.id.includes('/') ? n.id.split('/').slice(1).join('/') : n.id, parent: `group:${n.group}` } })),
      ...data.edges.map((e, i) => ({
        data: {
          id: `e${i}`, source: e.source, target: e.target, edge: e,
          label: `${e.protocol}/${e.port} ✓${e.allow} ✕${e.deny}`,
        },
        classes: e.deny && e.allow ? 'mixed' : e.deny ? 'deny' : 'allow',
      })),
    ];
    const cy = cytoscape({
      container: box.current, elements, maxZoom: 1.25, minZoom: 0.2,
      layout: {
        name: 'cose', animate: false, randomize: false, padding: 40, nodeDimensionsIncludeLabels: true,
        idealEdgeLength: () => 110, nodeRepulsion: () => 40000, edgeElasticity: () => 100,
        nestingFactor: 0.6, gravity: 0.3, numIter: 2500, componentSpacing: 120, nodeOverlap: 40,
      },
      style: [
        { selector: 'node', style: { label: 'data(label)', 'font-size': 12, 'background-color': '#57606a', width: 16, height: 16, 'text-valign': 'bottom', 'text-margin-y': 4, color: '#1f2328' } },
        { selector: '.group', style: { 'background-color': '#f6f8fa', 'border-color': '#8c959f', 'border-width': 1, 'text-valign': 'top', 'text-halign': 'center', 'font-weight': 'bold', 'font-size': 13, shape: 'round-rectangle', padding: 24, color: '#59636e' } },
        { selector: 'edge', style: { label: 'data(label)', 'font-size': 10, 'curve-style': 'bezier', 'control-point-step-size': 50, 'target-arrow-shape': 'triangle', width: 2.5, 'text-rotation': 'autorotate', 'text-background-color': '#fff', 'text-background-opacity': 0.9, 'text-background-padding': 2, 'text-margin-y': -8 } },
        { selector: 'edge.allow', style: { 'line-color': '#1a7f37', 'target-arrow-color': '#1a7f37', color: '#1a7f37' } },
        { selector: 'edge.deny', style: { 'line-color': '#cf222e', 'target-arrow-color': '#cf222e', 'line-style': 'dashed', color: '#cf222e' } },
        { selector: 'edge.mixed', style: { 'line-color': '#bf8700', 'target-arrow-color': '#bf8700', color: '#9a6700' } },
      ],
    });
    cy.on('tap', 'edge', evt => {
      const e = evt.target.data('edge');
      filterTo({ src: e.source, dst: e.target, port: String(e.port), protocol: e.protocol.toLowerCase() });
    });
    window.__verdictMap = cy; // for the browser test and for debugging
    return () => cy.destroy();
  }, [data]);
  return html`<section class="map" aria-label="Map of observed connections">
    <div class="map-bar">
      <label>Window <select value=${window_} onChange=${e => setWindow(e.target.value)}>
        ${['1m', '5m', '15m', '1h'].map(w => html`<option value=${w}>${w}</option>`)}</select></label>
      <span class="legend"><span class="allow">── allowed</span> <span class="deny">- - denied</span> <span class="mixed">── both</span></span>
      <span class="small">Click an edge to see its decisions.</span>
    </div>
    ${error && html`<p class="error">${error}</p>`}
    <div class="map-canvas" ref=${box}></div>
    ${data && html`<table class="edges" aria-label="Edges">
      <thead><tr><th>Source</th><th>Destination</th><th>Port</th><th>Allowed</th><th>Denied</th><th><span class="sr-only">Filter</span></th></tr></thead>
      <tbody>${data.edges.map(e => html`<tr>
        <td>${e.source}</td><td>${e.target}</td><td>${e.protocol}/${e.port}</td>
        <td class="num">${e.allow}</td><td class="num">${e.deny}</td>
        <td><button type="button" onClick=${() => filterTo({ src: e.source, dst: e.target, port: String(e.port), protocol: e.protocol.toLowerCase() })}>decisions</button></td>
      </tr>`)}</tbody></table>`}
  </section>`;
}

// ---- the policies view --------------------------------------------------------------------

function Rules({ direction, rules, kind }) {
  if (!rules) return null;
  if (rules.length === 0) {
    // Only NetworkPolicy isolation denies what no rule admits; an empty ANP list does nothing.
    const what = kind === 'NetworkPolicy' ? `no rules: isolates, so denies all ${direction}` : 'no rules';
    return html`<li class="small">${direction}: ${what}</li>`;
  }
  return rules.map(r => html`<li class=${r.never_hit ? 'rule never' : 'rule'}>
    ${direction} rule ${r.index}${r.name ? ` "${r.name}"` : ''} (${r.action}):
    ${' '}<strong>${r.hits}</strong> hits, last ${ago(r.last_hit_unix_nano)}
    ${r.never_hit && html` <span class="badge never-hit">never hit</span>`}
  </li>`);
}

export function PoliciesView({ filterTo }) {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const load = () => getJson('api/policies').then(setData).catch(e => setError(e.message));
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  if (error) return html`<p class="error" role="alert">${error}</p>`;
  if (!data) return html`<p>Loading policies…</p>`;
  return html`<section class="policies" aria-label="Policies">
    <p class="small">${data.policies.length} policies in index generation ${data.generation}.
      Rules that no decision has matched since the agent started are marked <span class="badge never-hit">never hit</span>.</p>
    ${data.policies.map(p => html`<article class="policy-card ${p.never_hit ? 'never' : ''}">
      <h3><code>${policyName(p.policy)}</code> <span class="kind">${p.policy.kind}${p.priority !== null && p.priority !== undefined ? ` · priority ${p.priority}` : ''}</span></h3>
      <div><strong>${p.hits}</strong> ${p.hits === 1 ? 'decision' : 'decisions'}, last ${ago(p.last_hit_unix_nano)}
        ${p.isolation_denies > 0 && html` · ${p.isolation_denies} default denies as isolating policy`}
        ${p.passes > 0 && html` · ${p.passes} passes`}
        ${p.never_hit && html` <span class="badge never-hit">never hit</span>`}
        <button type="button" class="link" onClick=${() => filterTo({ policy: p.policy.namespace ? `${p.policy.namespace}/${p.policy.name}` : p.policy.name })}>show decisions</button></div>
      <ul class="rules"><${Rules} direction="ingress" rules=${p.ingress} kind=${p.policy.kind} /><${Rules} direction="egress" rules=${p.egress} kind=${p.policy.kind} /></ul>
      <div class="small">selects on this node: ${p.selected_pods.length ? p.selected_pods.join(', ') : 'no pods'}</div>
    </article>`)}
  </section>`;
}
