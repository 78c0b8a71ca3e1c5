// The booking app (/): log in or register, pick a booth in each city, see a week of common free
// slots in both cities' local time and the viewer's own, book, and manage one's sessions.

import { t, lang, startTranslating, hoursPhrase } from './i18n.js';
import { get, post, patch, del, currentAccount, logIn, logOut, hasRoute } from './api.js';
import {
  h, clear, fill, $, showError, clearErrors, toast, openDialog, busy, cityClass, errorText, onSubmit, setErrorContext,
  dayField, setDayField,
} from './dom.js';
import * as tm from './time.js';

const PICK_KEY = 'sebastian.pick';
const DURATIONS = [30, 45, 60, 90, 120];

const state = {
  account: null,
  venues: [],
  booths: [],
  pick: { venueA: null, boothA: null, venueB: null, boothB: null, duration: 60 },
  week: null, // Monday of the week shown, a calendar day in the first city's zone
  slots: [],
  slotsError: null,
  loading: false,
  bookings: [],
  reschedule: null, // the booking being moved, or null
  features: { feeds: false },
  feed: null, // {webcal_url, https_url} once asked for
  chosen: null, // the slot in the booking dialog
  pending: null, // the slot clicked while logged out, offered again once logged in
  gridFocus: null, // data-cell of the week grid's one tab stop
  gridHadFocus: false, // whether to put focus back in the grid once it is drawn again
};

const venueById = (id) => state.venues.find((v) => v.id === id);
const boothById = (id) => state.booths.find((b) => b.id === id);
const boothsOf = (venueId) => state.booths.filter((b) => b.venue_id === venueId);

// -- start -----------------------------------------------------------------------------------

async function main() {
  tm.syncWithPage();
  startTranslating([$('#lang')], renderAll);
  setErrorContext(() => ({ booths: state.booths }));
  wireAuth();
  wirePicker();
  wireDialogs();
  try {
    const [venues, booths, account, feeds] = await Promise.all([
      get('/api/v1/venues'), get('/api/v1/booths'), currentAccount(), hasRoute('POST', '/api/v1/feeds'),
    ]);
    state.venues = venues.venues;
    state.booths = booths.booths;
    state.account = account;
    state.features.feeds = feeds;
  } catch (err) {
    showError($('#book'), err);
  }
  restorePick();
  state.week = tm.mondayOf(tm.dayOf(tm.serverNow(), zoneA()));
  renderAll();
  await Promise.all([loadSlots(), loadBookings()]);
  document.body.dataset.ready = 'true';
}

function renderAll() {
  renderAccount();
  renderPicker();
  renderWeek();
  renderBookings();
}

// -- account ---------------------------------------------------------------------------------

function renderAccount() {
  const signedIn = Boolean(state.account);
  $('#auth').hidden = signedIn;
  $('#mine').hidden = !signedIn;
  const box = clear($('#account'));
  if (!signedIn) return;
  const staff = ['staff', 'admin'].includes(state.account.role);
  box.append(...[
    h('span', { class: 'who' }, h('span', { class: 'avatar', 'aria-hidden': 'true' }, initials(state.account.name)),
      h('span', { class: 'who-name' }, state.account.name)),
    staff ? h('a', { class: 'btn ghost small', href: '/staff' }, t('nav.staff')) : null,
    h('button', { type: 'button', class: 'btn ghost small', id: 'logout', onclick: onLogOut }, t('auth.logout')),
  ].filter(Boolean));
}

function initials(name) {
  return String(name || '?').split(/\s+/).filter(Boolean).slice(0, 2).map((w) => w[0].toUpperCase()).join('');
}

const authTabs = () => [$('#tab-login'), $('#tab-register')];

function selectAuthTab(tab) {
  for (const other of authTabs()) {
    const on = other === tab;
    other.setAttribute('aria-selected', String(on));
    other.tabIndex = on ? 0 : -1;
    $(`#${other.getAttribute('aria-controls')}`).hidden = !on;
  }
}

