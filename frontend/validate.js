// The server's input rules (registry/src/domain.rs), checked in the browser
// before anything is sent. Free of the DOM so node can test them too.

/** Longest name, in Unicode code points. */
export const NAME_MAX = 100;
/** Longest email address, in code points. */
export const EMAIL_MAX = 254;
/** Longest local part of an address (before the @), in UTF-8 bytes. */
export const LOCAL_MAX_BYTES = 64;

const CONTROL = /\p{Cc}/u;
const SPACE_OR_CONTROL = /[\p{White_Space}\p{Cc}]/u;
const DOMAIN_FORBIDDEN = /[()[\],;:<>"\\]/;
const EDGES = /^\p{White_Space}+|\p{White_Space}+$/gu;

/** Trims as Rust's str::trim does: Unicode White_Space at both ends. */
export const trim = (s) => String(s).replace(EDGES, '');

/** Counts code points, as the server does (an emoji is one character). */
export const length = (s) => [...s].length;

/** Returns a message for people when the name is invalid, otherwise null. */
export function nameProblem(raw) {
  const name = trim(raw);
  if (name === '') return 'Enter a name.';
  const n = length(name);
  if (n > NAME_MAX) return `Use at most ${NAME_MAX} characters (this has ${n}).`;
  if (CONTROL.test(name)) return 'Remove the control characters (such as tabs or line breaks).';
  return null;
}

/** Returns a message for people when the (optional) email is invalid, otherwise null. */
export function emailProblem(raw) {
  const email = trim(raw);
  if (email === '') return null;
  const n = length(email);
  if (n > EMAIL_MAX) return `Use at most ${EMAIL_MAX} characters (this has ${n}).`;
  if (SPACE_OR_CONTROL.test(email)) return 'Remove the spaces: an address has none.';
  const at = email.lastIndexOf('@');
  const local = at < 0 ? '' : email.slice(0, at);
  const domain = at < 0 ? '' : email.slice(at + 1);
  if (at < 0 || local === '' || local.includes('@')) return 'Enter an address like name@example.com.';
  if (new TextEncoder().encode(local).length > LOCAL_MAX_BYTES) {
    return `The part before the @ can be at most ${LOCAL_MAX_BYTES} bytes long.`;
  }
  const labelsOk = domain.split('.').every((l) => l !== '' && !l.startsWith('-') && !l.endsWith('-'));
  if (!domain.includes('.') || !labelsOk || DOMAIN_FORBIDDEN.test(domain)) {
    return 'Enter a domain after the @, such as example.com.';
  }
  return null;
}

/** Parses a user id typed by a person: a positive integer, or null. */
export function parseId(raw) {
  const s = trim(raw).replace(/^#/, '');
  if (!/^[0-9]{1,16}$/.test(s)) return null;
  const id = Number(s);
  return id > 0 && Number.isSafeInteger(id) ? id : null;
}
