// The staff console (/staff): one venue at a time (staff: theirs; admins: any). Today's
// sessions in local time, booths with their device keys and who is online, utilization per
// booth and week, opening hours, closures, and booking with an override reason.

import { t, lang, startTranslating } from './i18n.js';
import { get, post, patch, del, currentAccount, logIn, logOut } from './api.js';
import {
  h, clear, fill, $, showError, clearErrors, toast, busy, cityClass, onSubmit, openDialog, setErrorContext,
  dayField, setDayField, dayFieldValue, timeField,
} from './dom.js';
import { utilizationChart } from './chart.js';
import { startHealthPanel } from './health.js';
import * as tm from './time.js';

const VENUE_KEY = 'sebastian.staff.venue';
const PRESENCE_EVERY_MS = 2000;
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const DURATIONS = [15, 30, 45, 60, 90, 120];

const state = {
  account: null,
  venues: [],
  booths: [],
  venueId: null,
  presence: new Map(), // booth id -> presence entry
  keys: new Map(), // booth id -> {issued_at, last_seen_at} (issued_at null: no key)
  health: null, // static/health.js: the booth-health panel
  today: [],
  blackouts: [],
  utilization: null,
  hours: null, // the opening hours being edited: {mon: [["09:00","19:00"]], ...}
  revealed: null, // {boothId, key, replaced}
  outbox: [],
  outboxChanges: [], // booking changes whose messages are not composed (yet)
  outboxStatus: '', // '' = every status
};

const venue = () => state.venues.find((v) => v.id === state.venueId);
const venueBooths = () => state.booths.filter((b) => b.venue_id === state.venueId);

async function main() {
  tm.syncWithPage();
  startTranslating([$('#lang')], renderAll);
  setErrorContext(() => ({ booths: state.booths }));
  wire();
  state.account = await currentAccount().catch(() => null);
  await start();
  setInterval(tick, 1000);
  setInterval(() => {
    if (!document.hidden && venue()) Promise.all([loadPresence(), loadKeys()]);
  }, PRESENCE_EVERY_MS);
}

async function start() {
  const account = state.account;
  const staff = Boolean(account) && ['staff', 'admin'].includes(account.role);
  $('#signin').hidden = Boolean(account);
  $('#not-staff').hidden = !account || staff;
  renderAccount();
  if (!staff) {
    $('#console').hidden = true;
    document.body.dataset.ready = 'true';
    return;
  }
  const [venues, booths] = await Promise.all([get('/api/v1/venues'), get('/api/v1/booths')]);
  state.venues = venues.venues;
  state.booths = booths.booths;
  const saved = Number(localStorage.getItem(VENUE_KEY));
  const allowed = account.role === 'admin' ? state.venues : state.venues.filter((v) => v.id === account.venue_id);
  state.venueId = (allowed.find((v) => v.id === saved) || allowed[0] || {}).id || null;
  const picker = $('#venue-select');
  clear(picker).append(...allowed.map((v) => h('option', { value: v.id, selected: v.id === state.venueId }, `${v.city} — ${v.name}`)));
  $('#venue-picker').hidden = allowed.length < 2;
  await loadVenue();
  state.health ||= startHealthPanel($('#utilization'), {
    venueId: () => state.venueId,
    language: lang,
    timeOf: (iso) => `${tm.shortDay(new Date(iso), venue().timezone, lang())} ${tm.time(new Date(iso), venue().timezone, lang())}`,
  });
  $('#console').hidden = false; // shown once filled in, never half empty
  renderChart(); // again, now that it has a size to scroll to the current week
  document.body.dataset.ready = 'true';
}

async function loadVenue() {
  const v = venue();
  if (!v) return;
  state.hours = structuredClone(v.opening_hours);
  state.revealed = null;
  renderAll();
  await Promise.all([loadPresence(), loadKeys(), loadToday(), loadBlackouts(), loadUtilization(), loadOutbox()]);
}

function renderAll() {
  renderAccount();
  if (!venue()) return;
  if (state.health) state.health.render();
  renderHead();
  renderAgenda();
  renderBooths();
  renderHours();
  renderClosures();
  renderChart();
  renderOverrideForm();
  renderOutbox();
}

