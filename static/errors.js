// What an API error says to people, in a given language: what happened, with the booth and the
// venue's own local times, and what to do next. No DOM here, so tests/static runs it under node.
//
// A booking rule refusal carries `venue`, `booth`, `city`, `timezone`, the local `start`/`end`
// and the rule's limits (docs/api.md); a conflict carries `conflicts` with booth ids, named from
// the booths the page has listed.

import { translate } from './i18n.js';
import * as tm from './time.js';

/** A message for people for an API error, in `language`; never the raw code. */
export function errorMessage(err, language, { booths = [] } = {}) {
  const t = (key, vars = {}, fallback = undefined) => translate(language, key, vars, fallback);
  const code = err && err.code;
  // The page's own words (not an API answer, which always has a code).
  if (!code && err && err.message) return err.message;
  const vars = code ? errorVars(err, language, booths) : {};
  // A malformed value: say what is expected for the fields people type in.
  const forField = code === 'invalid' && err.field && t(`invalid.${err.field}`, vars, '');
  return forField || (code && t(`error.${code}`, vars, '')) || t('error.unknown');
}

/** The placeholders of an error's message, every one already written out in `language`. */
export function errorVars(err, language, booths = []) {
  const details = err.details || {};
  const vars = {};
  const first = (details.conflicts || [])[0];
  const booth = first && booths.find((b) => b.id === first.booth_id);
  if (booth) {
    Object.assign(vars, {
      booth: booth.name, city: booth.city,
      from: tm.time(new Date(first.start), booth.timezone, language),
      to: tm.time(new Date(first.end), booth.timezone, language),
    });
  }
  if (details.venue && details.timezone && details.start) Object.assign(vars, ruleVars(details, language));
  return vars;
}

const isNumber = (value) => typeof value === 'number' && Number.isFinite(value);

/** A booking rule's details in words: names, local times in the venue's zone, limits. */
function ruleVars(d, language) {
  const span = (minutes) => (isNumber(minutes) ? translate(language, 'span.minutes', tm.splitMinutes(minutes)) : undefined);
  // Local ISO times ("2027-03-16T07:00:00+01:00") read in the venue's zone; days in the language's order.
  const clock = (iso) => tm.time(new Date(iso), d.timezone, language);
  const day = (ymd) => tm.dayLabel(ymd, language, { weekday: 'long', day: 'numeric', month: 'long' });
  const startDay = tm.dayOf(new Date(d.start), d.timezone);
  const dayOfIso = (iso) => tm.dayOf(new Date(iso), d.timezone);
  const closes = (hhmm) => (hhmm === '00:00' ? '24:00' : hhmm);
  const vars = {
    venue: d.venue, booth: d.booth || d.venue, city: d.city || tm.zoneCity(d.timezone),
    from: clock(d.start), to: d.end ? clock(d.end) : undefined, day: day(startDay),
    date: d.date ? day(d.date) : undefined,
    grid: d.grid_minutes, days: d.max_advance_days,
    notice: span(d.min_notice_minutes), quota: span(d.weekly_quota_minutes), used: span(d.used_minutes),
    length: span(d.duration_minutes), min: span(d.min_duration_minutes),
    max: span(isNumber(d.max_session_minutes) ? d.max_session_minutes : d.max_duration_minutes),
    step: span(d.grid_minutes),
    wait: isNumber(d.minutes_until_start) && d.minutes_until_start > 0 ? span(d.minutes_until_start) : undefined,
    holiday: d.holiday, reason: d.reason,
    week: d.week_start ? day(d.week_start) : undefined,
  };
  // Instants of the rule as a time, with their day too when the message needs it to be clear.
  if (d.earliest_start) {
    vars.earliestTime = clock(d.earliest_start);
    if (dayOfIso(d.earliest_start) !== startDay) vars.earliestDay = day(dayOfIso(d.earliest_start));
  }
  if (d.latest_start) Object.assign(vars, { latestDay: day(dayOfIso(d.latest_start)), latestTime: clock(d.latest_start) });
  if (d.closed_from && d.closed_until) {
    Object.assign(vars, {
      closedFromDay: day(dayOfIso(d.closed_from)), closedFromTime: clock(d.closed_from),
      closedUntilDay: day(dayOfIso(d.closed_until)), closedUntilTime: clock(d.closed_until),
    });
  }
  if (Array.isArray(d.opening_hours)) {
    const list = new Intl.ListFormat(language, { type: 'conjunction' });
    // '' says "closed all day", as opposed to undefined: nothing known.
    vars.opening = list.format(d.opening_hours.map(([opens, shuts]) => `${opens}–${closes(shuts)}`));
  }
  return Object.fromEntries(Object.entries(vars).filter(([, value]) => value !== undefined && value !== null));
}
