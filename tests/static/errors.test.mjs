// Booking refusals in words (static/errors.js with static/messages.js), without a browser:
// `node --test tests/static/`. Each rule's details, in the shape docs/api.md gives them, become
// a message in English and French that names the venue and booth, gives the venue's local times
// in 24-hour form and the language's date order, and says what to do; never a code, an id, a UTC
// instant or "null".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { errorMessage } = await import(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static', 'errors.js'));

/** What every rule refusal carries: Cantine A at La Cantine, Tuesday 16 March 2027, 07:00–08:00 in Paris. */
const WHERE = {
  venue: 'La Cantine', booth: 'Cantine A', city: 'Paris', timezone: 'Europe/Paris',
  start: '2027-03-16T07:00:00+01:00', end: '2027-03-16T08:00:00+01:00',
};
const SF = {
  venue: 'Mission Bay Commons', booth: 'SF A', city: 'San Francisco', timezone: 'America/Los_Angeles',
  start: '2027-03-16T07:00:00-07:00', end: '2027-03-16T08:00:00-07:00',
};

function refusal(code, details) {
  // As static/api.js builds it: the whole error body is the details.
  return { code, field: 'start', details: { code, message: 'the server’s English for developers', field: 'start', ...details } };
}

const CASES = [
  {
    name: 'opening hours, two spans, the last to midnight',
    err: refusal('opening_hours', { ...WHERE, date: '2027-03-16', opening_hours: [['09:00', '12:00'], ['14:00', '00:00']] }),
    en: 'Cantine A at La Cantine is open 09:00–12:00 and 14:00–24:00 (Paris time) on Tuesday, March 16; your session would run 07:00–08:00 Paris time. Pick a slot within those hours from the week shown.',
    fr: 'Cantine A (La Cantine) est ouverte 09:00–12:00 et 14:00–24:00 (heure de Paris) le mardi 16 mars ; votre session irait de 07:00 à 08:00, heure de Paris. Choisissez un créneau dans ces horaires, dans la semaine affichée.',
  },
  {
    name: 'opening hours, closed all day, in San Francisco',
    err: refusal('opening_hours', { ...SF, start: '2027-03-21T10:00:00-07:00', end: '2027-03-21T11:00:00-07:00', date: '2027-03-21', opening_hours: [] }),
    en: 'SF A at Mission Bay Commons is closed all day on Sunday, March 21 (San Francisco time). Pick another day from the week shown.',
    fr: 'SF A (Mission Bay Commons) est fermée toute la journée le dimanche 21 mars (heure de San Francisco). Choisissez un autre jour dans la semaine affichée.',
  },
  {
    name: 'closure for a public holiday',
    err: refusal('closure', { ...WHERE, start: '2027-12-25T17:00:00+01:00', end: '2027-12-25T18:00:00+01:00', closure: 'holiday', holiday: 'Noël', date: '2027-12-25' }),
    en: 'La Cantine is closed on Saturday, December 25 for Noël, a public holiday, so Cantine A cannot be booked that day. Pick another day.',
    fr: 'La Cantine est fermé le samedi 25 décembre pour Noël, jour férié : Cantine A ne peut pas être réservée ce jour-là. Choisissez un autre jour.',
  },
  {
    name: 'closure added by staff, within a day',
    err: refusal('closure', { ...WHERE, closure: 'blackout', reason: 'Works', closed_from: '2027-03-16T06:00:00+01:00', closed_until: '2027-03-16T12:00:00+01:00' }),
    en: 'La Cantine is closed on Tuesday, March 16 from 06:00 to 12:00 (Paris time): Works. Your session, 07:00–08:00 Paris time, falls in it. Pick another time.',
    fr: 'La Cantine est fermé le mardi 16 mars de 06:00 à 12:00 (heure de Paris) : Works. Votre session, de 07:00 à 08:00, heure de Paris, tombe dans cette fermeture. Choisissez un autre moment.',
  },
  {
    name: 'closure added by staff, over two days',
    err: refusal('closure', { ...WHERE, closure: 'blackout', reason: 'Works', closed_from: '2027-03-15T18:00:00+01:00', closed_until: '2027-03-17T12:00:00+01:00' }),
    en: 'La Cantine is closed from Monday, March 15, 18:00 to Wednesday, March 17, 12:00 (Paris time): Works. Your session, 07:00–08:00 Paris time, falls in it. Pick another time.',
    fr: 'La Cantine est fermé du lundi 15 mars à 18:00 au mercredi 17 mars à 12:00 (heure de Paris) : Works. Votre session, de 07:00 à 08:00, heure de Paris, tombe dans cette fermeture. Choisissez un autre moment.',
  },
  {
    name: 'minimum notice, the next possible start the same day',
    err: refusal('notice', {
      ...WHERE, start: '2027-03-01T17:00:00+01:00', end: '2027-03-01T18:00:00+01:00',
      min_notice_minutes: 120, minutes_until_start: 80, earliest_start: '2027-03-01T18:15:00+01:00',
    }),
    en: 'Sessions at La Cantine must be booked at least 2 hours ahead; this slot starts at 17:00 Paris time, in 1 hour 20 minutes. Pick a slot starting 18:15 Paris time or later.',
    fr: 'Les sessions à La Cantine se réservent au moins 2 heures à l’avance ; ce créneau commence à 17:00, heure de Paris, dans 1 heure 20 minutes. Choisissez un créneau à partir de 18:15, heure de Paris.',
  },
  {
    name: 'minimum notice, the next possible start the next day, a slot already begun',
    err: refusal('notice', {
      ...SF, start: '2027-03-01T17:45:00-08:00', end: '2027-03-01T18:45:00-08:00',
      min_notice_minutes: 45, minutes_until_start: -5, earliest_start: '2027-03-02T08:00:00-08:00',
    }),
    en: 'Sessions at Mission Bay Commons must be booked at least 45 minutes ahead; this slot starts at 17:45 San Francisco time, that is now. Pick a slot starting Tuesday, March 2, 08:00 San Francisco time or later.',
    fr: 'Les sessions à Mission Bay Commons se réservent au moins 45 minutes à l’avance ; ce créneau commence à 17:45, heure de San Francisco, c’est-à-dire maintenant. Choisissez un créneau à partir du mardi 2 mars à 08:00, heure de San Francisco.',
  },
  {
    name: 'maximum advance',
    err: refusal('advance', {
      ...WHERE, start: '2027-06-15T18:00:00+02:00', end: '2027-06-15T19:00:00+02:00',
      max_advance_days: 90, latest_start: '2027-05-30T14:00:00+02:00',
    }),
    en: 'Sessions at La Cantine can be booked at most 90 days ahead, so until Sunday, May 30, 14:00 Paris time; this slot is on Tuesday, June 15 at 18:00. Pick an earlier week.',
    fr: 'Les sessions à La Cantine se réservent au plus 90 jours à l’avance, donc jusqu’au dimanche 30 mai à 14:00, heure de Paris ; ce créneau est le mardi 15 juin à 18:00. Choisissez une semaine plus proche.',
  },
  {
    name: 'weekly quota',
    err: refusal('quota', { ...WHERE, weekly_quota_minutes: 240, used_minutes: 225, duration_minutes: 60, week_start: '2027-03-15' }),
    en: 'You may book up to 4 hours a week at La Cantine; in the week of Monday, March 15 (Monday to Sunday) you already have 3 hours 45 minutes, so this session of 1 hour would go over. Pick a shorter session or another week.',
    fr: 'Vous pouvez réserver jusqu’à 4 heures par semaine à La Cantine ; la semaine du lundi 15 mars (du lundi au dimanche), vous avez déjà 3 heures 45 minutes, et cette session de 1 heure dépasserait cette limite. Choisissez une session plus courte ou une autre semaine.',
  },
  {
    name: 'start grid',
    err: refusal('grid', { ...WHERE, start: '2027-03-16T17:05:00+01:00', end: '2027-03-16T18:05:00+01:00', grid_minutes: 15 }),
    en: 'Sessions at La Cantine start every 15 minutes, Paris time; 17:05 is not one of those times. Pick a time from the list.',
    fr: 'Les sessions à La Cantine commencent toutes les 15 minutes, heure de Paris ; 17:05 n’en fait pas partie. Choisissez une heure dans la liste.',
  },
  {
    name: 'length',
    err: refusal('duration', { ...WHERE, duration_minutes: 150, min_duration_minutes: 15, max_duration_minutes: 120, grid_minutes: 15 }),
    en: 'Sessions at La Cantine last from 15 minutes to 2 hours, in steps of 15 minutes; 2 hours 30 minutes is not possible. Pick a length from the list.',
    fr: 'Les sessions à La Cantine durent de 15 minutes à 2 heures, par pas de 15 minutes ; 2 heures 30 minutes n’est pas possible. Choisissez une durée dans la liste.',
  },
  {
    name: 'a session extended past its longest',
    err: refusal('session_too_long', { ...WHERE, duration_minutes: 420, max_session_minutes: 360 }),
    en: 'Sessions at La Cantine last at most 6 hours in all, extensions included; this one would last 7 hours. Book a shorter one, or a second session after it.',
    fr: 'Les sessions à La Cantine durent au plus 6 heures en tout, prolongations comprises ; celle-ci durerait 7 heures. Réservez-en une plus courte, ou une seconde à la suite.',
  },
];