function wireAuth() {
  const tabs = authTabs();
  const select = selectAuthTab;
  for (const tab of tabs) {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (event) => {
      if (!['ArrowLeft', 'ArrowRight'].includes(event.key)) return;
      const next = tabs[(tabs.indexOf(tab) + 1) % tabs.length];
      select(next);
      next.focus();
    });
  }
  onSubmit($('#login-form'), async (data, form) => {
    state.account = await logIn(data.get('email'), data.get('password'));
    form.reset();
    await signedIn();
  });
  onSubmit($('#register-form'), async (formData, form) => {
    const data = Object.fromEntries(formData);
    await post('/api/v1/accounts', data);
    state.account = await logIn(data.email, data.password);
    form.reset();
    await signedIn();
    toast(t('auth.welcome', { name: state.account.name }), 'success');
  });
}

async function signedIn() {
  renderAll();
  await loadBookings();
  const pending = state.pending;
  state.pending = null;
  const slot = pending && state.slots.find((s) => s.start === pending.start && s.end === pending.end);
  if (slot) chooseSlot(slot);
  else $('#book-heading').focus();
}

async function onLogOut() {
  await logOut();
  state.account = null;
  state.bookings = [];
  state.reschedule = null;
  renderAll();
  selectAuthTab($('#tab-login'));
  $('#login-email').focus();
}

// -- city pair, booths, duration -------------------------------------------------------------

function restorePick() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(PICK_KEY) || '{}');
  } catch {
    saved = {};
  }
  const venues = state.venues;
  if (!venues.length) return;
  const paris = venues.find((v) => v.city === 'Paris') || venues[0];
  const venueA = venueById(saved.venueA) || paris;
  const venueB = (venueById(saved.venueB) && saved.venueB !== venueA.id && venueById(saved.venueB))
    || venues.find((v) => v.id !== venueA.id) || venueA;
  state.pick.venueA = venueA.id;
  state.pick.venueB = venueB.id;
  const boothA = boothById(saved.boothA);
  const boothB = boothById(saved.boothB);
  state.pick.boothA = boothA && boothA.venue_id === venueA.id ? boothA.id : (boothsOf(venueA.id)[0] || {}).id;
  state.pick.boothB = boothB && boothB.venue_id === venueB.id ? boothB.id : (boothsOf(venueB.id)[0] || {}).id;
  state.pick.duration = DURATIONS.includes(saved.duration) ? saved.duration : 60;
}

function savePick() {
  localStorage.setItem(PICK_KEY, JSON.stringify(state.pick));
}

const zoneA = () => (venueById(state.pick.venueA) || { timezone: 'Europe/Paris' }).timezone;
const zoneB = () => (venueById(state.pick.venueB) || { timezone: 'America/Los_Angeles' }).timezone;

function options(select, items, selected) {
  clear(select);
  for (const [value, label] of items) {
    select.append(h('option', { value, selected: String(value) === String(selected) }, label));
  }
}

function renderPicker() {
  const form = $('#pick');
  // The city alone fits the select; the venue's full name and address follow below it, wrapping.
  const venueLabel = (v) => (state.venues.filter((o) => o.city === v.city).length > 1 ? `${v.city} — ${v.name}` : v.city);
  options(form.elements.venue_a, state.venues.map((v) => [v.id, venueLabel(v)]), state.pick.venueA);
  options(form.elements.venue_b, state.venues.filter((v) => v.id !== state.pick.venueA).map((v) => [v.id, venueLabel(v)]),
    state.pick.venueB);
  options(form.elements.booth_a, boothsOf(state.pick.venueA).map((b) => [b.id, b.name]), state.pick.boothA);
  options(form.elements.booth_b, boothsOf(state.pick.venueB).map((b) => [b.id, b.name]), state.pick.boothB);
  options(form.elements.duration, DURATIONS.map((m) => [m, t('duration.minutes', { n: m })]), state.pick.duration);
  const a = venueById(state.pick.venueA);
  const b = venueById(state.pick.venueB);
  $('#side-a').className = `city-pick ${cityClass(a && a.city)}`;
  $('#side-b').className = `city-pick ${cityClass(b && b.city)}`;
  $('#venue-a-line').textContent = a ? [a.name, a.address].filter(Boolean).join(' · ') : '';
  $('#venue-b-line').textContent = b ? [b.name, b.address].filter(Boolean).join(' · ') : '';
}

