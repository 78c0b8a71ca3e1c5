// The message catalogue of the browser client (static/messages.js), checked without a browser:
// `node --test tests/static/`. Same keys in every language, the same {placeholders}, no key that
// no page uses, no key a page uses that is missing, and a message for every error code of the
// API (the table in docs/api.md) plus the client's own codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STATIC = join(ROOT, 'static');
const { MESSAGES } = await import(join(STATIC, 'messages.js'));

/** Codes the client makes up itself: the server cannot be reached, or sent no code. */
const CLIENT_CODES = ['network', 'unknown'];
const LANGUAGES = Object.keys(MESSAGES);

function placeholders(value) {
  return typeof value === 'string' ? [...value.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort() : 'function';
}

function sources(extension) {
  return readdirSync(STATIC).filter((name) => name.endsWith(extension) && name !== 'messages.js')
    .map((name) => readFileSync(join(STATIC, name), 'utf8'));
}

/** Keys named literally in the pages, and the prefixes of keys built at run time (t(`error.${code}`)). */
function usage() {
  const literal = new Set(); // t('key') and data-i18n="key": must exist
  const quoted = new Set(); // any 'key' in a script, e.g. t(moving ? 'book.move' : 'book.confirm')
  const families = new Set();
  for (const text of sources('.js')) {
    for (const m of text.matchAll(/\bt\(\s*'([\w.]+)'/g)) literal.add(m[1]);
    for (const m of text.matchAll(/'([a-zA-Z]+\.[\w.]+)'/g)) quoted.add(m[1]);
    for (const m of text.matchAll(/\bt\(\s*`([\w.]+)\.\$\{/g)) families.add(m[1]);
  }
  for (const text of sources('.html')) {
    for (const m of text.matchAll(/data-i18n(?:-[a-z-]+)?="([^"]+)"/g)) literal.add(m[1]);
    for (const m of text.matchAll(/name="i18n-title" content="([^"]+)"/g)) literal.add(m[1]);
  }
  return { literal, quoted, families };
}

/** Every code in the status table of docs/api.md. */
function documentedCodes() {
  const doc = readFileSync(join(ROOT, 'docs', 'api.md'), 'utf8');
  const codes = new Set();
  for (const line of doc.split('\n')) {
    const cells = line.split('|').map((c) => c.trim());
    if (!/^(\d{3}|other)$/.test(cells[1] || '')) continue;
    for (const m of cells[3].matchAll(/`(\w+)`/g)) codes.add(m[1]);
  }
  return codes;
}

test('every language has exactly the same keys', () => {
  const [first, ...others] = LANGUAGES;
  for (const other of others) {
    const a = Object.keys(MESSAGES[first]);
    const b = Object.keys(MESSAGES[other]);
    assert.deepEqual(a.filter((k) => !b.includes(k)), [], `in ${first}, missing in ${other}`);
    assert.deepEqual(b.filter((k) => !a.includes(k)), [], `in ${other}, missing in ${first}`);
  }
});

test('a message has the same placeholders in every language', () => {
  for (const key of Object.keys(MESSAGES.en)) {
    const shapes = LANGUAGES.map((l) => placeholders(MESSAGES[l][key]));
    for (const shape of shapes) assert.deepEqual(shape, shapes[0], key);
  }
});

test('messages written as functions never print undefined, null or NaN', () => {
  const empty = {}; // error messages: the page may know nothing about the booths involved
  const full = {
    n: 90, hours: 8, minutes: 30, booth: 'Cantine A', city: 'Paris', from: '17:00', to: '18:00',
    notice: '2 hours', days: 90, quota: '4 hours', grid: 15, venue: 'La Cantine', reason: 'Works',
    // the booking rules' details, as static/errors.js writes them out
    day: 'Tuesday, March 16', date: 'Tuesday, March 16', opening: '09:00–19:00', wait: '1 hour 20 minutes',
    earliestTime: '18:15', earliestDay: 'Monday, March 1', latestDay: 'Sunday, May 30', latestTime: '14:00',
    holiday: 'Christmas', closedFromDay: 'Tuesday, March 16', closedFromTime: '14:00',
    closedUntilDay: 'Tuesday, March 16', closedUntilTime: '18:00', used: '4 hours', length: '1 hour',
    min: '15 minutes', max: '2 hours', step: '15 minutes', week: 'Monday, March 15',
  };
  for (const l of LANGUAGES) {
    for (const [key, value] of Object.entries(MESSAGES[l])) {
      if (typeof value !== 'function') continue;
      for (const vars of key.startsWith('error.') ? [empty, full] : [full]) {
        const text = value(vars);
        assert.equal(typeof text, 'string', key);
        assert.ok(text.trim(), `${l} ${key} is empty`);
        assert.doesNotMatch(text, /undefined|null|NaN|\[object/, `${l} ${key}: ${text}`);
      }
    }
  }
});

test('every key is used by a page, and every key a page uses exists', () => {
  const { literal, quoted, families } = usage();
  const keys = Object.keys(MESSAGES.en);
  assert.deepEqual([...literal].filter((k) => !keys.includes(k)).sort(), [], 'used but missing');
  const used = (k) => literal.has(k) || quoted.has(k) || [...families].some((f) => k.startsWith(`${f}.`));
  const unused = keys.filter((k) => !used(k));
  assert.deepEqual(unused, [], 'in the catalogue but used nowhere');
});

test('every error code of the API has a message, and no message is for a code that does not exist', () => {
  const codes = new Set([...documentedCodes(), ...CLIENT_CODES]);
  assert.ok(codes.has('conflict') && codes.has('quota') && codes.has('email_taken'), 'docs/api.md table not read');
  const keys = Object.keys(MESSAGES.en).filter((k) => k.startsWith('error.')).map((k) => k.slice(6));
  assert.deepEqual([...codes].filter((c) => !keys.includes(c)).sort(), [], 'codes without a message');
  assert.deepEqual(keys.filter((c) => !codes.has(c)).sort(), [], 'messages for unknown codes');
});

test('an error message never shows its code or the server’s internal ids', () => {
  for (const l of LANGUAGES) {
    for (const [key, value] of Object.entries(MESSAGES[l])) {
      if (!key.startsWith('error.')) continue;
      const text = typeof value === 'function' ? value({}) : value;
      const code = key.slice(6);
      if (code.includes('_')) assert.ok(!text.includes(code), `${l} ${key} shows its code`);
      assert.doesNotMatch(text, /\bid \d|\d{4}-\d\d-\d\dT/, `${l} ${key}`);
    }
  }
});
