// The booth kiosk (/kiosk): paired once with a device key (kept in localStorage, never in a
// URL), it shows the booth's clock and coming sessions, joins each session by itself when it
// opens, shows the partner full screen with a self-view, the time left and the 5- and 1-minute
// warnings, and comes back by itself after a network cut or a server restart.
//
// The protocol is static/signalling.js (BoothConnection); this module is only the screen.

import { BoothConnection } from './signalling.js';
import { startBoothReadiness } from './selftest.js';
import { t, lang, startTranslating } from './i18n.js';
import { ApiError, get } from './api.js';
import { h, clear, $, showError, clearErrors, openDialog, cityClass } from './dom.js';
import * as tm from './time.js';

const KEY_STORAGE = 'sebastian.kiosk.deviceKey';
const ENDED_SHOWN_MS = 6000;
const WARN5_SHOWN_MS = 20000;
const CAMERA_TIMEOUT_MS = 10000;

const state = {
  key: null,
  conn: null,
  welcomed: false,
  info: null, // GET /api/v1/kiosk: {booth, sessions}
  schedule: null, // the last `schedule` message
  connState: 'connecting',
  bookingId: null,
  peerState: null,
  start: null, // Date: start of the session in progress
  end: null, // Date: its end
  warning: null, // 'warn5' | 'warn1'
  retryAt: null, // Date of the next try while the server cannot be reached
  warningTimer: null,
  readiness: null, // static/selftest.js: self-tests and call_stats
  ended: null, // {reason} shown for a moment after a room closes
  endedTimer: null,
  localStream: null,
  unpairTimer: null,
  stopped: null, // the code of a final close (replaced, unsupported_version)
};

const screens = ['pair', 'idle', 'call', 'message'];

function show(screen) {
  for (const name of screens) $(`#${name}-screen`).hidden = name !== screen;
  document.body.dataset.screen = screen;
}

// -- start -----------------------------------------------------------------------------------

async function main() {
  tm.syncWithPage();
  startTranslating([$('#lang'), $('#pair-lang')], render);
  wire();
  setInterval(tick, 1000);
  let key = null;
  try {
    key = localStorage.getItem(KEY_STORAGE);
  } catch {
    key = null;
  }
  if (key) await start(key);
  else showPair();
}

function showPair(message) {
  show('pair');
  const form = $('#pair-form');
  clearErrors(form);
  if (message) showError(form, { field: 'device_key', message });
  $('#device-key').focus();
}

async function fetchInfo(key) {
  return get('/api/v1/kiosk', { headers: { Authorization: `Device ${key}` } });
}

function wire() {
  $('#reload-button').addEventListener('click', () => window.location.reload());
  $('#pair-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    clearErrors(form);
    const key = $('#device-key').value.trim();
    if (!key) {
      showError(form, { field: 'device_key', code: 'required', message: t('error.required') });
      return;
    }
    const button = form.querySelector('[type=submit]');
    button.disabled = true;
    try {
      const info = await fetchInfo(key);
      localStorage.setItem(KEY_STORAGE, key);
      form.reset();
      await start(key, info);
    } catch (err) {
      // A key typed here has never worked on this screen: it is mistyped or not this server's.
      showError(form, err.status === 401 ? { field: 'device_key', message: t('kiosk.badKey') } : err);
    } finally {
      button.disabled = false;
    }
  });
  $('#check-button').addEventListener('click', openCheck);
  $('#unmute').addEventListener('click', () => {
    const video = $('#remote-video');
    video.muted = false;
    video.play().catch(() => {});
    $('#unmute').hidden = true;
  });
  $('#fullscreen-button').addEventListener('click', () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else document.documentElement.requestFullscreen().catch(() => {});
  });
  $('#unpair-button').addEventListener('click', (event) => {
    const button = event.currentTarget;
    if (!button.classList.contains('confirming')) {
      button.classList.add('confirming');
      button.textContent = t('kiosk.unpairConfirm');
      clearTimeout(state.unpairTimer);
      state.unpairTimer = setTimeout(() => {
        button.classList.remove('confirming');
        button.textContent = t('kiosk.unpair');
      }, 5000);
      return;
    }
    unpair();
  });
  for (const button of document.querySelectorAll('dialog [data-close]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
}

function unpair(message) {
  localStorage.removeItem(KEY_STORAGE);
  if (state.conn) state.conn.close();
  state.conn = null;
  if (state.readiness) state.readiness.stop();
  state.readiness = null;
  state.key = null;
  state.info = null;
  state.schedule = null;
  state.welcomed = false;
  const button = $('#unpair-button');
  button.classList.remove('confirming');
  button.textContent = t('kiosk.unpair');
  showPair(message);
}

async function getCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return null;
  const ask = (constraints) => Promise.race([
    navigator.mediaDevices.getUserMedia(constraints),
    new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), CAMERA_TIMEOUT_MS)),
  ]);
  try {
    return await ask({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: true });
  } catch {
    try {
      return await ask({ video: true });
    } catch {
      return null;
    }
  }
}