function wirePicker() {
  const form = $('#pick');
  form.addEventListener('submit', (event) => event.preventDefault());
  form.addEventListener('change', (event) => {
    const { name, value } = event.target;
    const id = Number(value);
    if (name === 'venue_a') {
      state.pick.venueA = id;
      if (state.pick.venueB === id) state.pick.venueB = (state.venues.find((v) => v.id !== id) || {}).id;
      state.pick.boothA = (boothsOf(id)[0] || {}).id;
      state.pick.boothB = boothById(state.pick.boothB) && boothById(state.pick.boothB).venue_id === state.pick.venueB
        ? state.pick.boothB : (boothsOf(state.pick.venueB)[0] || {}).id;
    } else if (name === 'venue_b') {
      state.pick.venueB = id;
      state.pick.boothB = (boothsOf(id)[0] || {}).id;
    } else if (name === 'booth_a') state.pick.boothA = id;
    else if (name === 'booth_b') state.pick.boothB = id;
    else if (name === 'duration') state.pick.duration = id;
    savePick();
    renderPicker();
    loadSlots();
  });
  $('#swap').addEventListener('click', () => {
    const p = state.pick;
    [p.venueA, p.venueB, p.boothA, p.boothB] = [p.venueB, p.venueA, p.boothB, p.boothA];
    // Keep showing the same days: the week is counted in the first city's zone.
    savePick();
    renderPicker();
    loadSlots();
  });
  $('#week-prev').addEventListener('click', () => goToWeek(tm.addDays(state.week, -7)));
  $('#week-next').addEventListener('click', () => goToWeek(tm.addDays(state.week, 7)));
  $('#week-today').addEventListener('click', () => goToWeek(tm.mondayOf(tm.dayOf(tm.serverNow(), zoneA()))));
  wireGridKeys();
  dayField($('#week-date'), (day) => goToWeek(tm.mondayOf(day)));
}

function goToWeek(monday) {
  state.week = monday;
  loadSlots();
}

// -- the week of free slots ------------------------------------------------------------------

let slotRequest = 0;

async function loadSlots() {
  const { boothA, boothB, duration } = state.pick;
  if (!boothA || !boothB) {
    state.slots = [];
    renderWeek();
    return;
  }
  const mine = ++slotRequest;
  state.loading = true;
  state.slotsError = null;
  renderWeek();
  const query = new URLSearchParams({
    booths: `${boothA},${boothB}`, from: state.week, to: tm.addDays(state.week, 6), duration: String(duration),
  });
  // While moving a booking, its own place counts as free.
  if (state.reschedule) query.set('ignore_booking', String(state.reschedule.id));
  try {
    const answer = await get(`/api/v1/availability?${query}`);
    if (mine !== slotRequest) return;
    state.slots = answer.slots;
  } catch (err) {
    if (mine !== slotRequest) return;
    state.slots = [];
    state.slotsError = err;
  }
  state.loading = false;
  renderWeek();
}