function renderAccount() {
  const box = clear($('#account'));
  if (!state.account) return;
  box.append(
    h('span', { class: 'who' }, h('span', { class: 'who-name' }, state.account.name)),
    h('button', {
      type: 'button', class: 'btn ghost small', onclick: async () => {
        await logOut();
        state.account = null;
        $('#console').hidden = true;
        $('#venue-picker').hidden = true;
        await start();
        $('#login-email').focus(); // the button that had focus is gone: the sign-in form has it
      },
    }, t('auth.logout')),
  );
}

function wire() {
  onSubmit($('#login-form'), async (data, form) => {
    state.account = await logIn(data.get('email'), data.get('password'));
    form.reset();
    await start();
    const heading = $('#venue-name');
    heading.tabIndex = -1;
    heading.focus();
  });
  $('#venue-select').addEventListener('change', (event) => {
    state.venueId = Number(event.target.value);
    localStorage.setItem(VENUE_KEY, String(state.venueId));
    loadVenue();
  });
  onSubmit($('#booth-form'), addBooth);
  for (const button of document.querySelectorAll('dialog [data-close]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
  for (const id of ['#closure-start-day', '#closure-end-day', '#ov-date']) dayField($(id));
  for (const id of ['#closure-start-time', '#closure-end-time', '#ov-time']) timeField($(id));
  $('#hours-form').addEventListener('submit', saveHours);
  $('#closure-form').addEventListener('submit', addClosure);
  $('#override-form').addEventListener('submit', bookOverride);
}

// -- header and clock ------------------------------------------------------------------------

function renderHead() {
  const v = venue();
  $('#venue-name').textContent = `${v.name} · ${v.city}`;
  $('#venue-address').textContent = v.address;
  $('#today-heading').textContent = t('staff.todayAt', { venue: v.name });
  $('#today-date').textContent = tm.longDay(tm.serverNow(), v.timezone, lang());
  tick();
}

function tick() {
  const v = venue();
  if (!v) return;
  const now = tm.serverNow();
  $('#venue-clock').textContent = `${t('staff.localNow', { time: tm.timeWithSeconds(now, v.timezone, lang()) })} · ${v.timezone} (${tm.utcLabel(tm.offsetMinutes(v.timezone, now))})`;
}

// -- today's sessions ------------------------------------------------------------------------

async function loadToday() {
  const v = venue();
  const day = tm.dayOf(tm.serverNow(), v.timezone);
  const from = tm.startOfDayIn(day, v.timezone).toISOString();
  const to = tm.startOfDayIn(tm.addDays(day, 1), v.timezone).toISOString();
  try {
    const answer = await get(`/api/v1/bookings?${new URLSearchParams({ from, to })}`);
    state.today = answer.bookings.filter((b) => b.booths.some((booth) => booth.venue_id === v.id));
  } catch (err) {
    state.today = [];
    showError($('#today'), err);
  }
  renderAgenda();
}

function renderAgenda() {
  const v = venue();
  const list = clear($('#agenda'));
  if (!state.today.length) {
    list.append(h('li', { class: 'empty' }, t('staff.noSessions')));
    return;
  }
  const now = tm.serverNow();
  for (const booking of state.today) {
    const here = booking.booths.find((b) => b.venue_id === v.id);
    const partners = booking.booths.filter((b) => b.venue_id !== v.id);
    const running = booking.status === 'confirmed' && new Date(booking.start) <= now && now < new Date(booking.end);
    const organizer = booking.organizer.company
      ? t('staff.organizer', { name: booking.organizer.name, company: booking.organizer.company })
      : t('staff.organizerNoCompany', { name: booking.organizer.name });
    list.append(h('li', { class: `agenda-item ${cityClass(v.city)}${booking.status === 'cancelled' ? ' cancelled' : ''}`, id: `agenda-${booking.id}` },
      h('span', { class: 'agenda-time' }, `${here.local.start.slice(11, 16)}–${here.local.end.slice(11, 16)}`),
      h('span', { class: 'agenda-title' }, booking.title, ' ',
        booking.status === 'cancelled' ? h('span', { class: 'badge badge-cancelled' }, t('status.cancelled')) : null,
        running ? h('span', { class: 'badge badge-confirmed' }, t('staff.inCall')) : null),
      partners.map((p) => h('span', { class: `agenda-partner ${cityClass(p.city)}` },
        t('staff.partner', { time: p.local.start.slice(11, 16), city: p.city }))),
      h('span', { class: 'agenda-meta' }, `${here.name} · ${partners.map((p) => `${p.name} (${p.city})`).join(', ')} · ${organizer}`),
      booking.override_reason ? h('span', { class: 'override-note' }, t('staff.override', { reason: booking.override_reason })) : null));
  }
}

// -- booths, keys and presence ---------------------------------------------------------------

async function loadPresence() {
  const v = venue();
  try {
    const answer = await get(`/api/v1/venues/${v.id}/presence`);
    if (answer.venue_id !== state.venueId) return;
    state.presence = new Map(answer.booths.map((p) => [p.booth_id, p]));
  } catch (err) {
    if (err.status === 401) {
      state.account = null;
      await start();
      return;
    }
    state.presence = new Map();
  }
  renderPresence();
}

function presenceOf(boothId) {
  const p = state.presence.get(boothId);
  const kind = !p ? 'offline' : p.state === 'in_room' ? 'in-call' : p.online ? 'online' : p.state === 'reconnecting' ? 'reconnecting' : 'offline';
  const label = {
    offline: t('staff.offline'), online: t('staff.online'), 'in-call': t('staff.inCall'), reconnecting: t('kiosk.selfReconnecting'),
  }[kind];
  const since = p && p.since && kind !== 'offline'
    ? t('staff.onlineSince', { time: tm.time(new Date(p.since), venue().timezone, lang()) }) : '';
  return { kind, label, since };
}

function renderBooths() {
  const rows = clear($('#booth-rows'));
  for (const booth of venueBooths()) {
    rows.append(h('tr', { id: `booth-${booth.id}`, dataset: { boothId: booth.id } },
      h('th', { scope: 'row' }, h('div', {}, booth.name), h('div', { class: 'key-cell' })),
      h('td', {}, h('div', { class: 'presence-cell' })),
      h('td', {}, h('div', { class: 'actions' }))));
  }
  renderPresence();
  renderKeys();
  renderKey();
}

async function loadKeys() {
  const v = venue();
  try {
    const answer = await get(`/api/v1/venues/${v.id}/device-keys`);
    if (answer.venue_id !== state.venueId) return;
    state.keys = new Map(answer.booths.map((k) => [k.booth_id, k]));
  } catch {
    return; // presence polling reports a lost session; the last known key status stays shown
  }
  renderKeys();
}

/** Each booth's key: issued when and last used when, and the actions that fit (issue, or rotate and revoke). */
function renderKeys() {
  const v = venue();
  const l = lang();
  for (const row of document.querySelectorAll('#booth-rows tr')) {
    const booth = state.booths.find((b) => b.id === Number(row.dataset.boothId));
    const key = state.keys.get(booth.id);
    const issued = Boolean(key && key.issued_at);
    const status = !key ? '' : issued
      ? [t('staff.keyActive', { date: tm.dayAndTime(new Date(key.issued_at), v.timezone, l) }),
        key.last_seen_at ? t('staff.keySeen', { date: tm.dayAndTime(new Date(key.last_seen_at), v.timezone, l) }) : t('staff.keyNeverSeen')].join(' · ')
      : t('staff.keyNone');
    const cell = row.querySelector('.key-cell');
    if (cell.textContent !== status) {
      cell.textContent = status;
      cell.dataset.key = issued ? 'issued' : 'none';
    }
    const actions = row.querySelector('.actions');
    if (actions.dataset.key === String(issued) && actions.dataset.lang === l) continue;
    actions.dataset.key = String(issued);
    actions.dataset.lang = l;
    const issue = h('button', {
      type: 'button', class: 'btn ghost small', dataset: { action: issued ? 'rotate' : 'issue' },
      'aria-label': `${t(issued ? 'staff.rotateKey' : 'staff.issueKey')}: ${booth.name}`,
      onclick: (e) => (issued ? confirmRotate(booth, e.currentTarget) : issueKey(booth, e.currentTarget)),
    }, t(issued ? 'staff.rotateKey' : 'staff.issueKey'));
    const revoke = issued ? h('button', {
      type: 'button', class: 'btn danger-ghost small', dataset: { action: 'revoke' },
      'aria-label': `${t('staff.revokeKey')}: ${booth.name}`, onclick: (e) => revokeKey(booth, e.currentTarget),
    }, t('staff.revokeKey')) : null;
    fill(actions, issue, revoke);
  }
}

/** Issuing a key to a booth that has one replaces it: say so and ask first. */
function confirmRotate(booth, button) {
  const dialog = $('#rotate-dialog');
  $('#rotate-text').textContent = t('staff.replaceText', { booth: booth.name });
  $('#rotate-confirm').onclick = async () => {
    dialog.close();
    await issueKey(booth, button);
  };
  openDialog(dialog, '#rotate-keep');
}

function renderPresence() {
  for (const row of document.querySelectorAll('#booth-rows tr')) {
    const { kind, label, since } = presenceOf(Number(row.dataset.boothId));
    const cell = row.querySelector('.presence-cell');
    if (!cell) continue;
    const current = cell.firstElementChild;
    if (current && current.dataset.kind === kind && current.dataset.since === since) continue;
    clear(cell).append(h('span', { class: `status ${kind}`, dataset: { kind, since } },
      h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'status-label' }, label),
      since ? h('span', { class: 'status-since' }, since) : null));
  }
}

