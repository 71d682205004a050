// The list of the newest stored users, paged with the API's `before` cursor.

import { listUsers } from './api.js';
import { h, byId, ago, formatDate, hue, initials } from './dom.js';

const PAGE_SIZE = 10;

/** Wires the recent users card; returns { refresh, refreshIfFirstPage }. */
export function startRecent() {
  const list = byId('recent-list');
  const state = byId('recent-state');
  const newer = byId('recent-newer');
  const older = byId('recent-older');
  const pageLabel = byId('recent-page');
  const pager = pageLabel.closest('nav');
  const cursors = [null]; // the `before` of each page seen, page 1 first
  let page = 0;
  let next = null;
  let loading = false;
  let asked = 0;

  async function load() {
    const mine = ++asked;
    loading = true;
    list.setAttribute('aria-busy', 'true');
    const res = await listUsers(PAGE_SIZE, cursors[page]);
    if (mine !== asked) return; // a newer load (another page) took over
    loading = false;
    list.removeAttribute('aria-busy');
    if (res.status !== 200 || !res.data) {
      state.textContent = res.status === 0
        ? 'The list cannot be loaded: the API is unreachable.'
        : `The list cannot be loaded (${res.status}${res.data?.message ? `: ${res.data.message}` : ''}).`;
      state.hidden = false;
      return;
    }
    const users = res.data.users || [];
    next = res.data.next ?? null;
    list.replaceChildren(...users.map(row));
    state.textContent = users.length ? '' : page === 0 ? 'No user stored yet.' : 'No older users.';
    state.hidden = users.length > 0;
    newer.disabled = page === 0;
    older.disabled = next == null;
    pageLabel.textContent = `Page ${page + 1}`;
    pager.hidden = page === 0 && next == null; // one page only: nothing to page through
  }

  newer.addEventListener('click', () => { if (page > 0) { page -= 1; load(); } });
  older.addEventListener('click', () => {
    if (next == null) return;
    cursors[page + 1] = next;
    page += 1;
    load();
  });
  byId('recent-refresh').addEventListener('click', load);

  load();
  return {
    refresh: load,
    refreshIfFirstPage: () => { if (page === 0 && !loading) load(); },
  };
}

function row(u) {
  return h('li', {},
    h('a', { class: 'user-row', href: `/users/${u.id}`, dataset: { userLink: u.id } },
      h('span', { class: `avatar avatar-c${hue(u.id)}`, 'aria-hidden': 'true' }, initials(u.name)),
      h('span', { class: 'who' },
        h('span', { class: 'who-name' }, u.name),
        h('span', { class: 'who-email' }, u.email || 'no email')),
      h('span', { class: 'meta' },
        h('span', { class: 'meta-id' }, `#${u.id}`),
        u.created_at && h('time', { datetime: String(u.created_at), title: formatDate(u.created_at) }, ago(u.created_at)))));
}
