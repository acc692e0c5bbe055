// The live page: one card per camera kept up to date by server-sent events from
// /api/events, an ask box per camera and a search over recent frames. Every value from the
// server is put into the page as text (textContent), never as HTML. The page's HTML carries
// the status and each camera's newest frame (#initial), shown before the event stream opens.
'use strict';

const cameras = new Map(); // name -> {el, shown, displayed, loading, pending, url}

const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

const pct = (p) => (100 * p).toFixed(1) + '%';
const clock = (ts) => (ts ? new Date(ts).toLocaleTimeString() : '');

// camera returns the card of a camera, making it the first time the camera is seen.
function camera(name) {
  let c = cameras.get(name);
  if (c) return c;
  const node = $('#camera-template').content.firstElementChild.cloneNode(true);
  node.dataset.camera = name;
  $('.name', node).textContent = name;
  $('.ask', node).addEventListener('submit', (ev) => ask(ev, name));
  $('#cameras').append(node);
  c = { el: node, shown: 0, displayed: 0, loading: false, pending: 0, url: '' };
  cameras.set(name, c);
  const opt = el('option', name);
  opt.value = name;
  $('#search-camera').append(opt);
  return c;
}

// setFrame shows a picture of a camera's frame got (its number) taken at when.
function setFrame(c, name, url, got, when) {
  const img = $('.frame', c.el);
  img.src = url;
  img.dataset.seq = String(got);
  img.alt = 'camera ' + name + ', frame ' + got;
  if (c.url) URL.revokeObjectURL(c.url);
  c.url = url.startsWith('blob:') ? url : '';
  c.shown = Math.max(c.shown, got);
  c.displayed = got;
  $('.frame-info', c.el).textContent = 'frame ' + got + (when ? ' at ' + clock(when) : '');
  markOlder(c);
}

// aboutFrame says which frame an answer is about; markOlder keeps it up to date.
function aboutFrame(f) {
  const span = el('span', '', 'about');
  span.dataset.frame = String(f.seq);
  span.dataset.ts = f.ts || '';
  return span;
}

// markOlder greys the answers about frames older than the one the card shows, and says so.
function markOlder(c) {
  for (const span of c.el.querySelectorAll('.about')) {
    const seq = Number(span.dataset.frame);
    const older = seq < c.displayed;
    span.textContent = ' · about frame ' + seq + (span.dataset.ts ? ' at ' + clock(span.dataset.ts) : '') +
      (older ? ' (an older frame)' : '');
    span.parentElement.classList.toggle('older', older);
  }
}

// showFrame loads a camera's newest frame once frame seq is announced. One load at a time
// per camera; announcements during a load are folded into one more load.
async function showFrame(name, seq) {
  const c = camera(name);
  if (seq <= c.shown) return;
  if (c.loading) {
    c.pending = Math.max(c.pending, seq);
    return;
  }
  c.loading = true;
  try {
    const resp = await fetch('/api/frame?camera=' + encodeURIComponent(name), { cache: 'no-store' });
    if (!resp.ok) throw new Error((await errorOf(resp)));
    const got = Number(resp.headers.get('X-Frame-Seq')) || seq;
    const blob = await resp.blob();
    if (got > c.shown) setFrame(c, name, URL.createObjectURL(blob), got, resp.headers.get('X-Frame-Time'));
    c.shown = Math.max(c.shown, seq);
  } catch (err) {
    $('.frame-info', c.el).textContent = 'frame: ' + err.message;
  } finally {
    c.loading = false;
  }
  if (c.pending > c.shown) {
    const next = c.pending;
    c.pending = 0;
    showFrame(name, next);
  }
}

function renderLabels(c, sets) {
  const box = $('.labels', c.el);
  box.replaceChildren();
  if (!sets.length) {
    box.append(el('p', 'no labels yet', 'muted'));
    return;
  }
  for (const set of sets) {
    const title = el('div', set.label_set + ' · frame ' + set.frame.seq, 'set');
    const list = el('ol');
    list.dataset.labelSet = set.label_set;
    list.dataset.frame = String(set.frame.seq);
    for (const l of set.labels) {
      const li = el('li');
      li.dataset.label = l.label;
      const meter = el('meter');
      meter.min = 0;
      meter.max = 1;
      meter.value = l.score;
      li.append(el('span', l.label, 'label'), meter, el('span', pct(l.score), 'score'));
      list.append(li);
    }
    box.append(title, list);
  }
}

