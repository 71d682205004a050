// The "Add a user" form: the server's rules checked as the person types, the
// server's own errors shown where they belong, and the new user followed.

import { addUser, newIdempotencyKey } from './api.js';
import { byId, say } from './dom.js';
import { nameProblem, emailProblem, trim } from './validate.js';

const RULES = { name: nameProblem, email: emailProblem };

/** Wires the form; `onAccepted(id)` runs after a 202. */
export function startAddForm({ onAccepted }) {
  const form = byId('add-form');
  const submit = byId('add-submit');
  const banner = byId('add-error');
  const inputs = { name: byId('name'), email: byId('email') };
  const touched = new Set();
  let attempt = null; // { body, key }: a resubmit of the same body reuses its key
  let waitTimer = 0;
  let focusQueued = false;

  // The browser fires one `invalid` per bad field; focus the first of them once.
  const focusFirstInvalid = () => {
    if (focusQueued) return;
    focusQueued = true;
    setTimeout(() => {
      focusQueued = false;
      Object.values(inputs).find((input) => !input.validity.valid)?.focus();
    });
  };

  const showField = (field, message) => {
    const input = inputs[field];
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
    input.closest('.field').classList.toggle('has-error', Boolean(message));
    say(byId(`${field}-error`), message);
  };

  const check = (field) => {
    const message = RULES[field](inputs[field].value);
    inputs[field].setCustomValidity(message || '');
    if (touched.has(field)) showField(field, message);
    return message;
  };

  for (const field of Object.keys(inputs)) {
    const input = inputs[field];
    input.addEventListener('input', () => {
      check(field);
      if (!touched.has(field)) showField(field, null); // a server's complaint goes once edited
    });
    input.addEventListener('blur', (event) => {
      // Leaving for the submit button: the submit shows the message, and showing
      // it now would move the button away from under the pointer mid-click.
      if (event.relatedTarget === submit) return;
      if (input.value !== '') touched.add(field);
      check(field);
    });
    // The browser blocks the submit of invalid fields; show our message instead of its bubble.
    input.addEventListener('invalid', (event) => {
      event.preventDefault();
      touched.add(field);
      showField(field, check(field) || input.validationMessage);
      focusFirstInvalid();
    });
    check(field);
  }
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const firstInvalid = Object.values(inputs).find((input) => !input.validity.valid);
    if (firstInvalid && !form.noValidate) {
      firstInvalid.focus();
      return;
    }
    send();
  });

  async function send() {
    const body = { name: trim(inputs.name.value) };
    const email = trim(inputs.email.value);
    if (email !== '') body.email = email;
    const text = JSON.stringify(body);
    if (!attempt || attempt.body !== text) attempt = { body: text, key: newIdempotencyKey() };

    say(banner, '');
    busy(true, 'Adding…');
    const res = await addUser(body, attempt.key);
    busy(false);

    if (res.status === 202 && res.data?.id != null) {
      attempt = null;
      form.reset();
      touched.clear();
      for (const field of Object.keys(inputs)) { check(field); showField(field, null); }
      inputs.name.focus();
      onAccepted(res.data.id);
      return;
    }
    // Only an answer that may change on a retry keeps the key: a refusal will not.
    if (res.status !== 0 && res.status !== 429 && res.status < 500) attempt = null;
    const field = res.data?.field || (res.status === 409 ? 'email' : null);
    const message = sentence(res.data?.message);
    if ((res.status === 422 || res.status === 409) && field in inputs) {
      showField(field, message || (res.status === 409 ? 'This email address is already stored.' : 'This value is not accepted.'));
      inputs[field].focus();
      return;
    }
    if (res.status === 429) return wait(res.retryAfter, 'Too many new users from your address in a short time.', 'rate-limited');
    if (res.status === 503 && res.data?.error === 'outcome_unknown') {
      return wait(res.retryAfter, 'The queue took your entry but did not confirm it, so it may have been saved. Adding it again is safe: it will not be added twice.', 'unconfirmed');
    }
    if (res.status === 503 && res.data?.error === 'not_replicated') {
      return wait(res.retryAfter, 'Your entry was queued but not yet copied to a standby server, so it might not last. Adding it again is safe: it will not be added twice.', 'unconfirmed');
    }
    if (res.status === 503) return wait(res.retryAfter, 'The queue cannot be reached right now, so nothing was saved.', 'unavailable');
    if (res.status === 0) {
      return fail(`The server cannot be reached (${res.error}). Your entry is kept: adding it again is safe.`, 'network');
    }
    const known = { 400: 'The server could not read the request', 413: 'The request is too large', 415: 'The request was not sent as JSON', 422: 'The request was refused' };
    fail(`${known[res.status] || `The server answered ${res.status}`}${message ? `: ${message}` : '.'}`, `http-${res.status}`);
  }

  function fail(text, kind) {
    banner.dataset.kind = kind;
    say(banner, text);
  }

  // Shows the message and keeps the button off until Retry-After has passed.
  function wait(seconds, text, kind) {
    let left = Math.max(1, seconds ?? 1);
    fail(`${text} Try again in ${left} s.`, kind);
    clearInterval(waitTimer);
    busy(true, `Wait ${left} s`);
    waitTimer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        submit.textContent = `Wait ${left} s`;
        return;
      }
      clearInterval(waitTimer);
      busy(false);
      fail(`${text} You can try again now.`, kind);
    }, 1000);
  }

  function busy(on, label) {
    submit.disabled = on;
    form.setAttribute('aria-busy', on ? 'true' : 'false');
    submit.textContent = on ? label : 'Add user';
  }
}

/** The server's messages start in lower case; shown alone they read as sentences. */
function sentence(text) {
  if (!text) return '';
  const t = text.trim();
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}