/** What the banner says about the gap between the two cities this week. */
function gapNote(days) {
  const a = venueById(state.pick.venueA);
  const b = venueById(state.pick.venueB);
  if (!a || !b) return null;
  const ids = [String(state.pick.boothA), String(state.pick.boothB)];
  const gaps = days.map((day) => {
    const slot = state.slots.find((s) => tm.dayOf(new Date(s.start), a.timezone) === day);
    if (slot && slot.local[ids[0]] && slot.local[ids[1]]) {
      return tm.offsetOfIso(slot.local[ids[0]].start) - tm.offsetOfIso(slot.local[ids[1]].start);
    }
    return tm.gapMinutes(a.timezone, b.timezone, tm.noonIn(day, a.timezone));
  });
  const mid = tm.noonIn(days[3], a.timezone);
  const usual = tm.usualGaps(a.timezone, b.timezone, mid.getUTCFullYear());
  const distinct = [...new Set(gaps)];
  const names = { a: a.city, b: b.city };
  if (distinct.length > 1) {
    const at = gaps.findIndex((g) => g !== gaps[0]);
    return {
      alert: true,
      text: t('gap.changes', {
        ...names, before: hoursPhrase(Math.abs(gaps[0])), after: hoursPhrase(Math.abs(gaps[at])),
        day: tm.dayLabel(days[at], lang(), { weekday: 'long', day: 'numeric', month: 'long' }),
      }),
    };
  }
  const gap = distinct[0];
  const phrase = hoursPhrase(Math.abs(gap));
  if (usual.has(gap)) return { alert: false, text: t('gap.usual', { ...names, gap: phrase }) };
  const summerA = tm.onSummerTime(a.timezone, mid);
  const summerB = tm.onSummerTime(b.timezone, mid);
  const city = summerA && !summerB ? a.city : summerB && !summerA ? b.city : null;
  const early = mid.getUTCMonth() < 6;
  const why = city ? t(early ? 'gap.already' : 'gap.still', { city }) : '';
  return { alert: true, text: t('gap.unusual', { ...names, gap: phrase, why }) };
}

function renderWeek() {
  const grid = clear($('#week-grid'));
  const a = venueById(state.pick.venueA);
  const b = venueById(state.pick.venueB);
  if (!a || !b || !state.week) return;
  const you = tm.viewerZone();
  const showYou = you !== a.timezone && you !== b.timezone;
  const days = Array.from({ length: 7 }, (_, i) => tm.addDays(state.week, i));
  const l = lang();

  $('#week-label').textContent = t('week.of', {
    from: tm.dayLabel(days[0], l, { day: 'numeric', month: 'long' }),
    to: tm.dayLabel(days[6], l, { day: 'numeric', month: 'long', year: 'numeric' }),
  });
  if (document.activeElement !== $('#week-date')) setDayField($('#week-date'), state.week);
  $('#week-grid').setAttribute('aria-busy', String(state.loading));

  const banner = $('#gap-banner');
  const note = gapNote(days);
  banner.hidden = !note;
  if (note) {
    banner.className = `banner ${note.alert ? 'banner-alert' : 'banner-calm'}`;
    banner.textContent = note.text;
  }

  const mid = tm.noonIn(days[3], a.timezone);
  fill($('#legend'),
    h('span', { class: `chip ${cityClass(a.city)}` }, h('span', { class: 'dot' }), `${a.city} · ${tm.utcLabel(tm.offsetMinutes(a.timezone, mid))}`),
    h('span', { class: `chip ${cityClass(b.city)}` }, h('span', { class: 'dot' }), `${b.city} · ${tm.utcLabel(tm.offsetMinutes(b.timezone, mid))}`),
    showYou ? h('span', { class: 'chip chip-you' }, h('span', { class: 'dot' }),
      t('week.yourTime', { zone: tm.zoneCity(you) }) + ` · ${tm.utcLabel(tm.offsetMinutes(you, mid))}`) : null,
  );

  const reschedule = $('#reschedule-banner');
  reschedule.hidden = !state.reschedule;
  if (state.reschedule) {
    clear(reschedule).append(
      h('span', {}, t('reschedule.banner', { title: state.reschedule.title })),
      h('button', { type: 'button', class: 'btn ghost small', onclick: stopReschedule }, t('reschedule.stop')),
    );
  }

  const errorBox = $('#slots-error');
  errorBox.hidden = !state.slotsError;
  if (state.slotsError) {
    clearErrors($('#pick'));
    if (['duration', 'booths'].includes(state.slotsError.field)) showError($('#pick'), state.slotsError);
    errorBox.textContent = errorText(state.slotsError);
  }

  const ids = [String(state.pick.boothA), String(state.pick.boothB)];
  const byDay = new Map(days.map((d) => [d, []]));
  for (const slot of state.slots) {
    const day = tm.dayOf(new Date(slot.start), a.timezone);
    if (byDay.has(day)) byDay.get(day).push(slot);
  }
  const today = tm.dayOf(tm.serverNow(), a.timezone);
  const hadFocus = state.gridHadFocus;
  for (const day of days) {
    const slots = byDay.get(day);
    const headingId = `day-${day}`;
    const row = h('div', { role: 'row', class: `day${day === today ? ' today' : ''}`, dataset: { day } },
      h('div', { role: 'rowheader', id: headingId, class: 'day-name' },
        h('span', { class: 'weekday' }, tm.dayLabel(day, l, { weekday: 'short' })),
        h('span', { class: 'date' }, tm.dayLabel(day, l, { day: 'numeric', month: 'short' }))));
    if (state.loading || !slots.length) {
      row.append(h('div', { role: 'gridcell', class: 'day-empty', tabindex: '-1', dataset: { cell: `${day}/empty` } },
        state.loading ? h('span', { 'aria-hidden': 'true' }, '…') : t('week.noSlot'),
        state.loading ? h('span', { class: 'visually-hidden' }, t('week.loading')) : null));
    } else {
      for (const slot of slots) {
        row.append(h('div', { role: 'gridcell', class: 'slot-cell' }, slotButton(slot, a, b, ids, you, showYou, day)));
      }
    }
    grid.append(row);
  }
  // One tab stop: the cell the keyboard was last on, else the first slot of the week.
  const cells = [...grid.querySelectorAll('[data-cell]')];
  const stop = cells.find((c) => c.dataset.cell === state.gridFocus)
    || cells.find((c) => !c.dataset.cell.endsWith('/empty')) || cells[0];
  if (stop) {
    stop.tabIndex = 0;
    if (hadFocus) stop.focus();
  }
}