function renderCaption(c, cap) {
  const p = $('.caption', c.el);
  p.textContent = cap ? cap.caption : 'no caption yet';
  p.title = cap ? 'frame ' + cap.frame.seq + ' at ' + clock(cap.frame.ts) + ', ' + Math.round(cap.latency_ms) + ' ms' : '';
}

function renderAnswers(c, answers) {
  const list = $('.answers', c.el);
  list.replaceChildren();
  for (const a of answers) {
    const li = el('li');
    li.dataset.frame = String(a.frame.seq);
    li.append(el('span', a.question + ' ', 'q'), el('strong', a.answer, 'a'), aboutFrame(a.frame));
    list.append(li);
  }
  markOlder(c);
}

function renderHealth(c, h) {
  let text = (h.state || 'unknown') + ' · ' + (h.fps || 0).toFixed(1) + ' fps · ' +
    h.captured + ' captured · ' + h.dropped + ' dropped';
  if (h.state !== 'streaming' && h.frame_age_s) text += ' · newest frame ' + Math.round(h.frame_age_s) + ' s old';
  if (h.reconnects) text += ' · ' + h.reconnects + ' reconnects';
  if (h.stalls) text += ' · ' + h.stalls + ' stalls';
  if (h.last_error) text += ' · ' + h.last_error;
  const p = $('.health', c.el);
  p.textContent = text;
  p.classList.toggle('error', h.state !== 'streaming');
}

// Per-camera state the events keep up to date between full statuses.
const latest = new Map(); // name -> {labels: [], answers: []}

function renderStatus(st) {
  $('#device').textContent = st.device || '';
  for (const cam of st.cameras) {
    const c = camera(cam.name);
    latest.set(cam.name, { labels: cam.labels, answers: cam.answers });
    renderLabels(c, cam.labels);
    renderCaption(c, cam.caption);
    renderAnswers(c, cam.answers);
    renderHealth(c, cam.health);
    if (cam.frame) showFrame(cam.name, cam.frame.seq);
  }
  const m = st.mqtt;
  const mqtt = $('#mqtt');
  mqtt.textContent = 'MQTT ' + (m.connected ? 'connected to ' : 'not connected to ') + m.broker +
    ' · ' + m.published + ' published · ' + m.queued + ' queued · ' + m.dropped + ' dropped' +
    (m.last_error ? ' · ' + m.last_error : '');
  mqtt.classList.toggle('error', !m.connected);
  const s = st.search;
  $('#recall').textContent = s.enabled
    ? 'Search looks at ' + s.frames + ' recent frames (' + (s.bytes / 1048576).toFixed(1) + ' MiB)'
    : 'Search is off (no CLIP model)';
  const prep = $('#preparing');
  prep.replaceChildren();
  for (const p of st.preparing) {
    let text = p.model + ': ' + p.state + ' ' + p.name;
    if (p.step) text += ' · ' + p.step + (p.percent ? ' ' + p.percent + '%' : '');
    if (p.error) text += ' · ' + p.error;
    const li = el('li', text);
    li.classList.toggle('error', p.state === 'failed');
    prep.append(li);
  }
  const cal = $('#calibration');
  cal.replaceChildren();
  for (const c of st.calibration || []) {
    let text = c.model + ' at ' + c.precision + ' · calibration ' + c.state;
    if (c.state === 'collecting') text += ' ' + c.frames + '/' + c.min_frames + ' frames';
    if (c.memory) text += ' · ' + c.memory;
    if (c.gate) text += ' · gate ' + c.gate;
    if (c.agreement) text += ' · shadow checks ' + c.agreement + ' (' + c.checks + ' checks)';
    if (c.fallbacks) text += ' · ' + c.fallbacks + (c.fallbacks === 1 ? ' fallback' : ' fallbacks');
    if (c.error) text += ' · ' + c.error;
    const li = el('li', text);
    li.classList.toggle('error', c.state === 'refused' || c.state === 'failed' || (c.agreement !== undefined && c.agreement !== 'passed'));
    cal.append(li);
  }
  const body = $('#models tbody');
  body.replaceChildren();
  for (const md of st.models) {
    const tr = el('tr');
    tr.append(el('td', md.model), el('td', String(md.count)), el('td', md.last_ms.toFixed(1)), el('td', md.mean_ms.toFixed(1)));
    body.append(tr);
  }
}