function renderKey() {
  const box = $('#key-reveal');
  const shown = state.revealed;
  box.hidden = !shown;
  if (!shown) return;
  const booth = state.booths.find((b) => b.id === shown.boothId);
  fill(box,
    h('p', {}, t('staff.keyShown', { booth: booth ? booth.name : shown.boothId })),
    shown.replaced ? h('p', { class: 'key-replaced' }, t('staff.keyReplaced')) : null,
    h('code', { id: 'device-key', tabindex: '0' }, shown.key),
    h('div', { class: 'row' },
      h('button', {
        type: 'button', class: 'btn small', onclick: async () => {
          try {
            await navigator.clipboard.writeText(shown.key);
            toast(t('staff.keyCopied'), 'success');
          } catch {
            window.getSelection().selectAllChildren($('#device-key'));
          }
        },
      }, t('staff.copyKey')),
      h('button', { type: 'button', class: 'btn ghost small', onclick: () => { state.revealed = null; renderKey(); } }, t('staff.hideKey'))));
}

async function issueKey(booth, button) {
  await busy(button, async () => {
    try {
      const answer = await post(`/api/v1/booths/${booth.id}/device-key`, {});
      state.revealed = { boothId: booth.id, key: answer.device_key, replaced: answer.replaced };
      renderKey();
      $('#device-key').focus();
      await loadKeys();
    } catch (err) {
      showError($('#booths'), err);
    }
  });
}