async function start(key, info) {
  state.key = key;
  show('idle');
  renderConnection();
  try {
    state.info = info || await fetchInfo(key);
    tm.setServerTime(new Date(state.info.server_time));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      unpair(t('kiosk.unauthorized'));
      return;
    }
    // The server may be down: connect anyway, the socket retries by itself.
  }
  render();
  state.localStream = await getCamera();
  $('#self-video').srcObject = state.localStream;
  if (state.key !== key) return; // unpaired while waiting for the camera
  const conn = new BoothConnection({ deviceKey: key, localStream: state.localStream, autoJoin: true, client: 'kiosk/1.0' });
  state.conn = conn;
  conn.addEventListener('state', (e) => onState(e.detail));
  conn.addEventListener('schedule', (e) => onSchedule(e.detail));
  conn.addEventListener('peer-status', (e) => {
    state.peerState = e.detail.state;
    render();
  });
  conn.addEventListener('remote-stream', (e) => {
    const video = $('#remote-video');
    video.srcObject = e.detail.stream;
    video.muted = false;
    video.play().catch(() => {
      // Autoplay with sound needs a gesture unless the kiosk browser allows it: play muted and
      // offer a button (a booth should run with --autoplay-policy=no-user-gesture-required).
      video.muted = true;
      video.play().catch(() => {});
      $('#unmute').hidden = false;
    });
  });
  conn.addEventListener('countdown', (e) => onCountdown(e.detail));
  conn.addEventListener('closed', (e) => onClosed(e.detail));
  conn.addEventListener('retry', (e) => {
    state.retryAt = e.detail.at;
    renderConnection();
  });
  conn.addEventListener('error', (e) => onError(e.detail));
  state.readiness = startBoothReadiness(conn, () => state.localStream, { language: lang });
  conn.connect();
}

// -- events from the connection --------------------------------------------------------------

function onState({ state: next, bookingId }) {
  state.connState = next;
  if (['idle', 'waiting', 'calling', 'in-call'].includes(next)) {
    state.welcomed = true;
    state.retryAt = null;
    // The server's clock as the last welcome told it (a kiosk's own clock may be wrong). Only
    // a new welcome changes it; countdowns may have corrected it since.
    const offset = state.conn.serverNow() - Date.now();
    if (state.welcomeOffset === undefined || Math.abs(offset - state.welcomeOffset) > 1000) {
      state.welcomeOffset = offset;
      tm.setServerTime(state.conn.serverNow());
    }
  }
  const inRoom = bookingId != null && ['waiting', 'calling', 'in-call', 'reconnecting'].includes(next);
  if (inRoom && bookingId !== state.bookingId) {
    state.bookingId = bookingId;
    state.peerState = null;
    state.warning = null;
    state.ended = null;
    const entry = scheduled(bookingId);
    state.start = entry ? new Date(entry.start) : null;
    state.end = entry ? new Date(entry.end) : null;
  }
  if (!inRoom && next !== 'reconnecting' && next !== 'connecting') state.bookingId = null;
  document.body.dataset.connState = next;
  render();
}

