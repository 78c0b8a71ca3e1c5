// The staff console's booth-health panel's figures (static/health.js) without a browser:
// `node --test tests/static/`. Numbers and units in the interface language, not always English.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { figuresText, verdictText } = await import(join(root, 'static', 'health.js'));

const NBSP = '\u00a0';
const NARROW = '\u202f';
const FIGURES = { path: 'relay_udp', rtt_ms: 712.4, loss_percent: 14.5, bitrate_down_kbps: 1250.2, black_percent: 2.25 };

test('figures in English: decimal point, thousands comma', () => {
  assert.equal(figuresText(FIGURES, 'en'), '712 ms · 14.5 % loss · 1,250 kbit/s · 2.25 % black');
});

test('figures in French: decimal comma, French words, no-break spaces before units and %', () => {
  const text = figuresText(FIGURES, 'fr');
  assert.equal(text, `712${NBSP}ms · 14,5${NARROW}% de perte · 1${NARROW}250${NBSP}kbit/s · 2,25${NARROW}% d’image noire`);
  assert.doesNotMatch(text, /loss|black|\d\.\d/);
});

test('only the figures measured are shown; none at all is a dash', () => {
  assert.equal(figuresText({ rtt_ms: 18, black_percent: 0 }, 'fr'), `18${NBSP}ms`);
  assert.equal(figuresText({ path: 'direct' }, 'en'), '–');
});

test('a verdict and its score in the interface language', () => {
  assert.equal(verdictText({ verdict: 'poor', score: 2.25 }, 'en'), 'poor (2.3)');
  assert.equal(verdictText({ verdict: 'poor', score: 2.2 }, 'fr'), 'mauvais (2,2)');
  assert.equal(verdictText({ verdict: 'good', score: null }, 'fr'), 'bon');
});
