// The staff console's booth-health panel (docs/selftest.md): each booth's last self-test,
// its figures and working paths, "Test now", and an alert for a booth with a session within
// the hour that is offline, poor or never tested. Data: GET /api/v1/health/booths.

import { get, post } from './api.js';
import { h, clear, toast, errorText } from './dom.js';
import { translate } from './i18n.js';

const REFRESH_MS = 15000;

/** t() of static/i18n.js in a given language: the panel's, handed in by the page. */
const texts = (language) => (key, vars = {}, fallback = undefined) => translate(language, key, vars, fallback);

/** A number in `language`'s own writing (decimal comma and narrow no-break spaces in French). */
function number(value, language, digits) {
  return new Intl.NumberFormat(language, { maximumFractionDigits: digits }).format(value);
}

/** A self-test's figures as one line in `language`: "712 ms · 14,5 % de perte · 1 250 kbit/s". */
export function figuresText(f, language) {
  const t = texts(language);
  const parts = [];
  if (typeof f.rtt_ms === 'number') parts.push(t('health.rtt', { ms: number(f.rtt_ms, language, 0) }));
  if (typeof f.loss_percent === 'number') parts.push(t('health.loss', { percent: number(f.loss_percent, language, 2) }));
  if (typeof f.bitrate_down_kbps === 'number') parts.push(t('health.bitrate', { kbps: number(f.bitrate_down_kbps, language, 0) }));
  if (typeof f.black_percent === 'number' && f.black_percent > 0) parts.push(t('health.black', { percent: number(f.black_percent, language, 2) }));
  return parts.join(' · ') || '–';
}

/** The verdict and its score in `language`: "poor (2.2)", "mauvais (2,2)". */
export function verdictText(last, language) {
  const t = texts(language);
  const verdict = t(`health.verdict.${last.verdict}`, {}, last.verdict);
  return last.score ? t('health.scored', { verdict, score: number(last.score, language, 1) }) : verdict;
}

/**
 * Put the panel before `before` (an element of the console's grid). `venueId()` is the venue
 * shown; `language()` the page's language; `timeOf(iso)` formats an instant in venue time.
 */
export function startHealthPanel(before, { venueId, language, timeOf }) {
  const heading = h('h2', { id: 'health-heading' });
  const intro = h('p', { class: 'muted' });
  const alerts = h('ul', { id: 'health-alerts', class: 'health-alerts', role: 'alert' });
  const rows = h('tbody', { id: 'health-rows', 'aria-live': 'polite' });
  const head = h('tr');
  const panel = h(
    'section',
    { id: 'health', class: 'panel span-12', 'aria-labelledby': 'health-heading' },
    h('div', { class: 'panel-head' }, heading, intro),
    alerts,
    h('table', { class: 'health-table' }, h('thead', {}, head), rows),
  );
  before.before(panel);
  let answer = null;

  function render() {
    const t = texts(language());
    heading.textContent = t('health.title');
    intro.textContent = t('health.intro');
    const columns = [t('health.col.booth'), t('health.col.last'), t('health.col.verdict'), t('health.col.figures'), t('health.col.paths'), ''];
    clear(head).append(...columns.map((label) => h('th', { scope: 'col' }, label)));
    const booths = answer ? answer.booths.filter((b) => b.venue_id === venueId()) : [];
    clear(alerts).append(...booths.filter((b) => b.alert).map((b) => h('li', { class: `health-alert ${b.alert}`, dataset: { boothId: b.booth_id } },
      t(`health.alert.${b.alert}`, { booth: b.name, time: timeOf(b.next_session.start) }))));
    clear(rows).append(...booths.map((b) => {
      const last = b.last_selftest;
      const paths = last ? Object.entries(last.paths).map(([leg, ok]) => h('span', { class: `path ${ok ? 'ok' : 'failed'}` }, `${ok ? '✓' : '✗'} ${t(`health.path.${leg}`, {}, leg)}`)) : [];
      const button = h('button', { type: 'button', class: 'btn small', 'aria-label': t('health.testBooth', { booth: b.name }), disabled: b.state !== 'idle' }, t('health.testNow'));
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          await post(`/api/v1/booths/${b.booth_id}/selftest`, {});
          toast(t('health.asked'));
        } catch (err) {
          toast(errorText(err), 'error');
        }
      });
      return h('tr', { dataset: { boothId: b.booth_id } },
        h('th', { scope: 'row' }, h('span', { class: `status ${b.online ? 'online' : 'offline'}` }), ' ', b.name),
        h('td', {}, last ? timeOf(last.finished_at) : t('health.never')),
        h('td', {}, last ? h('span', { class: `verdict ${last.verdict}` }, verdictText(last, language())) : '–'),
        h('td', { class: 'figures' }, last ? figuresText(last.figures, language()) : '–'),
        h('td', { class: 'paths' }, paths),
        h('td', {}, button));
    }));
  }

  async function refresh() {
    try {
      answer = await get('/api/v1/health/booths');
    } catch {
      answer = null;
    }
    render();
  }

  refresh();
  const timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  return { refresh, render, stop: () => clearInterval(timer) };
}