function onSchedule(schedule) {
  state.schedule = schedule;
  if (state.key) {
    fetchInfo(state.key).then((info) => {
      state.info = info;
      render();
    }).catch(() => {});
  }
  render();
}

function onCountdown({ bookingId, remainingSeconds, end, extended }) {
  if (bookingId !== state.bookingId) return;
  state.end = end;
  if (!extended) tm.setServerTime(new Date(end.getTime() - remainingSeconds * 1000));
  if (extended) {
    state.warning = null;
  } else {
    state.warning = remainingSeconds > 60 ? 'warn5' : 'warn1';
    clearTimeout(state.warningTimer);
    if (state.warning === 'warn5') {
      state.warningTimer = setTimeout(() => {
        if (state.warning === 'warn5') state.warning = null;
        render();
      }, WARN5_SHOWN_MS);
    }
  }
  render();
}

function onClosed({ bookingId, reason }) {
  if (reason === 'left') return; // we left on purpose, or were replaced: nothing to say
  state.ended = { bookingId, reason };
  state.warning = null;
  state.bookingId = null;
  $('#remote-video').srcObject = null;
  $('#unmute').hidden = true;
  clearTimeout(state.endedTimer);
  state.endedTimer = setTimeout(() => {
    state.ended = null;
    render();
  }, ENDED_SHOWN_MS);
  render();
}

function onError({ code, fatal }) {
  if (!fatal) return;
  if (code === 'unauthorized') {
    unpair(t('kiosk.unauthorized'));
    return;
  }
  state.stopped = code;
  show('message');
  renderStopped();
  $('#reload-button').focus();
}

/** Why the server will not take this kiosk back, and what to do: never the bare code. */
function renderStopped() {
  $('#message-title').textContent = t('kiosk.title');
  $('#message-text').textContent = t(`kiosk.stopped.${state.stopped}`, {}, t('kiosk.stopped'));
}

// -- what is on screen -----------------------------------------------------------------------

function now() {
  return tm.serverNow();
}

function zone() {
  return (state.info && state.info.booth.timezone) || (state.schedule && state.schedule.timezone) || tm.viewerZone();
}

function scheduled(bookingId) {
  return state.schedule && (state.schedule.bookings || []).find((b) => b.booking_id === bookingId);
}

function sessionInfo(bookingId) {
  return state.info && state.info.sessions.find((s) => s.booking_id === bookingId);
}

function render() {
  if (!state.key) return;
  const screen = document.body.dataset.screen;
  if (screen === 'message') {
    renderStopped();
    return;
  }
  if (screen === 'pair') return;
  const inCall = state.bookingId != null || state.ended;
  show(inCall ? 'call' : 'idle');
  renderIdentity();
  renderConnection();
  renderSessions();
  renderCall();
  tick();
}

function renderIdentity() {
  const booth = state.info && state.info.booth;
  $('#booth-city').textContent = booth ? booth.city : '';
  $('#booth-city').className = `k-city ${cityClass(booth && booth.city)}`;
  $('#booth-name').textContent = booth ? `${booth.name} · ${booth.venue}` : t('kiosk.title');
}

function renderConnection() {
  const box = $('#conn-status');
  // Unreachable until a welcome says otherwise: offline, with the next try on the server's clock.
  const st = state.retryAt && ['connecting', 'reconnecting'].includes(state.connState) ? 'offline' : state.connState;
  const nextTry = state.retryAt && new Date(state.retryAt.getTime() + (tm.serverNow() - Date.now()));
  const label = st === 'idle' ? t('staff.online')
    : st === 'offline' ? t('kiosk.offline', { time: tm.timeWithSeconds(nextTry, zone(), lang()) })
      : st === 'reconnecting' ? t('kiosk.reconnecting')
        : st === 'closed' ? t('staff.offline') : t('kiosk.connecting');
  if (box.textContent !== label) box.textContent = label;
  box.dataset.state = st;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
  return `${Math.max(1, Math.ceil(s / 60))} min`;
}

