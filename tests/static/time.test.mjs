// Dates and times typed by people (static/time.js), without a browser: `node --test tests/static/`.
// 24-hour times whatever the browser's locale; dates in the interface language's order.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const tm = await import(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static', 'time.js'));

test('a date is read in the language’s order, ISO in both', () => {
  assert.equal(tm.parseDayInput('16/03/2027', 'fr'), '2027-03-16');
  assert.equal(tm.parseDayInput('1.3.2027', 'fr'), '2027-03-01');
  assert.equal(tm.parseDayInput('2027-03-16', 'fr'), '2027-03-16');
  assert.equal(tm.parseDayInput(' 2027-03-16 ', 'en'), '2027-03-16');
  // English is ISO only: "03/04/2027" would be March for some and April for others.
  assert.equal(tm.parseDayInput('03/04/2027', 'en'), null);
});

test('a date that is not a real day, or not whole yet, is not read', () => {
  for (const text of ['31/02/2027', '29/02/2027', '2027-13-01', '2027-03-1', '16/03/202', '', 'demain']) {
    assert.equal(tm.parseDayInput(text, 'fr'), null, text);
  }
  assert.equal(tm.parseDayInput('29/02/2028', 'fr'), '2028-02-29');
});

test('a day is shown in the language’s order', () => {
  assert.equal(tm.formatDayInput('2027-03-01', 'fr'), '01/03/2027');
  assert.equal(tm.formatDayInput('2027-03-01', 'en'), '2027-03-01');
  assert.equal(tm.formatDayInput('', 'fr'), '');
  assert.equal(tm.dayPattern('fr'), 'JJ/MM/AAAA');
  assert.equal(tm.dayPattern('en'), 'YYYY-MM-DD');
});

test('times are 24-hour, however they are typed; AM/PM is not a time here', () => {
  const cases = { '9:00': '09:00', '09:00': '09:00', '17h': '17:00', '17 h 30': '17:30', '9.15': '09:15', '0:00': '00:00', '23:59': '23:59' };
  for (const [text, expected] of Object.entries(cases)) assert.equal(tm.parseTimeInput(text), expected, text);
  for (const text of ['5 PM', '24:00', '12:60', '9:5', '', 'noon']) assert.equal(tm.parseTimeInput(text), null, text);
});

test('a date and time for people is 24-hour in both languages', () => {
  const instant = new Date('2027-03-16T16:05:00Z');
  assert.equal(tm.dayAndTime(instant, 'Europe/Paris', 'fr'), '16 mars 2027, 17:05');
  assert.match(tm.dayAndTime(instant, 'America/Los_Angeles', 'en'), /^Mar 16, 2027, 09:05$/);
});