for (const { name, err, en, fr } of CASES) {
  test(`${name}: in English and in French`, () => {
    assert.equal(errorMessage(err, 'en'), en);
    assert.equal(errorMessage(err, 'fr'), fr);
  });
}

test('a refusal never shows its code, an id, a UTC instant, an offset or a missing value', () => {
  for (const { err } of CASES) {
    for (const language of ['en', 'fr']) {
      const text = errorMessage(err, language);
      assert.ok(!text.includes(err.code), `${language} ${err.code}: ${text}`);
      assert.doesNotMatch(text, /undefined|null|NaN|\bUTC\b|\d{4}-\d\d-\d\d|[+-]\d\d:\d\d\b|Europe\/|America\/|\bid\b/, `${language}: ${text}`);
      assert.doesNotMatch(text, /\d{1,2}:\d\d ?(AM|PM)/i, `${language}: 24-hour times only: ${text}`);
    }
  }
});

test('the times are the venue’s, whatever zone the offsets of the details are written in', () => {
  // The same instants written in UTC: still read in the venue's zone.
  const err = refusal('opening_hours', {
    ...WHERE, start: '2027-03-16T06:00:00Z', end: '2027-03-16T07:00:00Z', date: '2027-03-16', opening_hours: [['09:00', '19:00']],
  });
  assert.match(errorMessage(err, 'en'), /your session would run 07:00–08:00 Paris time/);
});