function clockDuration(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  const hh = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(hh ? 2 : 1, '0');
  const ss = String(s % 60).padStart(2, '0');
  return hh ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
}

function renderSessions() {
  const list = clear($('#sessions'));
  const bookings = (state.schedule && state.schedule.bookings) || [];
  if (!bookings.length) {
    list.append(h('li', { class: 'k-empty' }, t('kiosk.none')));
    return;
  }
  const current = now();
  for (const booking of bookings) {
    const partner = booking.partners[0] || {};
    const extra = sessionInfo(booking.booking_id);
    const company = extra && (extra.organizer.company || extra.organizer.name);
    const opens = new Date(booking.join_opens_at);
    const starts = new Date(booking.start);
    const soon = opens <= current;
    const untilStart = (starts - current) / 1000;
    list.append(h('li', { class: `k-session ${cityClass(partner.city)}${soon ? ' soon' : ''}`, dataset: { bookingId: booking.booking_id } },
      h('span', { class: 'k-session-time' }, `${booking.local_start.slice(11, 16)}–${booking.local_end.slice(11, 16)}`),
      h('span', { class: 'k-session-partner' }, t('kiosk.with', { city: partner.city || '' }),
        partner.name ? ` · ${partner.name}` : ''),
      h('span', { class: 'k-session-detail' },
        [partner.local_start ? t('kiosk.partnerTime', { time: partner.local_start.slice(11, 16), city: partner.city }) : null,
          company ? t('kiosk.organizer', { company }) : null].filter(Boolean).join(' · ')),
      untilStart < 3600 ? h('span', { class: 'k-session-when', dataset: { startsIn: '' } },
        untilStart <= 0 || soon ? t('kiosk.startsSoon') : t('kiosk.startsIn', { time: duration(untilStart) })) : null));
  }
}

function renderCall() {
  const bookingId = state.bookingId ?? (state.ended && state.ended.bookingId);
  const entry = bookingId != null ? scheduled(bookingId) : null;
  const extra = bookingId != null ? sessionInfo(bookingId) : null;
  const partner = entry ? entry.partners[0] : extra && extra.booths.find((b) => !state.info || b.id !== state.info.booth.id);
  const partnerCity = partner ? partner.city : '';
  const name = $('#partner-name');
  name.textContent = partner ? `${partner.city} · ${partner.name}` : '';
  name.className = `k-partner-city ${cityClass(partnerCity)}`;
  const company = extra && (extra.organizer.company || extra.organizer.name);
  $('#partner-detail').textContent = [company ? t('kiosk.organizer', { company }) : null, extra ? extra.title : null]
    .filter(Boolean).join(' · ');

  const notice = $('#notice');
  let kind = null;
  let text = '';
  if (state.ended) {
    kind = 'ended';
    const endings = { cancelled: 'kiosk.cancelledRoom', moved: 'kiosk.movedRoom' };
    text = t(endings[state.ended.reason] || 'kiosk.ended');
  } else if (state.connState === 'reconnecting' || state.connState === 'connecting') {
    kind = 'reconnecting';
    text = t('kiosk.selfReconnecting');
  } else if (state.peerState === 'reconnecting') {
    kind = 'peer-reconnecting';
    text = t('kiosk.peerReconnecting', { city: partnerCity });
  } else if (state.connState === 'waiting') {
    kind = 'waiting';
    text = t('kiosk.waiting', { city: partnerCity });
  } else if (state.connState === 'calling') {
    kind = 'calling';
    text = t('kiosk.calling');
  }
  notice.hidden = !kind;
  notice.textContent = text;
  if (kind) notice.dataset.kind = kind;
  else delete notice.dataset.kind;

  const warning = $('#warning');
  warning.hidden = !state.warning || Boolean(state.ended);
  if (state.warning) {
    warning.dataset.kind = state.warning;
    warning.textContent = t(state.warning === 'warn5' ? 'kiosk.warn5' : 'kiosk.warn1');
  } else delete warning.dataset.kind;
}