function slotButton(slot, a, b, ids, you, showYou, day) {
  const l = lang();
  const start = new Date(slot.start);
  const timeA = slot.local[ids[0]].start.slice(11, 16);
  const timeB = slot.local[ids[1]].start.slice(11, 16);
  const timeYou = tm.time(start, you, l);
  const shift = dayShift(tm.dayOf(start, you), day);
  // The accessible name is the visible times plus hidden words around them, never a label
  // that leaves out what is seen.
  const hidden = (text) => h('span', { class: 'visually-hidden' }, text);
  return h('button', {
    type: 'button', class: 'slot', tabindex: '-1', dataset: { start: slot.start, cell: `${day}/${slot.start}` },
    onclick: () => chooseSlot(slot),
  },
  hidden(`${tm.dayLabel(day, l, { weekday: 'long', day: 'numeric', month: 'long' })}: `),
  h('span', { class: `slot-time ${cityClass(a.city)}` }, h('span', { class: 'slot-clock' }, timeA), hidden(` ${t('slot.inCity', { city: a.city })}, `)),
  h('span', { class: `slot-time ${cityClass(b.city)}`, dataset: { dayShift: dayShift(slot.local[ids[1]].start.slice(0, 10), day) } },
    h('span', { class: 'slot-clock' }, timeB), hidden(` ${t('slot.inCity', { city: b.city })}${showYou ? ',' : ''}`)),
  showYou ? h('span', { class: 'slot-time slot-you', dataset: { dayShift: shift } }, h('span', { class: 'slot-clock' }, timeYou), hidden(` ${t('slot.yourTime')}`)) : null);
}

/**
 * The week as a WAI-ARIA grid with one tab stop: Up/Down between the slots of a day, Left/Right
 * to the nearest slot of the day before or after, Home/End to a day's first and last slot
 * (with Ctrl: the week's), Page Up/Down to the previous or next week.
 */
