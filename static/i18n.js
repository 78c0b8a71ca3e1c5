// English and French. The first choice comes from the server (negotiated from Accept-Language
// into <html lang>), a choice made with the switch is remembered in localStorage.
//
// Markup carries English text plus data-i18n="key" (text), data-i18n-aria-label="key" and
// data-i18n-placeholder="key"; translatePage() fills them in the current language.

import { MESSAGES } from './messages.js';

const STORAGE_KEY = 'sebastian.lang';
export const LANGUAGES = ['en', 'fr'];
let current = 'en';
const listeners = new Set();

export function lang() {
  return current;
}

/** Pick the language: remembered choice, then the server's negotiation, then the browser's. */
export function initLang() {
  let saved = null;
  try {
    saved = localStorage.getItem(STORAGE_KEY);
  } catch {
    saved = null;
  }
  const fromServer = document.documentElement.lang;
  const fromBrowser = (navigator.languages || [navigator.language || 'en']).map((l) => l.slice(0, 2).toLowerCase());
  current = [saved, fromServer, ...fromBrowser].find((l) => LANGUAGES.includes(l)) || 'en';
  document.documentElement.lang = current;
  return current;
}

export function setLang(next) {
  if (!LANGUAGES.includes(next) || next === current) return;
  current = next;
  document.documentElement.lang = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  for (const listener of listeners) listener(next);
}

export function onLangChange(listener) {
  listeners.add(listener);
}

/** The message for `key` in the current language; see translate(). */
export function t(key, vars = {}, fallback = undefined) {
  return translate(current, key, vars, fallback);
}

/** The message for `key` in `language` with {placeholders} filled; `fallback` (or the key) when missing. */
export function translate(language, key, vars = {}, fallback = undefined) {
  let text = (MESSAGES[language] || MESSAGES.en)[key];
  if (text === undefined) text = MESSAGES.en[key];
  if (text === undefined) return fallback === undefined ? key : fallback;
  if (typeof text === 'function') return text(vars);
  return text.replace(/\{(\w+)\}/g, (_, name) => (vars[name] === undefined ? '' : String(vars[name])));
}

/** "8 hours", "1 heure", "5 hours 30 minutes". */
export function hoursPhrase(totalMinutes) {
  const hours = Math.floor(totalMinutes / 60);
  const minutes = totalMinutes % 60;
  return t('gap.phrase', { hours, minutes });
}

export function translatePage(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria-label]')) el.setAttribute('aria-label', t(el.dataset.i18nAriaLabel));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
  const title = document.querySelector('meta[name="i18n-title"]');
  if (title) document.title = t(title.content);
}

/**
 * A page's language set-up: pick the language, translate the page, put an EN | FR switch in
 * each of `switches`, and on every change translate again and call `render`.
 */
export function startTranslating(switches, render) {
  initLang();
  translatePage();
  for (const container of switches) mountLangSwitch(container);
  onLangChange(() => {
    translatePage();
    render();
  });
}

/** The EN | FR switch: two toggle buttons in a labelled group. */
export function mountLangSwitch(container) {
  container.setAttribute('role', 'group');
  const render = () => {
    container.setAttribute('aria-label', t('lang.label'));
    container.replaceChildren(...LANGUAGES.map((code) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'lang-button';
      button.lang = code;
      // The visible "EN" starts the accessible name; the language's own name follows, hidden.
      const name = document.createElement('span');
      name.className = 'visually-hidden';
      name.textContent = ` ${t(`lang.${code}`)}`;
      button.append(code.toUpperCase(), name);
      button.setAttribute('aria-pressed', String(code === current));
      button.addEventListener('click', () => {
        setLang(code);
        const again = container.querySelector(`[lang="${code}"]`);
        if (again) again.focus();
      });
      return button;
    }));
  };
  render();
  onLangChange(render);
}
