// Lode's web UI: plain JavaScript over Lode's Loki API, no build step and no
// host but Lode. Every request goes through `call` (tenant header, errors);
// the page's state lives in the URL so a link reproduces what it shows.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const ROOT = new URL('../', location.href); // Lode's root, behind any path prefix
  const lokiURL = (path, params) => withParams(new URL('loki/api/v1/' + path, ROOT), params);
  const uiURL = (path) => new URL('api/' + path, location.href);
  const DEFAULT_LIMIT = 1000;
  const MAX_LIVE_ROWS = 2000;
  const MAX_SERIES = 50;
  const NS_PER_MS = 1000000n;

  // ---- small DOM helpers -------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  const svgNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    const e = document.createElementNS(svgNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function withParams(url, params) {
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
    }
    return url;
  }
  function show(node, on) { node.hidden = !on; }

  // ---- formatting ----------------------------------------------------------
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function fmtTime(ms, withMs = true) {
    const d = new Date(ms);
    const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    return withMs ? s + '.' + pad(d.getMilliseconds(), 3) : s;
  }
  function rfc3339Nanos(ns) {
    const ms = Number(ns / NS_PER_MS);
    const frac = String(((ns % 1000000000n) + 1000000000n) % 1000000000n).padStart(9, '0');
    return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '.' + frac + 'Z');
  }
  function toLocalInput(ms) {
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  function fromLocalInput(s) {
    const t = new Date(s).getTime();
    return Number.isFinite(t) ? t : null;
  }
  function humanBytes(n) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + units[i];
  }
  const fmtNum = (n) => Number(n).toLocaleString('en-US');
  function fmtValue(v) {
    const f = Number(v);
    if (!Number.isFinite(f)) return String(v);
    if (Number.isInteger(f)) return fmtNum(f);
    return String(parseFloat(Math.abs(f) >= 100 ? f.toFixed(1) : Math.abs(f) >= 1 ? f.toFixed(3) : f.toPrecision(3)));
  }
  function labelString(m) {
    const keys = Object.keys(m || {}).filter((k) => k !== '__name__');
    return '{' + keys.map((k) => `${k}=${JSON.stringify(m[k])}`).join(', ') + '}';
  }
  function fmtRelative(ms) {
    const d = Math.round((ms - Date.now()) / 1000);
    const a = Math.abs(d);
    const s = a < 90 ? `${a}s` : a < 5400 ? `${Math.round(a / 60)}m` : a < 172800 ? `${Math.round(a / 3600)}h` : `${Math.round(a / 86400)}d`;
    return d >= 0 ? `in ${s}` : `${s} ago`;
  }

  // Times in links: unix seconds (fractional allowed) or RFC 3339.
  function parseLinkTime(s) {
    if (s === null || s === undefined || s === '') return null;
    if (/^-?\d+(\.\d+)?$/.test(s)) {
      const n = Number(s);
      // Loki also takes nanoseconds; a number this large cannot be seconds.
      return n > 1e14 ? Math.floor(n / 1e6) : n * 1000;
    }
    const t = Date.parse(s.replace(/(\.\d{3})\d+/, '$1'));
    return Number.isFinite(t) ? t : null;
  }
  function parseDur(s) {
    const m = /^(\d+)([smhd])$/.exec(s || '');
    if (!m) return null;
    return Number(m[1]) * { s: 1e3, m: 6e4, h: 36e5, d: 864e5 }[m[2]];
  }
  const msToNs = (ms) => (BigInt(Math.round(ms)) * NS_PER_MS).toString();

  // ---- the API -----------------------------------------------------------
  let tenant = localStorage.getItem('lode.tenant') || '';
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function call(url, opts = {}) {
    const headers = Object.assign({}, opts.headers || {});
    if (tenant) headers['X-Scope-OrgID'] = tenant;
    let r;
    try {
      r = await fetch(url, { method: opts.method || 'GET', headers, signal: opts.signal, cache: 'no-store' });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'Lode cannot be reached: ' + e.message);
    }
    const text = await r.text();
    if (!r.ok) {
      let msg = text.trim();
      try {
        const j = JSON.parse(text);
        msg = j.error || j.message || msg;
      } catch (_) { /* Loki's errors are often plain text */ }
      throw new ApiError(r.status, msg || `HTTP ${r.status}`);
    }
    if (opts.raw) return text;
    return text ? JSON.parse(text) : null;
  }

  // ---- state and the URL ---------------------------------------------------
  const S = {
    view: 'query', query: '', range: '1h', from: null, to: null,
    mode: 'range', direction: 'backward', limit: DEFAULT_LIMIT,
  };
  function fromURL() {
    const p = new URLSearchParams(location.search);
    S.view = ['query', 'live', 'status'].includes(p.get('view')) ? p.get('view') : 'query';
    S.query = p.get('query') || '';
    const from = parseLinkTime(p.get('start'));
    const to = parseLinkTime(p.get('end'));
    if (from !== null || to !== null) {
      S.range = 'custom';
      S.to = to !== null ? to : Date.now();
      S.from = from !== null ? from : S.to - 36e5;
    } else {
      S.range = parseDur(p.get('range')) ? p.get('range') : '1h';
      S.from = S.to = null;
    }
    S.mode = p.get('mode') === 'instant' ? 'instant' : 'range';
    S.direction = p.get('direction') === 'forward' ? 'forward' : 'backward';
    const lim = parseInt(p.get('limit'), 10);
    S.limit = lim > 0 ? lim : DEFAULT_LIMIT;
    if (p.get('orgId') !== null) setTenant(p.get('orgId'), false);
  }
  function toURL() {
    const p = new URLSearchParams();
    if (S.view !== 'query') p.set('view', S.view);
    if (S.query) p.set('query', S.query);
    if (S.range === 'custom') {
      p.set('start', String(Math.floor(S.from / 1000)));
      p.set('end', String(Math.ceil(S.to / 1000)));
    } else if (S.range !== '1h') {
      p.set('range', S.range);
    }
    if (S.mode !== 'range') p.set('mode', S.mode);
    if (S.direction !== 'backward') p.set('direction', S.direction);
    if (S.limit !== DEFAULT_LIMIT) p.set('limit', String(S.limit));
    if (tenant) p.set('orgId', tenant);
    const qs = p.toString();
    return location.pathname + (qs ? '?' + qs : '');
  }
  function saveURL(push) {
    const url = toURL();
    if (url === location.pathname + location.search) return;
    if (push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
  }
  function timeRange() {
    if (S.range === 'custom') return [S.from, S.to];
    const now = Date.now();
    return [now - parseDur(S.range), now];
  }
  function applyInputs() {
    $('q').value = S.query;
    $('live-q').value = S.query;
    const range = $('range');
    range.value = S.range;
    if (range.value !== S.range) {
      // A range from a link that is not in the list stays selectable.
      range.insertBefore(el('option', { value: S.range, text: 'Last ' + S.range }), range.lastElementChild);
      range.value = S.range;
    }
    show($('abs'), S.range === 'custom');
    if (S.range === 'custom') {
      $('from').value = toLocalInput(S.from);
      $('to').value = toLocalInput(S.to);
    }
    $('mode').value = S.mode;
    $('direction').value = S.direction;
    $('limit').value = String(S.limit);
  }
  function readInputs() {
    S.query = $('q').value;
    S.range = $('range').value;
    if (S.range === 'custom') {
      const [f, t] = [fromLocalInput($('from').value), fromLocalInput($('to').value)];
      const now = Date.now();
      S.to = t !== null ? t : now;
      S.from = f !== null ? f : S.to - 36e5;
    }
    S.mode = $('mode').value;
    S.direction = $('direction').value;
    const lim = parseInt($('limit').value, 10);
    S.limit = lim > 0 ? lim : DEFAULT_LIMIT;
  }

  // ---- views -----------------------------------------------------------------
  let statusTimer = null;
  function setView(v, push) {
    S.view = v;
    for (const name of ['query', 'live', 'status']) {
      show($('view-' + name), name === v);
      const nav = $('nav-' + name);
      if (name === v) nav.setAttribute('aria-current', 'page');
      else nav.removeAttribute('aria-current');
    }
    if (v !== 'live') stopLive();
    if (v === 'live' && !$('live-q').value) $('live-q').value = $('q').value;
    clearTimeout(statusTimer);
    if (v === 'status') loadStatus();
    if (push !== undefined) saveURL(push);
  }

  // ---- query view ---------------------------------------------------------------
  let runSeq = 0;
  let inflight = null;
  let shown = []; // entries in the log list, in display order
  let shownKeys = new Set();

  function clearResults() {
    shown = [];
    shownKeys = new Set();
    $('logs').replaceChildren();
    for (const id of ['volume', 'chart', 'table', 'common', 'older', 'q-error']) show($(id), false);
    $('summary').textContent = '';
  }

  function syntaxError(msg, query) {
    $('q-error-msg').textContent = msg;
    // Loki's parse errors name a line and column: point at them.
    const m = /line (\d+), col (\d+)/.exec(msg);
    let caret = '';
    if (m) {
      const line = query.split('\n')[Number(m[1]) - 1];
      if (line !== undefined) caret = line + '\n' + ' '.repeat(Math.max(0, Number(m[2]) - 1)) + '^';
    }
    $('q-error-caret').textContent = caret;
    show($('q-error'), true);
  }
  function showError(msg) {
    $('q-error-msg').textContent = msg;
    $('q-error-caret').textContent = '';
    show($('q-error'), true);
  }

  async function runQuery(push) {
    readInputs();
    saveURL(push);
    const q = S.query.trim();
    clearResults();
    if (inflight) inflight.abort();
    if (!q) return;
    const seq = ++runSeq;
    const ctl = new AbortController();
    inflight = ctl;
    const current = () => seq === runSeq;
    $('summary').textContent = 'Running…';
    try {
      const fq = await fetch(lokiURL('format_query', { query: q }), { headers: tenant ? { 'X-Scope-OrgID': tenant } : {}, signal: ctl.signal });
      if (fq.status === 400) {
        const j = await fq.json().catch(() => ({}));
        if (current()) { syntaxError(j.error || 'invalid query', q); $('summary').textContent = ''; }
        return;
      }
      const [from, to] = timeRange();
      loadLabels(from, to, seq);
      const started = performance.now();
      if (S.mode === 'instant') {
        const j = await call(lokiURL('query', { query: q, time: msToNs(to), limit: S.limit, direction: S.direction }), { signal: ctl.signal, headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
        if (!current()) return;
        renderResult(j.data, from, to, 0, q);
      } else {
        const step = Math.max(1, Math.ceil((to - from) / 1000 / 250));
        const j = await call(lokiURL('query_range', { query: q, start: msToNs(from), end: msToNs(to), limit: S.limit, direction: S.direction, step: step + 's' }), { signal: ctl.signal, headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
        if (!current()) return;
        renderResult(j.data, from, to, step, q);
      }
      const ms = Math.round(performance.now() - started);
      if (current()) $('summary').textContent += ` · ${ms} ms`;
    } catch (e) {
      if (e.name === 'AbortError' || !current()) return;
      $('summary').textContent = '';
      showError(e.message);
    }
  }

  function renderResult(data, from, to, step, q) {
    const kind = data.resultType;
    if (kind === 'streams') {
      appendLogs(data.result, false);
      $('summary').textContent = `${fmtNum(shown.length)} lines`;
      show($('older'), shown.length >= S.limit);
      $('older').textContent = S.direction === 'backward' ? 'Load older' : 'Load newer';
      if (step) loadVolume(q, from, to);
      loadFields(q, from, to);
    } else if (kind === 'matrix') {
      $('summary').textContent = `${fmtNum(data.result.length)} series`;
      drawChart(data.result, from, to, step || 1);
    } else if (kind === 'vector') {
      $('summary').textContent = `${fmtNum(data.result.length)} series`;
      drawTable(data.result);
    } else if (kind === 'scalar' || kind === 'string') {
      $('summary').textContent = kind;
      drawTable([{ metric: {}, value: data.result }]);
    }
  }

  // -- logs --
  function entriesOf(result) {
    const out = [];
    for (const s of result) {
      const labels = s.stream || {};
      for (const v of s.values || []) {
        const extra = v[2] || {};
        out.push({
          ns: BigInt(v[0]), line: v[1], labels,
          meta: extra.structuredMetadata || {}, parsed: extra.parsed || {},
        });
      }
    }
    return out;
  }
  const keyOf = (e) => e.ns + '\u0000' + e.line + '\u0000' + labelString(e.labels);
  function levelOf(e) {
    const l = (e.labels.detected_level || e.meta.detected_level || e.labels.level || e.parsed.level || e.parsed.detected_level || '').toLowerCase();
    return l === 'warning' ? 'warn' : l === 'err' || l === 'eror' ? 'error' : l;
  }

  function appendLogs(result, more) {
    let fresh = entriesOf(result).filter((e) => !shownKeys.has(keyOf(e)));
    const back = S.direction === 'backward';
    fresh.sort((a, b) => (a.ns === b.ns ? 0 : (a.ns < b.ns) === back ? 1 : -1));
    for (const e of fresh) shownKeys.add(keyOf(e));
    shown = more ? shown.concat(fresh) : fresh;
    // Labels every line shares are shown once, above the list.
    const common = commonLabels(shown);
    const box = $('common');
    box.replaceChildren();
    const ck = Object.keys(common);
    if (ck.length) {
      box.append(el('span', { class: 'muted', text: 'Common labels:' }));
      for (const k of ck) box.append(el('span', { class: 'chip', text: `${k}=${common[k]}` }));
    }
    show(box, ck.length > 0);
    const logs = $('logs');
    if (!more) logs.replaceChildren();
    else for (const row of logs.querySelectorAll('.row .chips')) row.remove();
    const frag = document.createDocumentFragment();
    const rows = more ? logs.children.length : 0;
    for (let i = rows; i < shown.length; i++) frag.append(logRow(shown[i], i, common));
    logs.append(frag);
    if (more) {
      for (const row of logs.querySelectorAll('.row')) {
        const e = shown[Number(row.dataset.i)];
        const chips = chipsFor(e, common);
        if (chips) row.querySelector('.line').after(chips);
      }
    }
    return fresh.length;
  }
  function commonLabels(entries) {
    if (!entries.length) return {};
    const first = Object.assign({}, entries[0].labels);
    const seen = new Set();
    for (const e of entries) {
      if (seen.has(e.labels)) continue;
      seen.add(e.labels);
      for (const k of Object.keys(first)) if (e.labels[k] !== first[k]) delete first[k];
    }
    return first;
  }
  function chipsFor(e, common) {
    const ks = Object.keys(e.labels).filter((k) => !(k in common));
    if (!ks.length) return null;
    const span = el('span', { class: 'chips' });
    for (const k of ks) span.append(el('span', { class: 'chip', text: `${k}=${e.labels[k]}` }), ' ');
    return span;
  }
  function logRow(e, i, common) {
    const lvl = levelOf(e);
    const row = el('div', { class: 'row' + (lvl ? ' lvl-' + lvl : ''), 'data-i': String(i) });
    const ms = Number(e.ns / NS_PER_MS);
    row.append(el('span', { class: 'ts', title: rfc3339Nanos(e.ns), text: fmtTime(ms) }));
    const line = el('span', { class: 'line' });
    renderAnsi(line, e.line);
    row.append(line);
    const chips = common ? chipsFor(e, common) : null;
    if (chips) row.append(chips);
    return row;
  }

  // ANSI SGR colours become classes; every other escape sequence is dropped.
  const ANSI_RE = /\x1b\[([0-9;?]*)([@-~])/g;
  function renderAnsi(node, text) {
    if (text.indexOf('\x1b') < 0) { node.textContent = text; return; }
    let last = 0, fg = null, bold = false;
    const emit = (s) => {
      if (!s) return;
      if (fg === null && !bold) { node.append(s); return; }
      node.append(el('span', { class: [fg !== null ? 'a-' + fg : '', bold ? 'a-bold' : ''].join(' ').trim(), text: s }));
    };
    for (const m of text.matchAll(ANSI_RE)) {
      emit(text.slice(last, m.index));
      last = m.index + m[0].length;
      if (m[2] !== 'm') continue;
      const codes = m[1] === '' ? [0] : m[1].split(';').map(Number);
      for (let i = 0; i < codes.length; i++) {
        const c = codes[i];
        if (c === 0) { fg = null; bold = false; } else if (c === 1) bold = true;
        else if (c === 22) bold = false;
        else if (c >= 30 && c <= 37) fg = c;
        else if (c >= 90 && c <= 97) fg = c - 60;
        else if (c === 39) fg = null;
        else if (c === 38 || c === 48) i += codes[i + 1] === 5 ? 2 : 4; // 256/true colour: dropped
      }
    }
    emit(text.slice(last).replace(/\x1b/g, ''));
  }

  function toggleDetails(row) {
    const open = row.querySelector('.details');
    if (open) { open.remove(); return; }
    const e = shown[Number(row.dataset.i)] || liveEntries.get(row);
    if (!e) return;
    const tbody = el('tbody');
    const add = (k, v, kind) => {
      const act = el('td', { class: 'act' });
      if (S.view === 'query') {
        act.append(
          el('button', { type: 'button', title: 'Only lines with this value', text: '+', onclick: () => refine(k, '=', v, kind) }), ' ',
          el('button', { type: 'button', title: 'Lines without this value', text: '−', onclick: () => refine(k, '!=', v, kind) }));
      }
      tbody.append(el('tr', {}, el('td', { class: 'k', text: k }), el('td', { text: v }), el('td', { class: 'kind', text: kind }), act));
    };
    tbody.append(el('tr', {}, el('td', { class: 'k', text: 'timestamp' }), el('td', { text: `${rfc3339Nanos(e.ns)} (${e.ns} ns)` }), el('td'), el('td')));
    for (const [k, v] of Object.entries(e.labels)) add(k, v, 'label');
    for (const [k, v] of Object.entries(e.meta)) add(k, v, 'structured metadata');
    for (const [k, v] of Object.entries(e.parsed)) add(k, v, 'parsed');
    row.append(el('div', { class: 'details' }, el('table', {}, tbody)));
  }
  function refine(k, op, v, kind) {
    if (kind === 'label') addMatcher(k, op, v);
    else $('q').value = $('q').value.trimEnd() + ` | ${k}${op}${quote(v)}`;
    runQuery(true);
  }
  // A click on a row (not inside its details, not ending a text
  // selection) opens or closes it.
  function onRowClick(ev) {
    if (ev.target.closest('.details')) return;
    const row = ev.target.closest('.row');
    if (row && !window.getSelection().toString()) toggleDetails(row);
  }
  $('logs').addEventListener('click', onRowClick);

  $('older').addEventListener('click', async () => {
    if (!shown.length) return;
    const q = S.query.trim();
    const [from, to] = timeRange();
    const edge = shown[shown.length - 1].ns;
    const back = S.direction === 'backward';
    // The edge entry is asked for again (the bound may be inclusive): the
    // entries already shown are skipped.
    const start = back ? msToNs(from) : edge.toString();
    const end = back ? (edge + 1n).toString() : msToNs(to);
    const btn = $('older');
    btn.disabled = true;
    try {
      const j = await call(lokiURL('query_range', { query: q, start, end, limit: S.limit, direction: S.direction }), { headers: { 'X-Loki-Response-Encoding-Flags': 'categorize-labels' } });
      const added = appendLogs(j.data.result, true);
      $('summary').textContent = `${fmtNum(shown.length)} lines`;
      show(btn, added > 0 && j.data.result.reduce((n, s) => n + s.values.length, 0) >= S.limit);
    } catch (e) {
      showError(e.message);
    } finally {
      btn.disabled = false;
    }
  });

  // -- query text edits --
  const quote = (v) => JSON.stringify(String(v));
  // The first stream selector, outside quoted strings: [open, close] brace.
  function selectorSpan(q) {
    let open = -1, str = null;
    for (let i = 0; i < q.length; i++) {
      const c = q[i];
      if (str) {
        if (c === '\\' && str !== '`') i++;
        else if (c === str) str = null;
      } else if (c === '"' || c === '`') str = c;
      else if (c === '{' && open < 0) open = i;
      else if (c === '}' && open >= 0) return [open, i];
    }
    return null;
  }
  function addMatcher(name, op, value) {
    const q = $('q').value;
    const m = `${name}${op}${quote(value)}`;
    const span = selectorSpan(q);
    if (!span) { $('q').value = `{${m}}`; return; }
    const inner = q.slice(span[0] + 1, span[1]).trim();
    $('q').value = q.slice(0, span[0] + 1) + (inner ? inner + ', ' + m : m) + q.slice(span[1]);
  }

  // -- volume histogram (count by detected level) --
  const LEVEL_COLOURS = { error: '--lvl-error', critical: '--lvl-error', fatal: '--lvl-error', warn: '--lvl-warn', warning: '--lvl-warn', info: '--lvl-info', debug: '--lvl-debug', trace: '--lvl-trace' };
  const cssVar = (v) => getComputedStyle(document.documentElement).getPropertyValue(v).trim();
  async function loadVolume(q, from, to) {
    const seq = runSeq;
    const step = Math.max(1, Math.ceil((to - from) / 1000 / 120));
    const vq = `sum by (detected_level) (count_over_time(${q} [${step}s]))`;
    try {
      const j = await call(lokiURL('query_range', { query: vq, start: msToNs(from), end: msToNs(to), step: step + 's' }));
      if (seq !== runSeq) return;
      drawVolume(j.data.result, from, to, step);
    } catch (_) { /* the histogram is a courtesy: the lines are already shown */ }
  }
  function drawVolume(series, from, to, step) {
    const box = $('volume');
    box.replaceChildren();
    if (!series.length) return;
    show(box, true); // measured below: a hidden box has no width
    const W = Math.max(300, box.clientWidth - 12 || 800), H = 90, padL = 44, padB = 16;
    const buckets = new Map();
    const order = ['error', 'critical', 'fatal', 'warn', 'warning', 'info', 'debug', 'trace', 'unknown'];
    series.sort((a, b) => order.indexOf(a.metric.detected_level || 'unknown') - order.indexOf(b.metric.detected_level || 'unknown'));
    let max = 0;
    for (const s of series) for (const [t, v] of s.values) {
      const n = (buckets.get(t) || 0) + Number(v);
      buckets.set(t, n);
      if (n > max) max = n;
    }
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Log volume by level' });
    const bw = Math.max(1, (W - padL) / ((to - from) / 1000 / step) - 1);
    const x = (tms) => padL + ((tms - from) / (to - from)) * (W - padL);
    const y = (v) => (H - padB) - (v / (max || 1)) * (H - padB - 10);
    const base = new Map();
    const legend = el('div', { class: 'legend' });
    for (const s of series) {
      const lvl = s.metric.detected_level || 'unknown';
      const colour = cssVar(LEVEL_COLOURS[lvl] || '--lvl-unknown');
      let total = 0;
      for (const [t, v] of s.values) {
        const b = base.get(t) || 0;
        const n = Number(v);
        total += n;
        g.append(svg('rect', { x: x(t * 1000) - bw, y: y(b + n), width: bw, height: Math.max(0.5, y(b) - y(b + n)), fill: colour }));
        base.set(t, b + n);
      }
      legend.append(el('span', {}, el('span', { class: 'swatch', 'data-colour': colour }), ` ${lvl} ${fmtNum(total)}`));
    }
    axes(g, W, H, padL, padB, from, to, max, true);
    box.append(g, legend);
    for (const sw of legend.querySelectorAll('.swatch')) sw.style.background = sw.dataset.colour;
    show(box, true);
  }

  // -- axes shared by the histogram and the chart --
  function niceTicks(max, count) {
    if (max <= 0) return [0];
    const raw = max / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
    const out = [];
    for (let v = 0; v <= max * 1.0001; v += step) out.push(v);
    return out;
  }
  function axes(g, W, H, padL, padB, from, to, max, compact, min = 0) {
    const a = svg('g', { class: 'axis' });
    const span = to - from;
    const n = Math.max(2, Math.floor((W - padL) / 110));
    for (let i = 0; i <= n; i++) {
      const t = from + (span * i) / n;
      const xx = padL + ((W - padL) * i) / n;
      const d = new Date(t);
      const label = span > 2 * 864e5 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}` : `${pad(d.getHours())}:${pad(d.getMinutes())}${span < 6e5 ? ':' + pad(d.getSeconds()) : ''}`;
      const tx = svg('text', { x: xx, y: H - 3, 'text-anchor': i === 0 ? 'start' : i === n ? 'end' : 'middle' });
      tx.textContent = label;
      a.append(tx);
    }
    const ticks = niceTicks(max - min, compact ? 2 : 4).map((v) => v + min);
    for (const v of ticks) {
      const yy = (H - padB) - ((v - min) / ((max - min) || 1)) * (H - padB - 10);
      a.append(svg('line', { x1: padL, x2: W, y1: yy, y2: yy }));
      const tx = svg('text', { x: padL - 4, y: yy + 3, 'text-anchor': 'end' });
      tx.textContent = fmtValue(v);
      a.append(tx);
    }
    g.prepend(a);
  }

  // -- metric chart --
  const PALETTE = ['#3a7bd5', '#e4572e', '#2e9c5a', '#f2a541', '#8e5ad6', '#17a2b8', '#d6456d', '#7a8b2a', '#b06f32', '#4d6ab0'];
  function drawChart(result, from, to, step) {
    const box = $('chart');
    box.replaceChildren();
    show(box, true);
    if (!result.length) { box.append(el('p', { class: 'muted', text: 'No data in this range.' })); return; }
    const series = result.slice(0, MAX_SERIES).map((s, i) => ({
      name: labelString(s.metric), colour: PALETTE[i % PALETTE.length],
      pts: s.values.map(([t, v]) => [t * 1000, Number(v)]).filter(([, v]) => Number.isFinite(v)),
    }));
    let min = 0, max = 0;
    for (const s of series) for (const [, v] of s.pts) { if (v > max) max = v; if (v < min) min = v; }
    if (max === min) max = min + 1;
    const W = Math.max(300, box.clientWidth - 12 || 800), H = 260, padL = 54, padB = 18;
    const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Metric query chart' });
    const x = (t) => padL + ((t - from) / (to - from || 1)) * (W - padL);
    const y = (v) => (H - padB) - ((v - min) / (max - min)) * (H - padB - 10);
    const paths = series.map((s) => {
      let d = '', prev = null;
      for (const [t, v] of s.pts) {
        d += (prev !== null && t - prev <= step * 1500 ? 'L' : 'M') + x(t).toFixed(1) + ' ' + y(v).toFixed(1);
        prev = t;
      }
      // A single point would draw nothing: mark it.
      if (s.pts.length === 1) d += 'h1';
      const p = svg('path', { d, fill: 'none', stroke: s.colour, 'stroke-width': '1.6', class: 'series' });
      g.append(p);
      return p;
    });
    axes(g, W, H, padL, padB, from, to, max, false, min);
    const cursor = svg('line', { y1: 0, y2: H - padB, stroke: 'currentColor', 'stroke-opacity': '0.3', visibility: 'hidden' });
    g.append(cursor);
    const tip = el('div', { class: 'tooltip', text: 'Hover the chart for values.' });
    g.addEventListener('mousemove', (ev) => {
      const r = g.getBoundingClientRect();
      const px = ((ev.clientX - r.left) / r.width) * W;
      const t = from + ((px - padL) / (W - padL)) * (to - from);
      const at = [];
      for (let i = 0; i < series.length; i++) {
        if (paths[i].getAttribute('visibility') === 'hidden') continue;
        let best = null;
        for (const p of series[i].pts) if (best === null || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
        if (best && Math.abs(best[0] - t) <= step * 1000) at.push([series[i], best]);
      }
      cursor.setAttribute('x1', px); cursor.setAttribute('x2', px); cursor.setAttribute('visibility', 'visible');
      at.sort((a, b) => b[1][1] - a[1][1]);
      tip.textContent = at.length ? fmtTime(at[0][1][0], false) + ' — ' + at.slice(0, 8).map(([s, p]) => `${s.name}: ${fmtValue(p[1])}`).join(' · ') : '';
    });
    g.addEventListener('mouseleave', () => cursor.setAttribute('visibility', 'hidden'));
    const legend = el('div', { class: 'legend' });
    series.forEach((s, i) => {
      const b = el('button', { type: 'button', title: 'Show or hide this series' }, el('span', { class: 'swatch' }), s.name);
      b.firstChild.style.background = s.colour;
      b.addEventListener('click', () => {
        const off = b.classList.toggle('off');
        paths[i].setAttribute('visibility', off ? 'hidden' : 'visible');
      });
      legend.append(b);
    });
    box.append(g, tip, legend);
    if (result.length > MAX_SERIES) box.append(el('p', { class: 'muted', text: `Showing ${MAX_SERIES} of ${fmtNum(result.length)} series.` }));
  }

  // -- instant table --
  function drawTable(result) {
    const box = $('table');
    const keys = [...new Set(result.flatMap((r) => Object.keys(r.metric || {})))].sort();
    const head = el('tr', {}, ...keys.map((k) => el('th', { text: k })), el('th', { text: 'value' }));
    const body = el('tbody');
    for (const r of result) {
      const m = r.metric || {};
      body.append(el('tr', {}, ...keys.map((k) => el('td', { text: m[k] ?? '' })), el('td', { class: 'num', text: fmtValue(r.value[1]) })));
    }
    box.replaceChildren(result.length ? el('table', { class: 'data' }, el('thead', {}, head), body) : el('p', { class: 'muted', text: 'Empty result.' }));
    show(box, true);
  }

  // -- label browser --
  async function loadLabels(from, to, seq) {
    const box = $('labels');
    try {
      const j = await call(lokiURL('labels', { start: msToNs(from), end: msToNs(to) }));
      if (seq !== runSeq) return;
      const names = (j.data || []).filter((n) => n !== '__name__');
      box.replaceChildren();
      if (!names.length) box.append(el('p', { class: 'muted', text: 'No labels in this range.' }));
      for (const name of names) {
        const values = el('div', { class: 'values', hidden: true });
        const btn = el('button', { type: 'button', class: 'label-name', 'data-label': name, text: name, 'aria-expanded': 'false' });
        btn.addEventListener('click', async () => {
          const open = values.hidden;
          btn.setAttribute('aria-expanded', String(open));
          show(values, open);
          if (!open || values.childElementCount) return;
          values.append(el('span', { class: 'muted', text: 'Loading…' }));
          try {
            const [f, t] = timeRange();
            const v = await call(lokiURL(`label/${encodeURIComponent(name)}/values`, { start: msToNs(f), end: msToNs(t) }));
            values.replaceChildren(...(v.data || []).slice(0, 500).map((val) =>
              el('button', { type: 'button', class: 'label-value', 'data-label': name, title: `Add ${name}=${quote(val)} to the query`, text: val, onclick: () => { addMatcher(name, '=', val); runQuery(true); } })));
            if (!values.childElementCount) values.append(el('span', { class: 'muted', text: 'no values' }));
          } catch (e) {
            values.replaceChildren(el('span', { class: 'muted', text: e.message }));
          }
        });
        box.append(btn, values);
      }
    } catch (e) {
      if (seq === runSeq) box.replaceChildren(el('p', { class: 'muted', text: e.message }));
    }
  }

  // -- detected fields --
  async function loadFields(q, from, to) {
    const seq = runSeq;
    const box = $('fields');
    try {
      const j = await call(lokiURL('detected_fields', { query: q, start: msToNs(from), end: msToNs(to) }));
      if (seq !== runSeq) return;
      const fields = j.fields || [];
      box.replaceChildren();
      if (!fields.length) box.append(el('p', { class: 'muted', text: 'None in these lines.' }));
      for (const f of fields) {
        const values = el('div', { class: 'values', hidden: true });
        const parser = (f.parsers || [])[0];
        const btn = el('button', { type: 'button', class: 'field-name' }, f.label, el('span', { class: 'kind', text: `${f.type} · ${f.cardinality}` }));
        btn.addEventListener('click', async () => {
          show(values, values.hidden);
          if (values.hidden || values.childElementCount) return;
          try {
            const v = await call(lokiURL(`detected_field/${encodeURIComponent(f.label)}/values`, { query: q, start: msToNs(from), end: msToNs(to) }));
            values.replaceChildren(...(v.values || []).slice(0, 200).map((val) => el('button', {
              type: 'button', text: val, onclick: () => {
                let text = $('q').value.trimEnd();
                if (parser && !new RegExp('\\|\\s*' + parser + '\\b').test(text)) text += ` | ${parser}`;
                $('q').value = text + ` | ${f.label}=${quote(val)}`;
                runQuery(true);
              },
            })));
          } catch (e) {
            values.replaceChildren(el('span', { class: 'muted', text: e.message }));
          }
        });
        box.append(btn, values);
      }
    } catch (_) {
      if (seq === runSeq) box.replaceChildren(el('p', { class: 'muted', text: 'Not available for this query.' }));
    }
  }

  // ---- live tail --------------------------------------------------------------
  let ws = null, paused = false, pending = [], dropped = 0;
  const liveEntries = new WeakMap();
  function stopLive() {
    if (ws) { ws.onclose = null; ws.close(); ws = null; }
    $('live-start').textContent = 'Start';
    $('live-pause').disabled = true;
    $('live-state').textContent = 'Stopped.';
  }
  async function startLive() {
    stopLive();
    const q = $('live-q').value.trim();
    show($('live-error'), false);
    if (!q) return;
    S.query = q;
    $('q').value = q;
    saveURL(false);
    try {
      const fq = await fetch(lokiURL('format_query', { query: q }), { headers: tenant ? { 'X-Scope-OrgID': tenant } : {} });
      if (fq.status === 400) throw new Error((await fq.json()).error);
    } catch (e) {
      $('live-error').textContent = e.message;
      show($('live-error'), true);
      return;
    }
    const url = lokiURL('tail', { query: q, limit: 100, start: msToNs(Date.now() - 5 * 60e3), orgId: tenant || undefined });
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    paused = false; pending = []; dropped = 0;
    show($('live-dropped'), false);
    $('live-pause').textContent = 'Pause';
    const sock = new WebSocket(url);
    ws = sock;
    $('live-state').textContent = 'Connecting…';
    $('live-start').textContent = 'Stop';
    sock.onopen = () => { $('live-state').textContent = 'Following.'; $('live-pause').disabled = false; };
    sock.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (msg.dropped_entries && msg.dropped_entries.length) {
        dropped += msg.dropped_entries.length;
        $('live-dropped').textContent = `${fmtNum(dropped)} entries were dropped: Lode sent them faster than this page could take them.`;
        show($('live-dropped'), true);
      }
      const entries = entriesOf(msg.streams || []).sort((a, b) => (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : 0));
      if (paused) {
        pending.push(...entries);
        $('live-state').textContent = `Paused, ${fmtNum(pending.length)} new line${pending.length === 1 ? '' : 's'} waiting.`;
      } else {
        appendLive(entries);
      }
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      $('live-start').textContent = 'Start';
      $('live-pause').disabled = true;
      $('live-state').textContent = `Closed${ev.reason ? ': ' + ev.reason : ev.code !== 1000 ? ` (code ${ev.code})` : ''}.`;
    };
  }
  function appendLive(entries) {
    const box = $('live-logs');
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
    const frag = document.createDocumentFragment();
    for (const e of entries) {
      const row = logRow(e, -1, null);
      liveEntries.set(row, e);
      frag.append(row);
    }
    box.append(frag);
    while (box.childElementCount > MAX_LIVE_ROWS) box.firstElementChild.remove();
    if (atBottom) box.scrollTop = box.scrollHeight;
  }
  $('live-logs').addEventListener('click', onRowClick);
  $('live-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (ws) stopLive(); else startLive();
  });
  $('live-pause').addEventListener('click', () => {
    paused = !paused;
    $('live-pause').textContent = paused ? 'Resume' : 'Pause';
    if (!paused) {
      appendLive(pending);
      pending = [];
      $('live-state').textContent = 'Following.';
    } else {
      $('live-state').textContent = 'Paused.';
    }
  });
  $('live-clear').addEventListener('click', () => $('live-logs').replaceChildren());
  $('live-q').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); startLive(); }
  });

  // ---- status view ---------------------------------------------------------------
  let lastSample = null;
  let configLoaded = false;
  function card(id, k, v, s) {
    return el('div', { class: 'card', id: 'card-' + id }, el('div', { class: 'k', text: k }), el('div', { class: 'v', text: v }), s ? el('div', { class: 's', text: s }) : null);
  }
  async function loadStatus() {
    clearTimeout(statusTimer);
    try {
      const st = await call(uiURL('status'));
      show($('status-error'), false);
      showTenantBox(st.auth_enabled);
      const t = st.tenant_status, c = st.compactor, l = st.limits, store = st.store;
      const cards = [
        card('tenant', 'Tenant', st.tenant, store ? `${fmtNum(store.tenants)} tenant${store.tenants === 1 ? '' : 's'} in the store` : 'X-Scope-OrgID'),
        card('streams', 'Active streams', fmtNum(t.active_streams), `${fmtNum(t.streams)} streams known · limit ${l.max_global_streams_per_user ? fmtNum(l.max_global_streams_per_user) : 'none'}`),
        card('chunks', 'Stored in chunks', humanBytes(t.chunk_bytes), `${fmtNum(t.chunk_files)} chunk files`),
        card('oldest', 'Oldest data', t.oldest ? fmtTime(parseLinkTime(t.oldest), false) : '—', t.newest ? `newest ${fmtRelative(parseLinkTime(t.newest))}` : 'nothing stored yet'),
        card('retention', 'Retention', l.retention_enabled && l.retention_period !== '0s' ? l.retention_period : 'keep forever', l.retention_enabled ? 'applied by the compactor' : 'compactor.retention_enabled is off'),
        card('compaction', 'Next compaction', c.next_run ? fmtRelative(parseLinkTime(c.next_run)) : '—', `every ${c.compaction_interval}${c.last_run ? ' · last ' + fmtRelative(parseLinkTime(c.last_run)) : ''}`),
      ];
      // The tenant's own ingestion, from two refreshes 5 s apart.
      const now = Date.now();
      let rate = 'measuring…', rateS = 'over the next 5 s';
      if (lastSample && now > lastSample.t) {
        const secs = (now - lastSample.t) / 1000;
        rate = `${fmtValue(Math.max(0, (t.lines_ingested - lastSample.lines) / secs))} lines/s`;
        rateS = `${humanBytes(Math.max(0, Math.round((t.bytes_ingested - lastSample.bytes) / secs)))}/s`;
      }
      lastSample = { t: now, lines: t.lines_ingested, bytes: t.bytes_ingested };
      cards.push(
        card('rate', 'Ingestion rate', rate, rateS),
        card('ingested', 'Ingested since start', `${fmtNum(t.lines_ingested)} lines`, humanBytes(t.bytes_ingested)));
      if (store) {
        cards.push(
          card('wal', 'Write-ahead log', humanBytes(store.wal_bytes), `${humanBytes(store.unflushed_bytes)} not yet in chunks`),
          card('disk', 'Chunks, all tenants', humanBytes(store.chunk_bytes), `${fmtNum(store.chunk_files)} files · ${fmtNum(store.streams)} streams`));
      }
      cards.push(
        card('limits', 'Query limits', l.max_query_length, `${fmtNum(l.max_entries_limit_per_query)} entries per query`),
        card('version', 'Version', 'Lode ' + st.version, 'Loki API ' + st.loki_version));
      $('status-cards').replaceChildren(...cards);
      $('status-cards').dataset.streams = String(t.streams);
    } catch (e) {
      if (e.status === 401) showTenantBox(true);
      $('status-error').textContent = e.status === 401 ? 'This Lode has auth_enabled: enter a tenant above.' : e.message;
      show($('status-error'), true);
    }
    loadDeletes();
    if (!configLoaded) {
      call(new URL('config', ROOT), { raw: true }).then((text) => { $('config').textContent = text; configLoaded = true; }, () => {});
    }
    if (S.view === 'status') statusTimer = setTimeout(loadStatus, 5000);
  }

  async function loadDeletes() {
    const box = $('deletes');
    try {
      const list = (await call(lokiURL('delete'))) || [];
      if (!list.length) { box.replaceChildren(el('p', { class: 'muted', text: 'No delete requests.' })); return; }
      const body = el('tbody');
      list.sort((a, b) => b.created_at - a.created_at);
      for (const d of list) {
        const act = el('td');
        if (d.status === 'received') {
          act.append(el('button', {
            type: 'button', class: 'cancel-delete', 'data-id': d.request_id, text: 'Cancel', onclick: async (ev) => {
              ev.target.disabled = true;
              try {
                await call(lokiURL('delete', { request_id: d.request_id }), { method: 'DELETE', raw: true });
                $('delete-msg').textContent = `Request ${d.request_id} cancelled.`;
              } catch (e) {
                $('delete-msg').textContent = e.message;
              }
              loadDeletes();
            },
          }));
        }
        body.append(el('tr', { 'data-id': d.request_id, 'data-status': d.status },
          el('td', { text: d.query }),
          el('td', { text: `${fmtTime(d.start_time * 1000, false)} → ${fmtTime(d.end_time * 1000, false)}` }),
          el('td', { class: 'status', text: d.status }),
          el('td', { text: fmtTime(d.created_at * 1000, false) }), act));
      }
      box.replaceChildren(el('table', { class: 'data' }, el('thead', {}, el('tr', {}, ...['selector', 'range', 'status', 'created', ''].map((h) => el('th', { text: h })))), body));
    } catch (e) {
      box.replaceChildren(el('p', { class: 'muted', text: e.message }));
    }
  }
  $('delete-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const q = $('delete-q').value.trim();
    const f = fromLocalInput($('delete-from').value), t = fromLocalInput($('delete-to').value);
    if (!q) { $('delete-msg').textContent = 'Enter a stream selector.'; return; }
    try {
      await call(lokiURL('delete', { query: q, start: f !== null ? Math.floor(f / 1000) : undefined, end: t !== null ? Math.ceil(t / 1000) : undefined }), { method: 'POST', raw: true });
      $('delete-msg').textContent = 'Delete request recorded: matching lines disappear from queries now and from disk after the cancel period.';
      loadDeletes();
    } catch (e) {
      $('delete-msg').textContent = e.message;
    }
  });

  // ---- tenant ---------------------------------------------------------------------
  function showTenantBox(on) {
    show($('tenant-box'), on || !!tenant);
  }
  function setTenant(t, rerun) {
    t = (t || '').trim();
    if (t === tenant) return;
    tenant = t;
    $('tenant').value = t;
    if (t) localStorage.setItem('lode.tenant', t); else localStorage.removeItem('lode.tenant');
    // Nothing from the previous tenant stays on screen.
    clearResults();
    $('labels').replaceChildren();
    $('fields').replaceChildren();
    $('live-logs').replaceChildren();
    $('status-cards').replaceChildren();
    $('deletes').replaceChildren();
    lastSample = null;
    if (!rerun) return;
    saveURL(false);
    if (S.view === 'query') runQuery(false);
    else if (S.view === 'status') loadStatus();
    else stopLive();
  }
  $('tenant').addEventListener('change', () => setTenant($('tenant').value, true));

  // ---- wiring ----------------------------------------------------------------------
  $('query-form').addEventListener('submit', (ev) => { ev.preventDefault(); runQuery(true); });
  $('q').addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); runQuery(true); }
  });
  $('range').addEventListener('change', () => {
    const custom = $('range').value === 'custom';
    if (custom && !$('from').value) {
      const [f, t] = timeRange();
      $('from').value = toLocalInput(f);
      $('to').value = toLocalInput(t);
    }
    show($('abs'), custom);
    if (!custom && $('q').value.trim()) runQuery(true);
  });
  for (const id of ['mode', 'direction']) $(id).addEventListener('change', () => { if ($('q').value.trim()) runQuery(true); });
  for (const a of document.querySelectorAll('.tabs a')) {
    a.addEventListener('click', (ev) => {
      ev.preventDefault();
      if (S.view === 'query') readInputs();
      setView(a.dataset.view, true);
    });
  }
  window.addEventListener('popstate', () => {
    fromURL();
    applyInputs();
    setView(S.view);
    if (S.view === 'query') {
      if (S.query.trim()) runQuery(false); else clearResults();
    }
  });
  let resizeTimer = null;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (S.view === 'query' && S.query.trim() && !$('chart').hidden) runQuery(false); }, 300);
  });

  // Defaults for the delete form: the last hour.
  $('delete-from').value = toLocalInput(Date.now() - 36e5);
  $('delete-to').value = toLocalInput(Date.now());

  fromURL();
  $('tenant').value = tenant;
  applyInputs();
  showTenantBox(false);
  call(uiURL('status')).then((st) => showTenantBox(st.auth_enabled), (e) => { if (e.status === 401) showTenantBox(true); });
  setView(S.view);
  if (S.view === 'query' && S.query.trim()) runQuery(false);
  else if (S.view === 'live' && S.query.trim()) startLive();
})();
