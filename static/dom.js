// Small DOM helpers shared by the pages: building elements, showing an API error next to the
// field it names, polite announcements, and modal dialogs that give focus back.

import { t } from './i18n.js';

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

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// -- errors next to their field --------------------------------------------------------------

/** A readable message for an API error: our own words for common codes, else the server's. */
export function errorText(err) {
  const known = err && err.code && t(`error.${err.code}`, {}, '');
  if (known) return known;
  return (err && err.message) || t('error.unknown');
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
    const note = h('p', { class: 'field-error', id, 'data-error-for': field }, message);
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

let toastTimer = null;

/** A short message at the bottom of the screen, read out by screen readers. */
export function toast(message, kind = 'info') {
  let box = document.getElementById('toast');
  if (!box) {
    box = h('div', { id: 'toast', role: 'status', 'aria-live': 'polite' });
    document.body.append(box);
  }
  box.className = `toast toast-${kind} show`;
  box.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => box.classList.remove('show'), 5000);
}

/** Open a <dialog> modally; focus returns to whatever had it when the dialog closes. */
export function openDialog(dialog, focusSelector) {
  const opener = document.activeElement;
  dialog.addEventListener('close', () => {
    if (opener && document.contains(opener)) opener.focus();
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

/** A CSS class for a city's accent colour: Paris blue, San Francisco orange, others neutral. */
export function cityClass(city) {
  const slug = String(city || '').toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-');
  return ['paris', 'san-francisco'].includes(slug) ? `city-${slug}` : 'city-other';
}