async function revokeKey(booth, button) {
  await busy(button, async () => {
    try {
      await del(`/api/v1/booths/${booth.id}/device-key`);
      if (state.revealed && state.revealed.boothId === booth.id) state.revealed = null;
      renderKey();
      toast(t('staff.keyRevoked', { booth: booth.name }), 'success');
      await Promise.all([loadPresence(), loadKeys()]);
    } catch (err) {
      showError($('#booths'), err);
    }
  });
}

async function addBooth(data, form) {
  const name = String(data.get('name') || '').trim();
  const booth = await post('/api/v1/booths', { name, venue_id: state.venueId });
  state.booths.push(booth);
  form.reset();
  renderBooths();
  renderOverrideForm();
  toast(t('staff.boothAdded', { name: booth.name }), 'success');
  await Promise.all([loadPresence(), loadKeys(), loadUtilization()]);
}

// -- opening hours ---------------------------------------------------------------------------

function weekdayName(index) {
  // 1 March 2027 is a Monday.
  return tm.dayLabel(tm.addDays('2027-03-01', index), lang(), { weekday: 'long' });
}

function renderHours() {
  const v = venue();
  $('#hours-intro').textContent = t('staff.hoursIntro', { zone: v.timezone });
  const box = clear($('#hours-days'));
  WEEKDAYS.forEach((day, index) => {
    const spans = state.hours[day] || [];
    const name = weekdayName(index);
    const groupId = `hours-${day}`;
    const editor = (i, end, label) => {
      const input = h('input', {
        type: 'text', value: spans[i][end], size: '5', 'aria-label': `${name}: ${label}`, dataset: { day, i, end },
        onchange: (e) => { state.hours[day][i][end] = tm.parseTimeInput(e.target.value) || e.target.value.trim(); },
      });
      timeField(input);
      return input;
    };
    const editors = spans.map((span, i) => h('div', { class: 'span-edit' },
      editor(i, 0, t('staff.opens')),
      h('span', { 'aria-hidden': 'true' }, '–'),
      editor(i, 1, t('staff.closes')),
      h('button', {
        type: 'button', class: 'btn ghost', 'aria-label': `${name}: ${t('staff.removeSpan')}`, title: t('staff.removeSpan'),
        onclick: () => { state.hours[day].splice(i, 1); renderHours(); },
      }, '×')));
    box.append(h('div', { class: 'hours-day', role: 'group', 'aria-labelledby': groupId },
      h('span', { class: 'hours-day-name', id: groupId }, name),
      h('div', { class: 'hours-spans' },
        editors.length ? editors : h('span', { class: 'closed-label' }, t('staff.closed')),
        h('button', {
          type: 'button', class: 'btn ghost small', 'aria-label': `${name}: ${t('staff.addSpan')}`,
          onclick: () => {
            const last = spans[spans.length - 1];
            state.hours[day] = [...spans, last ? [last[1], last[1] === '00:00' ? '00:00' : '23:00'] : ['09:00', '18:00']];
            renderHours();
          },
        }, `+ ${t('staff.addSpan')}`))));
  });
}