function wireGridKeys() {
  const grid = $('#week-grid');
  grid.addEventListener('focusin', (event) => {
    const cell = event.target.closest('[data-cell]');
    if (!cell) return;
    state.gridFocus = cell.dataset.cell;
    for (const other of grid.querySelectorAll('[data-cell]')) other.tabIndex = other === cell ? 0 : -1;
  });
  grid.addEventListener('keydown', (event) => {
    const cell = event.target.closest('[data-cell]');
    if (!cell) return;
    const rows = [...grid.querySelectorAll('[role=row]')].map((row) => [...row.querySelectorAll('[data-cell]')]);
    const d = rows.findIndex((row) => row.includes(cell));
    const i = rows[d].indexOf(cell);
    const nearest = (row) => {
      const minute = (el) => (el.dataset.start ? Number(tm.time(new Date(el.dataset.start), zoneA(), 'en').replace(':', '')) : 0);
      const here = minute(cell);
      return row.reduce((best, el) => (Math.abs(minute(el) - here) < Math.abs(minute(best) - here) ? el : best), row[0]);
    };
    let target = null;
    if (event.key === 'ArrowDown') target = rows[d][i + 1];
    else if (event.key === 'ArrowUp') target = rows[d][i - 1];
    else if (event.key === 'ArrowRight' && rows[d + 1]) target = nearest(rows[d + 1]);
    else if (event.key === 'ArrowLeft' && d > 0) target = nearest(rows[d - 1]);
    else if (event.key === 'Home') target = event.ctrlKey ? rows[0][0] : rows[d][0];
    else if (event.key === 'End') target = event.ctrlKey ? rows.at(-1).at(-1) : rows[d].at(-1);
    else if (event.key === 'PageDown' || event.key === 'PageUp') {
      event.preventDefault();
      state.gridHadFocus = true;
      goToWeek(tm.addDays(state.week, event.key === 'PageDown' ? 7 : -7));
      return;
    } else return;
    event.preventDefault();
    if (target) target.focus();
  });
  // Drawing a new week removes the focused cell (focus falls to the body, no focusin): the grid
  // keeps the focus until the user moves it somewhere else.
  document.addEventListener('focusin', (event) => {
    state.gridHadFocus = grid.contains(event.target);
  });
}

function dayShift(day, reference) {
  const diff = Math.round((tm.parseDay(day) - tm.parseDay(reference)) / 86400000);
  return diff ? (diff > 0 ? `+${diff}` : String(diff)).replace('-', '−') : undefined;
}

// -- booking, rescheduling, cancelling -------------------------------------------------------

function summaryRows(locals, range, boothList) {
  const l = lang();
  const rows = boothList.map((booth, i) => {
    const local = locals[i];
    return h('div', { class: `summary-row ${cityClass(booth.city)}` },
      h('span', { class: 'summary-city' }, `${booth.city} · ${booth.name}`),
      h('span', { class: 'summary-time' }, `${local.start.slice(11, 16)}–${local.end.slice(11, 16)}`),
      h('span', { class: 'summary-day' }, tm.dayLabel(local.start.slice(0, 10), l, { weekday: 'long', day: 'numeric', month: 'long' })));
  });
  const you = tm.viewerZone();
  if (!boothList.some((booth) => booth.timezone === you)) {
    rows.push(h('div', { class: 'summary-row summary-you' },
      h('span', { class: 'summary-city' }, t('week.yourTime', { zone: tm.zoneCity(you) })),
      h('span', { class: 'summary-time' }, `${tm.time(range[0], you, l)}–${tm.time(range[1], you, l)}`),
      h('span', { class: 'summary-day' }, tm.longDay(range[0], you, l))));
  }
  return rows;
}

function chooseSlot(slot) {
  if (!state.account) {
    state.pending = slot;
    toast(t('auth.needed'), 'info');
    $('#auth').scrollIntoView({ block: 'start' });
    const form = $('#login-panel').hidden ? $('#register-form') : $('#login-form');
    form.querySelector('input').focus();
    return;
  }
  state.chosen = slot;
  const dialog = $('#book-dialog');
  const form = $('#book-form');
  clearErrors(form);
  form.dataset.idempotencyKey = crypto.randomUUID();
  const moving = Boolean(state.reschedule);
  $('#book-dialog-title').textContent = t(moving ? 'book.moveTitle' : 'book.title');
  form.querySelector('[type=submit]').textContent = t(moving ? 'book.move' : 'book.confirm');
  $('#book-fields').hidden = moving;
  const booths = [boothById(state.pick.boothA), boothById(state.pick.boothB)];
  const locals = booths.map((booth) => slot.local[String(booth.id)]);
  clear($('#book-summary')).append(...summaryRows(locals, [new Date(slot.start), new Date(slot.end)], booths));
  openDialog(dialog, moving ? '[type=submit]' : '#book-title-input', () => $('#week-grid [tabindex="0"]'));
}