function tick() {
  if (!state.key) return;
  const current = now();
  const z = zone();
  const l = lang();
  $('#clock').textContent = tm.time(current, z, l);
  $('#clock').dateTime = current.toISOString();
  $('#clock-date').textContent = tm.longDay(current, z, l);
  $('#clock-zone').textContent = `${z.replace(/_/g, ' ')} · ${tm.utcLabel(tm.offsetMinutes(z, current))}`;
  const remaining = $('#remaining');
  if (state.bookingId != null && state.start && current < state.start) {
    remaining.textContent = t('kiosk.callStartsIn', { time: clockDuration((state.start - current) / 1000) });
    remaining.dataset.level = 'ok';
  } else if (state.bookingId != null && state.end) {
    const seconds = (state.end - current) / 1000;
    remaining.textContent = t('kiosk.remaining', { time: clockDuration(seconds) });
    remaining.dataset.level = seconds <= 60 ? 'last' : seconds <= 300 ? 'warn' : 'ok';
  } else {
    remaining.textContent = '';
  }
  const bookingId = state.bookingId;
  const entry = bookingId != null ? scheduled(bookingId) : null;
  const partner = entry && entry.partners[0];
  $('#call-clock').textContent = partner
    ? `${t('kiosk.here')} ${tm.time(current, z, l)} · ${partner.city} ${tm.time(current, partner.timezone, l)}`
    : tm.time(current, z, l);
  if (document.body.dataset.screen === 'idle' && current.getSeconds() === 0) renderSessions();
}

// -- camera and microphone check -------------------------------------------------------------

async function openCheck() {
  const dialog = $('#check-dialog');
  const result = $('#check-result');
  result.textContent = '';
  delete result.dataset.ok;
  openDialog(dialog, '[data-close]');
  let stream = state.localStream;
  let own = false;
  if (!stream || !stream.active) {
    stream = await getCamera();
    own = true;
  }
  if (!stream) {
    result.textContent = t('kiosk.checkFailed', { error: 'getUserMedia' });
    result.dataset.ok = 'false';
    return;
  }
  const video = $('#check-video');
  video.srcObject = stream;
  let audio = null;
  let frame = null;
  if (stream.getAudioTracks().length) {
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 512;
    context.createMediaStreamSource(stream).connect(analyser);
    const samples = new Uint8Array(analyser.fftSize);
    const meter = $('#check-level');
    const loop = () => {
      analyser.getByteTimeDomainData(samples);
      let sum = 0;
      for (const v of samples) sum += ((v - 128) / 128) ** 2;
      meter.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
      frame = requestAnimationFrame(loop);
    };
    loop();
    audio = context;
  }
  const started = Date.now();
  const waitVideo = () => new Promise((resolve) => {
    const check = () => (video.videoWidth > 0 || Date.now() - started > 4000 ? resolve(video.videoWidth > 0) : setTimeout(check, 100));
    check();
  });
  const seen = await waitVideo();
  const hasAudio = stream.getAudioTracks().length > 0;
  result.dataset.ok = String(seen && hasAudio);
  result.textContent = !seen ? t('kiosk.checkFailed', { error: 'video' }) : hasAudio ? t('kiosk.checkOk') : t('kiosk.checkNoAudio');
  dialog.addEventListener('close', () => {
    cancelAnimationFrame(frame);
    if (audio) audio.close();
    video.srcObject = null;
    if (own) for (const track of stream.getTracks()) track.stop();
  }, { once: true });
}

// A handle for diagnostics (and the tests): the connection of this kiosk.
window.kiosk = { get connection() { return state.conn; }, get state() { return state; } };

main();