test('a refusal from a server that sends no details still says what to do', () => {
  for (const { err } of CASES) {
    const bare = { code: err.code, field: err.field, details: { code: err.code, message: 'x', field: err.field } };
    for (const language of ['en', 'fr']) {
      const text = errorMessage(bare, language);
      assert.ok(text.length > 20 && !text.includes('La Cantine') && !/undefined|null|NaN/.test(text), `${language} ${err.code}: ${text}`);
    }
  }
});

test('a conflict names the booth from the page’s list, in its city’s time', () => {
  const booths = [{ id: 3, name: 'SF A', city: 'San Francisco', timezone: 'America/Los_Angeles' }];
  const err = { code: 'conflict', details: { conflicts: [{ booth_id: 3, booth_name: 'SF A', start: '2027-03-16T16:00:00Z', end: '2027-03-16T17:00:00Z', booking_id: 7 }] } };
  assert.equal(
    errorMessage(err, 'en', { booths }),
    'Someone has just booked SF A in San Francisco, 09:00–10:00 San Francisco time. The week now shows what is still free: pick another slot.',
  );
  assert.match(errorMessage(err, 'fr', { booths }), /^Quelqu’un vient de réserver SF A à San Francisco, de 09:00 à 10:00 heure de San Francisco\./);
});