async function saveHours(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  await busy(form.querySelector('[type=submit]'), async () => {
    try {
      const updated = await patch(`/api/v1/venues/${state.venueId}`, { opening_hours: state.hours });
      state.venues = state.venues.map((v) => (v.id === updated.id ? updated : v));
      state.hours = structuredClone(updated.opening_hours);
      renderHours();
      toast(t('staff.hoursSaved'), 'success');
      await loadUtilization();
    } catch (err) {
      showError(form, err);
    }
  });
}

// -- closures --------------------------------------------------------------------------------

async function loadBlackouts() {
  try {
    state.blackouts = (await get(`/api/v1/venues/${state.venueId}/blackouts`)).blackouts;
  } catch (err) {
    state.blackouts = [];
    showError($('#closures'), err);
  }
  renderClosures();
}

function localRange(local) {
  const l = lang();
  const startDay = local.start.slice(0, 10);
  const endDay = local.end.slice(0, 10);
  const label = (day) => tm.dayLabel(day, l, { weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });
  if (startDay === endDay) return `${label(startDay)}, ${local.start.slice(11, 16)}–${local.end.slice(11, 16)}`;
  return `${label(startDay)} ${local.start.slice(11, 16)} → ${label(endDay)} ${local.end.slice(11, 16)}`;
}

function renderClosures() {
  const list = clear($('#closure-list'));
  const now = tm.serverNow();
  const shown = state.blackouts.filter((b) => new Date(b.end) > now);
  if (!shown.length) list.append(h('li', { class: 'empty' }, t('staff.noClosures')));
  for (const blackout of shown) {
    list.append(h('li', { class: 'closure', id: `closure-${blackout.id}` },
      h('div', {}, h('div', { class: 'closure-when' }, localRange(blackout.local)),
        h('div', { class: 'closure-reason' }, blackout.reason)),
      h('button', {
        type: 'button', class: 'btn danger-ghost small', 'aria-label': `${t('staff.removeClosure')}: ${blackout.reason}`,
        onclick: (e) => removeClosure(blackout, e.currentTarget),
      }, t('staff.removeClosure'))));
  }
}