function onLabels(name, set) {
  const l = latest.get(name) || { labels: [], answers: [] };
  const i = l.labels.findIndex((s) => s.label_set === set.label_set);
  if (i >= 0) l.labels[i] = set; else l.labels.push(set);
  latest.set(name, l);
  renderLabels(camera(name), l.labels);
}

function onAnswer(name, a) {
  const l = latest.get(name) || { labels: [], answers: [] };
  l.answers = [a, ...l.answers].slice(0, 5);
  latest.set(name, l);
  renderAnswers(camera(name), l.answers);
}

async function errorOf(resp) {
  try {
    const body = await resp.json();
    return body.error || resp.statusText;
  } catch {
    return resp.status + ' ' + resp.statusText;
  }
}

async function ask(ev, name) {
  ev.preventDefault();
  const form = ev.target;
  const input = form.elements.question;
  const out = $('.ask-result', camera(name).el);
  const button = $('button', form);
  button.disabled = true;
  out.classList.remove('error');
  out.dataset.question = input.value;
  out.dataset.state = 'asking';
  delete out.dataset.frame;
  out.textContent = 'asking…';
  try {
    const resp = await fetch('/api/ask', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ camera: name, question: input.value }),
    });
    if (!resp.ok) throw new Error(await errorOf(resp));
    const a = await resp.json();
    out.dataset.frame = String(a.frame.seq);
    out.replaceChildren(el('span', a.question + ' → '), el('strong', a.answer, 'answer'), aboutFrame(a.frame));
    out.dataset.state = 'answered';
    markOlder(camera(name));
  } catch (err) {
    out.textContent = err.message;
    out.classList.add('error');
    out.dataset.state = 'failed';
  } finally {
    button.disabled = false;
  }
}

async function search(ev) {
  ev.preventDefault();
  const q = $('#search-q').value.trim();
  const params = new URLSearchParams({ q, k: $('#search-k').value });
  const cam = $('#search-camera').value;
  if (cam) params.set('camera', cam);
  const status = $('#search-status');
  const list = $('#search-results');
  status.className = '';
  status.textContent = 'searching…';
  try {
    const resp = await fetch('/api/search?' + params);
    if (!resp.ok) throw new Error(await errorOf(resp));
    const res = await resp.json();
    list.replaceChildren();
    for (const h of res.hits) {
      const li = el('li');
      li.dataset.camera = h.camera;
      li.dataset.frame = String(h.frame.seq);
      li.dataset.score = String(h.score);
      li.dataset.similar = String(h.similar || 0);
      const img = el('img');
      img.src = h.thumb;
      img.alt = h.camera + ' frame ' + h.frame.seq;
      const what = h.reranked ? 'match ' : (h.score === h.cosine ? 'cosine ' : 'p ');
      li.append(img,
        el('div', what + h.score.toFixed(3), 'score'),
        el('div', h.camera + ' · frame ' + h.frame.seq + ' · ' + clock(h.frame.ts) +
          (h.similar ? ' · +' + h.similar + ' similar' : ''), 'muted'));
      list.append(li);
    }
    status.textContent = res.hits.length
      ? res.hits.length + (res.hits.length === 1 ? ' best match' : ' best matches') + ' for “' + res.query + '”'
      : 'no recent frames to search yet';
  } catch (err) {
    list.replaceChildren();
    status.textContent = err.message;
    status.className = 'error';
  }
}

function connect() {
  const conn = $('#conn');
  const es = new EventSource('/api/events');
  es.onopen = () => { conn.dataset.state = 'live'; conn.textContent = 'live'; };
  es.onerror = () => { conn.dataset.state = 'reconnecting'; conn.textContent = 'reconnecting…'; };
  const on = (kind, fn) => es.addEventListener(kind, (e) => fn(JSON.parse(e.data)));
  on('status', renderStatus);
  on('frame', (m) => showFrame(m.camera, m.data.seq));
  on('labels', (m) => onLabels(m.camera, m.data));
  on('caption', (m) => renderCaption(camera(m.camera), m.data));
  on('answer', (m) => onAnswer(m.camera, m.data));
}

// showInitial shows what the page's HTML carries: the status and each camera's newest frame.
function showInitial() {
  const block = document.getElementById('initial');
  if (!block) return;
  const init = JSON.parse(block.textContent);
  for (const [name, f] of Object.entries(init.frames)) setFrame(camera(name), name, f.url, f.seq, f.ts);
  renderStatus(init.status);
}

$('#search-form').addEventListener('submit', search);
showInitial();
connect();
