// The staff console's booth-health panel (docs/selftest.md): each booth's last self-test,
// its figures and working paths, "Test now", and an alert for a booth with a session within
// the hour that is offline, poor or never tested. Data: GET /api/v1/health/booths.

import { get, post } from './api.js';
import { h, clear, toast, errorText } from './dom.js';

const REFRESH_MS = 15000;

const TEXTS = {
  en: {
    title: 'Booth health',
    intro: 'Media self-tests: when each booth starts, at opening, 10 minutes before each session, or now.',
    booth: 'Booth', last: 'Last test', verdict: 'Verdict', figures: 'Figures', paths: 'Paths',
    never: 'never', testNow: 'Test now', asked: 'Test requested',
    good: 'good', fair: 'fair', poor: 'poor',
    alert: { offline: 'is offline', poor: 'failed its last self-test', untested: 'has never been tested' },
    sessionAt: (name, what, time) => `${name} ${what}, and has a session at ${time}.`,
    direct: 'direct', relay_udp: 'relay UDP', relay_tcp: 'relay TCP', relay_tls: 'relay TLS',
  },
  fr: {
    title: 'État des cabines',
    intro: 'Tests média : au démarrage de chaque cabine, à l’ouverture, 10 minutes avant chaque session, ou maintenant.',
    booth: 'Cabine', last: 'Dernier test', verdict: 'Verdict', figures: 'Mesures', paths: 'Chemins',
    never: 'jamais', testNow: 'Tester', asked: 'Test demandé',
    good: 'bon', fair: 'moyen', poor: 'mauvais',
    alert: { offline: 'est hors ligne', poor: 'a échoué à son dernier test', untested: 'n’a jamais été testée' },
    sessionAt: (name, what, time) => `${name} ${what}, et a une session à ${time}.`,
    direct: 'direct', relay_udp: 'relais UDP', relay_tcp: 'relais TCP', relay_tls: 'relais TLS',
  },
};

function figuresText(f) {
  const parts = [];
  if (typeof f.rtt_ms === 'number') parts.push(`${Math.round(f.rtt_ms)} ms`);
  if (typeof f.loss_percent === 'number') parts.push(`${f.loss_percent} % loss`);
  if (typeof f.bitrate_down_kbps === 'number') parts.push(`${Math.round(f.bitrate_down_kbps)} kbit/s`);
  if (typeof f.black_percent === 'number' && f.black_percent > 0) parts.push(`${f.black_percent} % black`);
  return parts.join(' · ') || '–';
}

/**
 * Put the panel before `before` (an element of the console's grid). `venueId()` is the venue
 * shown; `language()` the page's language; `timeOf(iso)` formats an instant in venue time.
 */
export function startHealthPanel(before, { venueId, language, timeOf }) {
  const texts = () => TEXTS[language()] || TEXTS.en;
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
    const tx = texts();
    heading.textContent = tx.title;
    intro.textContent = tx.intro;
    clear(head).append(...[tx.booth, tx.last, tx.verdict, tx.figures, tx.paths, ''].map((label) => h('th', { scope: 'col' }, label)));
    const booths = answer ? answer.booths.filter((b) => b.venue_id === venueId()) : [];
    clear(alerts).append(...booths.filter((b) => b.alert).map((b) => h('li', { class: `health-alert ${b.alert}`, dataset: { boothId: b.booth_id } },
      tx.sessionAt(b.name, tx.alert[b.alert], timeOf(b.next_session.start)))));
    clear(rows).append(...booths.map((b) => {
      const last = b.last_selftest;
      const paths = last ? Object.entries(last.paths).map(([leg, ok]) => h('span', { class: `path ${ok ? 'ok' : 'failed'}` }, `${ok ? '✓' : '✗'} ${tx[leg] || leg}`)) : [];
      const button = h('button', { type: 'button', class: 'btn small', 'aria-label': `${tx.testNow}: ${b.name}`, disabled: b.state !== 'idle' }, tx.testNow);
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          await post(`/api/v1/booths/${b.booth_id}/selftest`, {});
          toast(tx.asked);
        } catch (err) {
          toast(errorText(err), 'error');
        }
      });
      return h('tr', { dataset: { boothId: b.booth_id } },
        h('th', { scope: 'row' }, h('span', { class: `status ${b.online ? 'online' : 'offline'}` }), ' ', b.name),
        h('td', {}, last ? timeOf(last.finished_at) : tx.never),
        h('td', {}, last ? h('span', { class: `verdict ${last.verdict}` }, `${tx[last.verdict]}${last.score ? ` (${last.score})` : ''}`) : '–'),
        h('td', { class: 'figures' }, last ? figuresText(last.figures) : '–'),
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