async function addClosure(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const data = Object.fromEntries(new FormData(form));
  // A local wall time at the venue, typed as a date in the interface's order and a 24-hour time.
  const wall = (dayInput, timeInput) => {
    const day = dayFieldValue(dayInput);
    const clock = tm.parseTimeInput(timeInput.value);
    return day && clock ? `${day}T${clock}:00` : null;
  };
  const start = wall($('#closure-start-day'), $('#closure-start-time'));
  const end = wall($('#closure-end-day'), $('#closure-end-time'));
  const missing = !start ? 'start' : !end ? 'end' : null;
  if (missing) {
    showError(form, { field: missing, code: 'required' });
    return;
  }
  await busy(form.querySelector('[type=submit]'), async () => {
    try {
      const answer = await post(`/api/v1/venues/${state.venueId}/blackouts`, { start, end, reason: data.reason });
      form.reset();
      const affected = answer.affected_bookings || [];
      toast(affected.length ? t('staff.closureAffects', { n: affected.length, ids: affected.join(', #') }) : t('staff.closureAdded'),
        affected.length ? 'info' : 'success');
      await Promise.all([loadBlackouts(), loadUtilization()]);
    } catch (err) {
      showError(form, err);
    }
  });
}

async function removeClosure(blackout, button) {
  await busy(button, async () => {
    try {
      await del(`/api/v1/venues/${state.venueId}/blackouts/${blackout.id}`);
      toast(t('staff.closureRemoved'), 'success');
      await Promise.all([loadBlackouts(), loadUtilization()]);
      $('#closure-start-day').focus();
    } catch (err) {
      showError($('#closures'), err);
    }
  });
}

// -- utilization -----------------------------------------------------------------------------

async function loadUtilization() {
  const v = venue();
  const today = tm.dayOf(tm.serverNow(), v.timezone);
  const from = tm.addDays(tm.mondayOf(today), -4 * 7);
  try {
    state.utilization = await get(`/api/v1/venues/${v.id}/utilization?from=${from}&weeks=8`);
  } catch (err) {
    state.utilization = null;
    showError($('#utilization'), err);
  }
  renderChart();
}

function renderChart() {
  const box = clear($('#chart'));
  const v = venue();
  if (!state.utilization || state.utilization.venue_id !== v.id) return;
  const currentWeek = tm.mondayOf(tm.dayOf(tm.serverNow(), v.timezone));
  box.append(utilizationChart(state.utilization, {
    lang: lang(), venueName: v.name, cityClass: cityClass(v.city), currentWeek,
  }));
  // On a narrow screen the chart scrolls sideways: start with the current week in view.
  const wrap = box.querySelector('.chart-wrap');
  const index = state.utilization.weeks.findIndex((w) => w.week_start === currentWeek);
  if (wrap && index >= 0 && wrap.scrollWidth > wrap.clientWidth) {
    const share = (index + 0.5) / state.utilization.weeks.length;
    wrap.scrollLeft = Math.max(0, share * wrap.scrollWidth - wrap.clientWidth / 2);
  }
}

// -- booking with an override ----------------------------------------------------------------

function renderOverrideForm() {
  const form = $('#override-form');
  const v = venue();
  const keep = (select) => select.value;
  const here = form.elements.here;
  const partner = form.elements.partner;
  const duration = form.elements.duration_minutes;
  const [hereValue, partnerValue, durationValue] = [keep(here), keep(partner), keep(duration) || '60'];
  clear(here).append(...venueBooths().map((b) => h('option', { value: b.id, selected: String(b.id) === hereValue }, b.name)));
  // Grouped by city, so an option is only a booth's name and never cut.
  const others = state.booths.filter((b) => b.venue_id !== v.id);
  const cities = [...new Set(others.map((b) => b.city))];
  fill(partner, ...cities.map((city) => h('optgroup', { label: city },
    others.filter((b) => b.city === city).map((b) => h('option', { value: b.id, selected: String(b.id) === partnerValue }, b.name)))));
  clear(duration).append(...DURATIONS.map((m) => h('option', { value: m, selected: String(m) === durationValue }, t('duration.minutes', { n: m }))));
  if (!dayFieldValue(form.elements.date)) setDayField(form.elements.date, tm.dayOf(tm.serverNow(), v.timezone));
}

