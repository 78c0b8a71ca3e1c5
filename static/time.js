// Time zones in the browser: everything goes through Intl.DateTimeFormat with an explicit
// timeZone, so a page shows Paris, San Francisco and the viewer's own time side by side
// whatever zone the computer is set to. Instants travel as Date; calendar days as 'YYYY-MM-DD'.

let clockOffsetMs = 0;

/** Read the server's clock from <meta name="server-time"> (a demo or test may shift it). */
export function syncWithPage() {
  const meta = document.querySelector('meta[name="server-time"]');
  const stamped = meta && Date.parse(meta.content);
  if (stamped) setServerTime(new Date(stamped));
}

/** Trust this instant as the server's "now" (e.g. welcome.server_time on the kiosk). */
export function setServerTime(date) {
  clockOffsetMs = date.getTime() - Date.now();
}

export function serverNow() {
  return new Date(Date.now() + clockOffsetMs);
}

export function viewerZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

const formatters = new Map();
function fmt(lang, options) {
  const key = lang + JSON.stringify(options);
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(lang, options));
  return formatters.get(key);
}

/** "17:00": 24-hour clock on purpose, the same in both cities and both languages. */
export function time(date, zone, lang) {
  return fmt(lang, { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(date);
}

export function timeWithSeconds(date, zone, lang) {
  return fmt(lang, { timeZone: zone, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }).format(date);
}

/** "16 Mar 2027, 17:00" / "16 mars 2027, 17:00": a date and a 24-hour time in a zone. */
export function dayAndTime(date, zone, lang) {
  return fmt(lang, {
    timeZone: zone, day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(date);
}

/** "Tue 16 Mar" / "mar. 16 mars". */
export function shortDay(date, zone, lang) {
  return fmt(lang, { timeZone: zone, weekday: 'short', day: 'numeric', month: 'short' }).format(date);
}

/** "Tuesday 16 March 2027". */
export function longDay(date, zone, lang) {
  return fmt(lang, { timeZone: zone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(date);
}

/** The calendar day of an instant in a zone, as 'YYYY-MM-DD'. */
export function dayOf(date, zone) {
  const parts = Object.fromEntries(
    fmt('en-US', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .formatToParts(date).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}`;
}

/** Minutes east of UTC in force in `zone` at `date` (Paris in winter: 60; SF in summer: -420). */
export function offsetMinutes(zone, date) {
  const name = fmt('en-US', { timeZone: zone, timeZoneName: 'longOffset' })
    .formatToParts(date).find((p) => p.type === 'timeZoneName').value; // "GMT+01:00" or "GMT"
  const m = /GMT([+-])(\d{2}):?(\d{2})?/.exec(name);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3] || 0));
}

/** The offset written in an ISO local time such as 2027-03-16T17:00:00+01:00, in minutes. */
export function offsetOfIso(iso) {
  const m = /([+-])(\d{2}):(\d{2})$/.exec(iso);
  if (!m) return 0;
  return (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

/** "UTC+1", "UTC−7", "UTC+5:30". */
export function utcLabel(minutes) {
  const sign = minutes < 0 ? '−' : '+';
  const abs = Math.abs(minutes);
  const hours = Math.floor(abs / 60);
  const rest = abs % 60;
  return minutes === 0 ? 'UTC' : `UTC${sign}${hours}${rest ? ':' + String(rest).padStart(2, '0') : ''}`;
}

/** Whether `zone` is on its summer time at `date` (its offset is above its smaller one of the year). */
export function onSummerTime(zone, date) {
  const year = date.getUTCFullYear();
  const jan = offsetMinutes(zone, new Date(Date.UTC(year, 0, 15)));
  const jul = offsetMinutes(zone, new Date(Date.UTC(year, 6, 15)));
  return jan !== jul && offsetMinutes(zone, date) > Math.min(jan, jul);
}

/** The difference a−b between two zones at `date`, in minutes; and what it is most of the year. */
export function gapMinutes(zoneA, zoneB, date) {
  return offsetMinutes(zoneA, date) - offsetMinutes(zoneB, date);
}

export function usualGaps(zoneA, zoneB, year) {
  return new Set([0, 6].map((month) => gapMinutes(zoneA, zoneB, new Date(Date.UTC(year, month, 15)))));
}

// -- calendar days as 'YYYY-MM-DD' -----------------------------------------------------------

export function parseDay(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d, 12));
}

export function formatDay(date) {
  return date.toISOString().slice(0, 10);
}

export function addDays(day, n) {
  const date = parseDay(day);
  date.setUTCDate(date.getUTCDate() + n);
  return formatDay(date);
}

export function mondayOf(day) {
  const weekday = (parseDay(day).getUTCDay() + 6) % 7; // Monday 0
  return addDays(day, -weekday);
}

/** Noon of a calendar day in a zone, as an instant: a safe point to ask for that day's offset. */
export function noonIn(day, zone) {
  const guess = parseDay(day); // 12:00 UTC that day
  return new Date(guess.getTime() - offsetMinutes(zone, guess) * 60000);
}

/** The instant a calendar day starts (local midnight) in a zone. */
export function startOfDayIn(day, zone) {
  const [y, m, d] = day.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  let instant = wall - offsetMinutes(zone, new Date(wall)) * 60000;
  instant = wall - offsetMinutes(zone, new Date(instant)) * 60000;
  return new Date(instant);
}

/** A label for a calendar day (no zone games: the day is already local). */
export function dayLabel(day, lang, options = { weekday: 'short', day: 'numeric', month: 'short' }) {
  return fmt(lang, { timeZone: 'UTC', ...options }).format(parseDay(day));
}

/** "2 h 05", "45 min", "8 hours" are the callers' business; this gives whole hours and minutes. */
export function splitMinutes(minutes) {
  const abs = Math.abs(minutes);
  return { hours: Math.floor(abs / 60), minutes: abs % 60 };
}

/** The city part of an IANA zone, readable: "America/New_York" → "New York". */
export function zoneCity(zone) {
  return (zone.split('/').pop() || zone).replace(/_/g, ' ');
}

// -- dates and times typed by people ---------------------------------------------------------
// Fields are text, not <input type=date|time>: those follow the browser's locale (AM/PM, US day
// order) whatever the page's language. Here every time is 24-hour and every date is in the
// interface language's order; ISO dates are accepted in both languages.

const DAY_FORMATS = { en: 'YYYY-MM-DD', fr: 'JJ/MM/AAAA' };

/** What a date field shows as its format hint in this language. */
export function dayPattern(lang) {
  return DAY_FORMATS[lang] || DAY_FORMATS.en;
}

/** 'YYYY-MM-DD' as typed in this language: "2027-03-16" (en), "16/03/2027" (fr). */
export function formatDayInput(day, lang) {
  if (!day) return '';
  const [y, m, d] = day.split('-');
  return lang === 'fr' ? `${d}/${m}/${y}` : day;
}

/** A typed date to 'YYYY-MM-DD', or null when it is not a real day in the language's order. */
export function parseDayInput(text, lang) {
  const value = String(text || '').trim();
  let m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value); // whole, so typing "2027-03-1" is not the 1st
  let parts = m && [m[1], m[2], m[3]];
  if (!parts && lang === 'fr') {
    m = /^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$/.exec(value);
    parts = m && [m[3], m[2], m[1]];
  }
  if (!parts) return null;
  const [y, mo, d] = parts.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, 12));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  return formatDay(date);
}

/** A typed 24-hour time ("9:00", "09:00", "9h30", "17 h") to 'HH:MM', or null. */
export function parseTimeInput(text) {
  const m = /^(\d{1,2})\s*(?:[:hH.]\s*(\d{2})?)?$/.exec(String(text || '').trim());
  if (!m) return null;
  const hours = Number(m[1]);
  const minutes = Number(m[2] || 0);
  if (hours > 23 || minutes > 59) return null;
  return `${String(hours).padStart(2, '0')}:${String(minutes).padStart(2, '0')}`;
}
