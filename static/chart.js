// The utilization chart of the staff console: grouped bars (one per booth) for each local
// week, drawn as inline SVG. Screen readers get the same figures as a table.

import { h } from './dom.js';
import { t } from './i18n.js';
import { dayLabel } from './time.js';

const WIDTH = 760;
const HEIGHT = 260;
const MARGIN = { top: 22, right: 12, bottom: 34, left: 44 };

function percent(value) {
  return `${Math.round(value * 100)}%`;
}

/**
 * `data` is the answer of GET /api/v1/venues/{id}/utilization; `currentWeek` a 'YYYY-MM-DD'
 * Monday to highlight. Returns a <figure>.
 */
export function utilizationChart(data, { lang, venueName, cityClass, currentWeek }) {
  const weeks = data.weeks;
  const booths = weeks.length ? weeks[0].booths.map((b) => ({ id: b.booth_id, name: b.name })) : [];
  const ratios = weeks.flatMap((w) => w.booths.map((b) => b.utilization || 0));
  const top = Math.max(1, Math.ceil(Math.max(0, ...ratios) * 4) / 4); // 100%, or above when overrides overfill
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const groupW = weeks.length ? plotW / weeks.length : plotW;
  const barW = Math.max(4, Math.min(26, (groupW * 0.72) / Math.max(1, booths.length)));
  const y = (ratio) => MARGIN.top + plotH - (ratio / top) * plotH;
  const titleId = `chart-title-${data.venue_id}`;
  const descId = `chart-desc-${data.venue_id}`;

  const svg = h('svg', {
    class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': `${titleId} ${descId}`,
    preserveAspectRatio: 'xMidYMid meet',
  });
  svg.append(h('title', { id: titleId }, t('staff.chartTitle', { venue: venueName })));
  svg.append(h('desc', { id: descId }, weeks.map((w) => `${t('staff.weekOf', { day: dayLabel(w.week_start, lang, { day: 'numeric', month: 'short' }) })}: `
    + w.booths.map((b) => `${b.name} ${b.utilization === null ? t('staff.closedWeek') : percent(b.utilization)}`).join(', ')).join('; ')));

  for (let step = 0; step <= 4; step++) {
    const ratio = (top * step) / 4;
    const yy = y(ratio);
    svg.append(h('line', { class: step ? 'grid' : 'axis', x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: yy, y2: yy }));
    svg.append(h('text', { class: 'tick', x: MARGIN.left - 8, y: yy + 4, 'text-anchor': 'end' }, percent(ratio)));
  }
  weeks.forEach((week, i) => {
    const x0 = MARGIN.left + i * groupW;
    if (week.week_start === currentWeek) {
      svg.append(h('rect', { class: 'now', x: x0 + 2, y: MARGIN.top - 16, width: groupW - 4, height: plotH + 16, rx: 6 }));
      svg.append(h('text', { class: 'now-label', x: x0 + groupW / 2, y: MARGIN.top - 5, 'text-anchor': 'middle' }, t('staff.thisWeek')));
    }
    const groupStart = x0 + (groupW - barW * booths.length) / 2;
    const closed = week.booths.every((b) => b.utilization === null);
    if (closed) {
      svg.append(h('text', { class: 'closed', x: x0 + groupW / 2, y: y(0) - 8, 'text-anchor': 'middle' }, t('staff.closedWeek')));
    }
    week.booths.forEach((booth, j) => {
      if (booth.utilization === null) return;
      const value = booth.utilization;
      const x = groupStart + j * barW;
      const barTop = y(Math.min(value, top));
      const height = Math.max(value > 0 ? 2 : 0, y(0) - barTop);
      const bar = h('rect', { class: `bar-${Math.min(j, 3)}`, x: x + 1, y: y(0) - height, width: barW - 2, height, rx: 2 });
      bar.append(h('title', {}, `${booth.name}: ${percent(value)} (${booth.booked_minutes} / ${booth.open_minutes} min)`));
      svg.append(bar);
      if (barW >= 18 && value > 0) {
        svg.append(h('text', { class: 'value', x: x + barW / 2, y: y(0) - height - 4, 'text-anchor': 'middle' }, percent(value)));
      }
    });
    svg.append(h('text', { class: 'tick', x: x0 + groupW / 2, y: HEIGHT - 12, 'text-anchor': 'middle' },
      dayLabel(week.week_start, lang, { day: 'numeric', month: 'short' })));
  });

  const legend = h('div', { class: 'chart-legend', 'aria-hidden': 'true' },
    booths.map((b, j) => h('span', {}, h('span', { class: `swatch swatch-${Math.min(j, 3)}` }), b.name)));

  // Tables ignore width limits: the wrapper is what hides it.
  const table = h('div', { class: 'visually-hidden' }, h('table', {},
    h('caption', {}, t('staff.chartTitle', { venue: venueName })),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('staff.weekOf', { day: '' })), booths.map((b) => h('th', { scope: 'col' }, b.name)))),
    h('tbody', {}, weeks.map((w) => h('tr', {},
      h('th', { scope: 'row' }, dayLabel(w.week_start, lang, { day: 'numeric', month: 'long', year: 'numeric' })),
      w.booths.map((b) => h('td', {}, b.utilization === null ? t('staff.closedWeek') : percent(b.utilization))))))));

  // On a phone the chart scrolls sideways: keyboard users reach it with Tab and scroll with arrows.
  const wrap = h('div', { class: 'chart-wrap', tabindex: '0', role: 'group', 'aria-label': t('staff.chartTitle', { venue: venueName }) }, svg);
  return h('figure', { class: `chart-figure ${cityClass}` }, wrap, legend, table);
}