async function bookOverride(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const data = Object.fromEntries(new FormData(form));
  const aliases = { timezone: 'start', start: 'start', booths: 'booths', duration_minutes: 'duration_minutes' };
  await busy(form.querySelector('[type=submit]'), async () => {
    try {
      const day = dayFieldValue(form.elements.date);
      const clock = tm.parseTimeInput(data.time);
      if (!day || !clock) {
        showError(form, { field: day ? 'time' : 'start', code: 'required' }, aliases);
        return;
      }
      const booking = await post('/api/v1/bookings', {
        booths: [Number(data.here), Number(data.partner)],
        start: `${day}T${clock}:00`,
        timezone: venue().timezone,
        duration_minutes: Number(data.duration_minutes),
        title: data.title,
        override_reason: data.override_reason,
      });
      form.elements.title.value = '';
      form.elements.override_reason.value = '';
      toast(t('staff.booked', { id: booking.id }), 'success');
      await Promise.all([loadToday(), loadUtilization()]);
    } catch (err) {
      showError(form, err, aliases);
    }
  });
}

main();

// -- mail outbox -----------------------------------------------------------------------------

const OUTBOX_STATUSES = ['pending', 'sent', 'failed', 'skipped', 'superseded', 'expired'];

async function loadOutbox() {
  const query = state.outboxStatus ? `?status=${state.outboxStatus}` : '';
  try {
    const answer = await get(`/api/v1/venues/${state.venueId}/outbox${query}`);
    state.outbox = answer.messages;
    state.outboxChanges = answer.changes;
  } catch (err) {
    state.outbox = [];
    state.outboxChanges = [];
    showError($('#outbox'), err);
  }
  renderOutbox();
}

function renderOutbox() {
  const select = $('#outbox-status');
  if (!select.onchange) {
    select.onchange = () => {
      state.outboxStatus = select.value;
      loadOutbox();
    };
  }
  clear(select).append(
    h('option', { value: '', selected: !state.outboxStatus }, t('staff.outboxAll')),
    ...OUTBOX_STATUSES.map((s) => h('option', { value: s, selected: s === state.outboxStatus }, t(`mail.status.${s}`))),
  );
  const rows = clear($('#outbox-rows'));
  if (!state.outbox.length && !state.outboxChanges.length) {
    rows.append(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, t('staff.outboxEmpty'))));
  }
  const zone = venue().timezone;
  // A change's messages are composed by the server after the change; until then (or if composing
  // failed after every retry) the change stands for them, so nothing goes unseen.
  for (const c of state.outboxChanges) {
    const when = new Date(c.due_at);
    rows.append(h('tr', { id: `change-${c.id}`, class: `mail-${c.status} mail-change`, 'data-status': c.status },
      h('td', {}, `${tm.shortDay(when, zone, lang())} ${tm.time(when, zone, lang())}`),
      h('td', {}, h('div', {}, t('mail.change', { change: t(`mail.changeKind.${c.change}`), sequence: c.sequence })),
        h('div', { class: 'muted' }, t(c.status === 'failed' ? 'mail.changeFailed' : 'mail.changeNote'))),
      h('td', {}, t('mail.changeTo')),
      h('td', {}, `${t(`mail.status.${c.status}`)}${c.attempts > 1 ? ` (${c.attempts}×)` : ''}`),
      h('td', { class: 'muted' }, c.last_error || '')));
  }
  for (const m of state.outbox) {
    const when = new Date(m.sent_at || m.send_after);
    rows.append(h('tr', { id: `mail-${m.id}`, class: `mail-${m.status}`, 'data-status': m.status },
      h('td', {}, `${tm.shortDay(when, zone, lang())} ${tm.time(when, zone, lang())}`),
      h('td', {}, h('div', {}, t(`mail.kind.${m.kind}`)), h('div', { class: 'muted' }, m.subject)),
      h('td', {}, m.recipient),
      h('td', {}, `${t(`mail.status.${m.status}`)}${m.attempts > 1 ? ` (${m.attempts}×)` : ''}`),
      h('td', { class: 'muted' }, m.last_error || '')));
  }
}