/** Refusals that mean the week shown is out of date. */
const SLOT_GONE = ['conflict', 'notice', 'advance', 'opening_hours', 'closure'];

async function submitBooking(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const slot = state.chosen;
  clearErrors(form);
  const data = new FormData(form);
  const guests = String(data.get('guests') || '').split(/[\s,;]+/).filter(Boolean);
  const aliases = { start: 'slot', booths: 'slot', duration_minutes: 'slot', Authorization: 'slot' };
  await busy(form.querySelector('[type=submit]'), async () => {
    try {
      let booking;
      if (state.reschedule) {
        booking = await patch(`/api/v1/bookings/${state.reschedule.id}`, {
          start: slot.start, duration_minutes: state.pick.duration, booths: [state.pick.boothA, state.pick.boothB],
        });
        toast(t('book.moved', { title: booking.title }), 'success');
        state.reschedule = null;
      } else {
        booking = await post('/api/v1/bookings', {
          booths: [state.pick.boothA, state.pick.boothB], start: slot.start, duration_minutes: state.pick.duration,
          title: String(data.get('title') || '').trim(), guests,
        }, { headers: { 'Idempotency-Key': form.dataset.idempotencyKey } });
        toast(t('book.done', { title: booking.title }), 'success');
      }
      $('#book-dialog').close();
      form.reset();
      await Promise.all([loadSlots(), loadBookings()]);
      const card = document.getElementById(`booking-${booking.id}`);
      if (card) {
        card.scrollIntoView({ block: 'center' });
        card.focus();
      }
    } catch (err) {
      if (err.status === 401) {
        state.account = null;
        renderAll();
      }
      showError(form, err, aliases);
      // The slot was just taken, or the rules moved under the page (time passed, hours or
      // closures changed): the grid behind the dialog stops offering what cannot be booked.
      if (SLOT_GONE.includes(err.code)) await loadSlots();
    }
  });
}

function startReschedule(booking) {
  if (booking.booths.length !== 2) return;
  const [first, second] = booking.booths;
  state.reschedule = booking;
  Object.assign(state.pick, {
    venueA: first.venue_id, boothA: first.id, venueB: second.venue_id, boothB: second.id,
    duration: DURATIONS.includes(booking.duration_minutes) ? booking.duration_minutes : state.pick.duration,
  });
  state.week = tm.mondayOf(tm.dayOf(new Date(booking.start), first.timezone));
  renderPicker();
  loadSlots();
  $('#book').scrollIntoView({ block: 'start' });
  $('#book-heading').focus();
}

function stopReschedule() {
  state.reschedule = null;
  loadSlots(); // the booking's own place is taken again
}

function askCancel(booking) {
  const dialog = $('#cancel-dialog');
  clear($('#cancel-text')).append(t('cancel.question', { title: booking.title }));
  clearErrors(dialog);
  $('#cancel-confirm').onclick = () => busy($('#cancel-confirm'), async () => {
    try {
      await del(`/api/v1/bookings/${booking.id}`);
      dialog.close();
      toast(t('cancel.done', { title: booking.title }), 'success');
      if (state.reschedule && state.reschedule.id === booking.id) state.reschedule = null;
      await Promise.all([loadSlots(), loadBookings()]);
    } catch (err) {
      showError(dialog, err);
    }
  });
  openDialog(dialog, '#cancel-keep');
}

function wireDialogs() {
  $('#book-form').addEventListener('submit', submitBooking);
  for (const button of document.querySelectorAll('dialog [data-close]')) {
    button.addEventListener('click', () => button.closest('dialog').close());
  }
  $('#feed-button').addEventListener('click', subscribe);
  $('#feed-copy').addEventListener('click', () => copy($('#feed-url').value));
}

