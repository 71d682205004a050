// The registry's page: wires the live status, the add form, the look-up and the
// recent users together, and opens /users/ID and #/users/ID addresses.

import { byId, say } from './dom.js';
import { parseId } from './validate.js';
import { UserWatch } from './watch.js';
import { startStats } from './stats.js';
import { startRecent } from './recent.js';
import { startAddForm } from './add.js';

const stats = startStats({ onUsersChanged: () => recent.refreshIfFirstPage() });
const recent = startRecent();

const added = new UserWatch(byId('add-result'), {
  steps: true,
  consumers: stats.consumers,
  onSettled: () => { stats.refreshNow(); recent.refreshIfFirstPage(); },
});
const looked = new UserWatch(byId('lookup-result'), { consumers: stats.consumers });

startAddForm({
  onAccepted: (id) => {
    added.start(id, { id, status: 'queued' });
    stats.refreshNow();
  },
});

// --- looking users up, and the addresses that open them ---------------------

const lookupForm = byId('lookup-form');
const lookupInput = byId('lookup-id');
const lookupError = byId('lookup-error');

function idInAddress() {
  const m = location.pathname.match(/^\/users\/([^/]*)\/?$/) || location.hash.match(/^#\/?users\/([^/]*)\/?$/);
  if (!m) return null;
  try { return decodeURIComponent(m[1]); } catch { return m[1]; }
}

function lookUp(raw, { focus = false } = {}) {
  lookupInput.value = raw;
  const id = parseId(raw);
  lookupInput.setAttribute('aria-invalid', id ? 'false' : 'true');
  if (!id) {
    looked.stop();
    byId('lookup-result').replaceChildren();
    say(lookupError, raw.trim() === ''
      ? 'Enter a user id.'
      : `“${raw.trim()}” is not a user id: ids are positive whole numbers, like 1234.`);
    if (focus) lookupInput.focus();
    return;
  }
  say(lookupError, '');
  document.title = `User ${id} · User registry`;
  looked.start(id);
  if (focus) byId('lookup-result').querySelector('h3')?.focus();
}

/** Shows a user and gives it its own address in the history. */
function openUser(id) {
  const path = `/users/${id}`;
  if (location.pathname + location.hash !== path) history.pushState({ id }, '', path);
  lookUp(String(id), { focus: true });
  byId('lookup').scrollIntoView({ block: 'start', behavior: 'smooth' });
}

function followAddress({ initial = false } = {}) {
  const raw = idInAddress();
  if (raw == null) {
    if (!initial) { looked.stop(); byId('lookup-result').replaceChildren(); lookupInput.value = ''; say(lookupError, ''); }
    document.title = 'User registry';
    return;
  }
  lookUp(raw, { focus: true });
  byId('lookup').scrollIntoView({ block: 'start' });
}

lookupForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const id = parseId(lookupInput.value);
  if (id) openUser(id);
  else lookUp(lookupInput.value, { focus: true });
});
lookupInput.addEventListener('input', () => {
  if (lookupInput.getAttribute('aria-invalid') === 'true' && parseId(lookupInput.value)) {
    lookupInput.setAttribute('aria-invalid', 'false');
    say(lookupError, '');
  }
});

// Links to users open in place instead of reloading the page.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[data-user-link]');
  if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  openUser(link.dataset.userLink);
});
window.addEventListener('popstate', () => followAddress());
window.addEventListener('hashchange', () => followAddress());
followAddress({ initial: true });
