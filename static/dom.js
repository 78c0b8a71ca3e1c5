// Small DOM helpers shared by the pages: building elements, showing an API error next to the
// field it names, polite announcements, and modal dialogs that give focus back.

import { t, lang, onLangChange } from './i18n.js';
import { errorMessage } from './errors.js';
import * as tm from './time.js';

/** h('button', {class: 'x', onclick}, 'text', child, [more]) → element. */
export function h(tag, attrs = {}, ...children) {
  const svg = ['svg', 'g', 'rect', 'line', 'text', 'title', 'path', 'circle', 'desc'].includes(tag);
  const el = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') {
      for (const [name, data] of Object.entries(value)) if (data !== undefined && data !== null) el.dataset[name] = data;
    }
    else if (key === 'text') el.textContent = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace an element's children; null, undefined and false are left out (never "null"). */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// -- errors next to their field --------------------------------------------------------------

let errorContext = () => ({});

/**
 * What the page knows that error messages need: `{booths}` as the API lists them, so that a
 * conflict (which names booths by id) names the booth and its local times.
 */
export function setErrorContext(provider) {
  errorContext = provider;
}

/** A message for people for an API error, in the interface language (static/errors.js). */
export function errorText(err) {
  return errorMessage(err, lang(), errorContext());
}

/**
 * Show `err` next to the control it is about, inside `scope`.
 * The control is found by `[data-field~=field]`, then `[name=field]`; `aliases` maps API field
 * names to others (e.g. {start: 'slot'}). Without a match the scope's `.form-error` gets it.
 */
export function showError(scope, err, aliases = {}) {
  clearErrors(scope);
  const field = err && err.field ? aliases[err.field] || err.field : null;
  let target = null;
  if (field) {
    target = scope.querySelector(`[data-field~="${CSS.escape(field)}"]`) || scope.querySelector(`[name="${CSS.escape(field)}"]`);
  }
  const message = errorText(err);
  if (target) {
    const id = `${target.id || field}-error`;
    const note = h('p', { class: 'field-error', id, role: 'alert', 'data-error-for': field }, message);
    const wrapper = target.closest('.field') || target;
    wrapper.classList.add('has-error');
    wrapper.append(note);
    const control = target.matches('input, select, textarea, button') ? target : target.querySelector('input, select, textarea, button');
    if (control) {
      control.setAttribute('aria-invalid', 'true');
      const described = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
      control.setAttribute('aria-describedby', [...described, id].join(' '));
      if (document.activeElement === document.body || !scope.contains(document.activeElement)) control.focus();
    }
    return note;
  }
  const box = scope.querySelector('.form-error');
  if (box) {
    box.textContent = message;
    box.hidden = false;
    return box;
  }
  toast(message, 'error');
  return null;
}

export function clearErrors(scope) {
  for (const note of scope.querySelectorAll('.field-error')) {
    const id = note.id;
    for (const control of scope.querySelectorAll(`[aria-describedby~="${CSS.escape(id)}"]`)) {
      const rest = control.getAttribute('aria-describedby').split(' ').filter((x) => x && x !== id);
      if (rest.length) control.setAttribute('aria-describedby', rest.join(' '));
      else control.removeAttribute('aria-describedby');
      control.removeAttribute('aria-invalid');
    }
    note.remove();
  }
  for (const wrapper of scope.querySelectorAll('.has-error')) wrapper.classList.remove('has-error');
  for (const box of scope.querySelectorAll('.form-error')) {
    box.textContent = '';
    box.hidden = true;
  }
}

// -- announcements and dialogs ---------------------------------------------------------------

/**
 * A confirmation or error that stays until dismissed or replaced by the next one. Errors are
 * alerts; the rest are polite status messages. Where it sits is the stylesheet's business (in
 * the flow of the page on a phone, so it never covers anything).
 */
export function toast(message, kind = 'info') {
  let box = document.getElementById('toast');
  if (!box) {
    box = h('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  box.className = `toast toast-${kind} show`;
  box.dataset.kind = kind;
  const text = h('p', { class: 'toast-text', role: kind === 'error' ? 'alert' : null }, message);
  const dismiss = h('button', {
    type: 'button', class: 'toast-close', 'aria-label': t('toast.dismiss'), title: t('toast.dismiss'),
    onclick: () => {
      box.classList.remove('show');
      clear(box);
    },
  }, '×');
  clear(box).append(text, dismiss);
}

/** Open a <dialog> modally; focus returns to whatever had it when the dialog closes, or to `fallback()`. */
export function openDialog(dialog, focusSelector, fallback = () => null) {
  const opener = document.activeElement;
  dialog.addEventListener('close', () => {
    // The opener may be gone (a slot taken meanwhile): then the page says where focus goes.
    const back = opener && document.contains(opener) ? opener : fallback();
    if (back) back.focus();
  }, { once: true });
  dialog.showModal();
  const first = focusSelector && dialog.querySelector(focusSelector);
  if (first) first.focus();
}

/** Disable a button while `work` runs; returns its result. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/**
 * Handle a form's submit with `work(data, form)`: the submit button is busy meanwhile, and an
 * API error is shown next to the field it names.
 */
export function onSubmit(form, work, aliases = {}) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    await busy(form.querySelector('[type=submit]'), async () => {
      try {
        await work(data, form);
      } catch (err) {
        showError(form, err, aliases);
      }
    });
  });
}

// -- dates and times in the interface language, not the browser's locale ---------------------

/**
 * A text input as a date field in the interface language's order ("16/03/2027" in French,
 * "2027-03-16" in English). `onDay(day)` gets 'YYYY-MM-DD' as soon as a whole date is typed;
 * a date that cannot be read marks the field invalid when it is left.
 */
export function dayField(input, onDay = () => {}) {
  input.autocomplete = 'off';
  const hint = () => {
    input.placeholder = tm.dayPattern(lang());
    input.title = tm.dayPattern(lang());
  };
  input.addEventListener('input', () => {
    const day = tm.parseDayInput(input.value, lang());
    if (day && day !== input.dataset.day) {
      input.dataset.day = day;
      input.removeAttribute('aria-invalid');
      onDay(day);
    }
  });
  input.addEventListener('change', () => {
    const day = tm.parseDayInput(input.value, lang());
    if (day) setDayField(input, day);
    else if (input.value.trim()) input.setAttribute('aria-invalid', 'true');
  });
  onLangChange(() => {
    hint();
    setDayField(input, input.dataset.day);
  });
  hint();
}

/** Show `day` ('YYYY-MM-DD' or empty) in a date field. */
export function setDayField(input, day) {
  input.dataset.day = day || '';
  input.value = tm.formatDayInput(day, lang());
  input.removeAttribute('aria-invalid');
}

/** The day in a date field as 'YYYY-MM-DD', or null when it is empty or cannot be read. */
export function dayFieldValue(input) {
  return tm.parseDayInput(input.value, lang());
}

/** A text input as a 24-hour time field ("17:00"), whatever the browser's locale. */
export function timeField(input) {
  input.autocomplete = 'off';
  input.placeholder = 'HH:MM';
  input.setAttribute('inputmode', 'numeric');
  input.addEventListener('change', () => {
    const value = tm.parseTimeInput(input.value);
    if (value) input.value = value;
    if (input.value.trim() && !value) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
  });
}

/** A CSS class for a city's accent colour: Paris blue, San Francisco orange, others neutral. */
export function cityClass(city) {
  const slug = String(city || '').toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-');
  return ['paris', 'san-francisco'].includes(slug) ? `city-${slug}` : 'city-other';
}