// -- my sessions -----------------------------------------------------------------------------

async function loadBookings() {
  if (!state.account) return;
  try {
    state.bookings = (await get('/api/v1/bookings')).bookings;
  } catch (err) {
    if (err.status === 401) {
      state.account = null;
      renderAll();
      return;
    }
    showError($('#mine'), err);
  }
  renderBookings();
}

function renderBookings() {
  const now = tm.serverNow();
  const upcoming = state.bookings.filter((b) => b.status === 'confirmed' && new Date(b.end) > now);
  const past = state.bookings.filter((b) => !upcoming.includes(b)).reverse();
  const list = clear($('#mine-list'));
  if (!upcoming.length) list.append(h('p', { class: 'empty' }, t('mine.none')));
  for (const booking of upcoming) list.append(bookingCard(booking, true));
  const pastBox = $('#mine-past');
  pastBox.hidden = !past.length;
  const pastList = clear($('#mine-past-list'));
  for (const booking of past) pastList.append(bookingCard(booking, false));
  $('#feed').hidden = !state.features.feeds;
  $('#feed-result').hidden = !state.feed;
  if (state.feed) $('#feed-url').value = state.feed.webcal_url;
}

function bookingCard(booking, live) {
  const l = lang();
  const you = tm.viewerZone();
  const start = new Date(booking.start);
  const end = new Date(booking.end);
  const cancelled = booking.status === 'cancelled';
  const times = booking.booths.map((booth) => h('div', { class: `when ${cityClass(booth.city)}` },
    h('span', { class: 'when-city' }, booth.city),
    h('span', { class: 'when-time' }, `${booth.local.start.slice(11, 16)}–${booth.local.end.slice(11, 16)}`),
    h('span', { class: 'when-detail' },
      tm.dayLabel(booth.local.start.slice(0, 10), l, { weekday: 'long', day: 'numeric', month: 'long' }),
      ` · ${booth.name}, ${booth.venue}`)));
  if (!booking.booths.some((booth) => booth.timezone === you)) {
    times.push(h('div', { class: 'when when-you' },
      h('span', { class: 'when-city' }, t('week.yourTime', { zone: tm.zoneCity(you) })),
      h('span', { class: 'when-time' }, `${tm.time(start, you, l)}–${tm.time(end, you, l)}`),
      h('span', { class: 'when-detail' }, tm.longDay(start, you, l))));
  }
  const actions = [];
  const ics = booking.links && booking.links.ics;
  if (ics && !cancelled) {
    actions.push(h('a', { class: 'btn ghost small', href: ics, download: `sebastian-${booking.id}.ics` }, t('mine.ics')));
  }
  if (live) {
    actions.push(
      h('button', { type: 'button', class: 'btn ghost small', onclick: () => startReschedule(booking),
        disabled: booking.booths.length !== 2 }, t('mine.reschedule')),
      h('button', { type: 'button', class: 'btn danger-ghost small', onclick: () => askCancel(booking) }, t('mine.cancel')),
    );
  }
  const titleId = `booking-${booking.id}-title`;
  return h('article', { class: `session${cancelled ? ' cancelled' : ''}`, id: `booking-${booking.id}`, tabindex: '-1', 'aria-labelledby': titleId },
    h('header', { class: 'session-head' },
      h('h3', { id: titleId }, booking.title),
      h('span', { class: `badge badge-${booking.status}` }, t(`status.${booking.status}`))),
    h('div', { class: 'session-times' }, times),
    actions.length ? h('footer', { class: 'session-actions' }, actions) : null);
}

async function subscribe() {
  const button = $('#feed-button');
  await busy(button, async () => {
    try {
      state.feed = state.feed || await post('/api/v1/feeds', { kind: 'organizer' });
      renderBookings();
      await copy(state.feed.webcal_url);
    } catch (err) {
      showError($('#feed'), err);
    }
  });
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast(t('feed.copied'), 'success');
  } catch {
    const input = $('#feed-url');
    input.focus();
    input.select();
    toast(t('feed.copyByHand'), 'info');
  }
}

main();
