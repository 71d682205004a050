// Small DOM helpers. Text always goes in as text nodes, never as HTML.

/** Creates an element: h('a', { href, class: 'x', onclick }, 'text', child). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** The element with this id; fails loudly when the page and the script disagree. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from the page`);
  return el;
}

/** Shows or hides an element and sets its text. */
export function say(el, text) {
  el.textContent = text || '';
  el.hidden = !text;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });

/** Formats a server timestamp for people; unknown formats are shown as they are. */
export function formatDate(value) {
  if (value == null || value === '') return '–';
  const parsed = parseDate(value);
  return parsed ? dateTime.format(parsed) : String(value);
}

/** The time of day of a Date, for "updated at" labels. */
export const formatClock = (date) => clock.format(date);

/** "just now", "5 min ago", ... for a server timestamp, or ''. */
export function ago(value, now = Date.now()) {
  const parsed = parseDate(value);
  if (!parsed) return '';
  const s = Math.round((now - parsed.getTime()) / 1000);
  if (s < 45) return 'just now';
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} d ago`;
}

function parseDate(value) {
  if (typeof value === 'number') return new Date(value < 1e12 ? value * 1000 : value);
  let ms = Date.parse(value);
  if (Number.isNaN(ms)) ms = Date.parse(String(value).replace(' ', 'T') + 'Z');
  return Number.isNaN(ms) ? null : new Date(ms);
}

/** A stable small number for a string, to pick one of `n` colours. */
export function hue(text, n = 6) {
  let x = 0;
  for (const ch of String(text)) x = (x * 31 + ch.codePointAt(0)) >>> 0;
  return x % n;
}

/** Up to two initials of a name, for the avatar circles. */
export function initials(name) {
  const words = String(name || '?').trim().split(/\s+/u).filter(Boolean);
  const first = (w) => [...w][0] || '';
  return ((first(words[0] || '?') + (words.length > 1 ? first(words.at(-1)) : '')).toUpperCase()) || '?';
}
