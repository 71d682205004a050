// Shows one user and, while it is still in the queue, follows it until it is
// stored, rejected or failed. Polls back off from 250 ms to 2 s and stop once settled.

import { getUser } from './api.js';
import { h, formatDate } from './dom.js';

const STATUS = { queued: 'Queued', pending: 'Pending', stored: 'Stored', rejected: 'Rejected', failed: 'Failed' };
/** Statuses after which nothing changes without an operator. */
const SETTLED = new Set(['stored', 'rejected', 'failed']);
const SOURCE = {
  queue: ['queue', 'Still waiting in the Redis queue for a consumer'],
  database: ['database', 'Read from MySQL (which fills the cache)'],
  cache: ['cache', 'Read from the Redis cache'],
};
const SLOW_MS = 8000;

/** A status badge: queued, pending, stored, rejected or failed. */
export function statusBadge(status) {
  return h('span', { class: `badge status status-${status}`, dataset: { status } },
    h('span', { class: 'sr-only' }, 'Status: '), STATUS[status] || status);
}

/** A badge naming where the answer came from: queue, database or cache. */
export function sourceBadge(source) {
  const [label, title] = SOURCE[source] || [source, ''];
  return h('span', { class: `badge source source-${source}`, title, dataset: { source } },
    h('span', { class: 'badge-prefix' }, 'from '), label);
}

/** Follows users in one container of the page. */
export class UserWatch {
  /** `steps` draws the accepted → queue → stored progress of a new user. */
  constructor(container, { steps = false, onSettled = () => {}, consumers = () => null } = {}) {
    Object.assign(this, { container, steps, onSettled, consumers });
    this.run = null;
  }

  /** Shows user `id` and follows it; `initial` is what is already known of it. */
  start(id, initial = null, settledAfter = null) {
    this.stop();
    const run = { id, user: initial, problem: null, started: performance.now(), delay: 250, timer: 0, settledAfter };
    this.run = run;
    this.render(run, true);
    this.poll(run);
  }

  stop() {
    if (this.run) clearTimeout(this.run.timer);
    this.run = null;
  }

  async poll(run) {
    const res = await getUser(run.id);
    if (this.run !== run) return;
    const settled = this.take(run, res);
    this.render(run);
    if (settled) {
      this.onSettled(run.user);
      return;
    }
    run.delay = Math.min(run.delay * 1.5, 2000);
    run.timer = setTimeout(() => this.poll(run), run.delay);
  }

  /** Records an answer; returns true when there is nothing more to wait for. */
  take(run, res) {
    const following = this.steps;
    if (res.status === 200 && res.data) {
      run.user = res.data;
      run.problem = null;
      const done = SETTLED.has(res.data.status);
      if (done && run.settledAfter == null) run.settledAfter = performance.now() - run.started;
      return done;
    }
    if (res.status === 400) run.problem = `“${run.id}” is not a user id: ids are positive whole numbers.`;
    else if (res.status === 404) run.problem = following ? 'Not visible yet; asking again…' : `No user has the id ${run.id}.`;
    else if (res.status === 503) run.problem = 'Neither Redis nor MySQL can answer right now; asking again…';
    else if (res.status === 0) run.problem = 'The server cannot be reached; asking again…';
    else run.problem = `The server answered ${res.status}; asking again…`;
    // An unknown or malformed id is final when looking up; anything else may pass.
    return !following && (res.status === 400 || res.status === 404);
  }

  /** Reads the user once more, e.g. to see the cache answer after the database. */
  reload() {
    if (this.run) this.start(this.run.id, this.run.user, this.run.settledAfter);
  }

  render(run, force = false) {
    const slow = run.user?.status === 'pending' && performance.now() - run.started > SLOW_MS;
    const key = JSON.stringify([run.user?.status, run.user?.source, run.problem, slow, run.user?.reason]);
    if (!force && key === run.key) return;
    run.key = key;
    const focused = this.container.contains(document.activeElement) ? document.activeElement.dataset.role : null;
    this.container.replaceChildren(this.view(run, slow));
    if (focused) this.container.querySelector(`[data-role="${focused}"]`)?.focus();
  }

  view(run, slow) {
    const u = run.user;
    const known = u && u.status !== 'queued';
    const title = this.steps ? `User ${run.id} accepted` : `User ${run.id}`;
    return h('article', { class: `user-view${u ? ` is-${u.status}` : ''}`, dataset: { id: run.id } },
      h('header', { class: 'user-view-head' },
        h('h3', { tabindex: '-1', dataset: { role: 'title' } }, title),
        h('div', { class: 'badges' }, u && statusBadge(u.status), known && u.source && sourceBadge(u.source))),
      this.steps && steps(u?.status),
      u && u.status !== 'queued' && fields(u),
      u?.status === 'rejected' && h('p', { class: 'reason' }, h('strong', {}, 'Refused: '), u.reason || 'no reason given'),
      u?.status === 'failed' && h('p', { class: 'reason' }, h('strong', {}, 'Could not be stored: '), u.reason || 'no reason given',
        '. It waits in the dead-letter list until an operator requeues it.'),
      run.settledAfter != null && this.steps && u?.status === 'stored' &&
        h('p', { class: 'muted small' }, `Seen stored ${(run.settledAfter / 1000).toFixed(1)} s after it was accepted.`),
      slow && h('p', { class: 'note' }, slowHint(this.consumers())),
      run.problem && h('p', { class: 'note note-problem' }, run.problem),
      (u || !run.problem) && actions(run.id, u, () => this.reload()));
  }
}

function steps(status) {
  const settled = SETTLED.has(status);
  const refused = status === 'rejected' || status === 'failed';
  const now = settled ? 4 : status ? 2 : 1; // the step under way; 4: all done
  const step = (n, label) => h('li', {
    class: n < now ? `done${n === 3 && refused ? ' failed' : ''}` : n === now ? 'current' : '',
    'aria-current': n === now ? 'step' : null,
  }, label);
  return h('ol', { class: 'steps', 'aria-label': 'Progress' },
    step(1, 'Accepted'), step(2, 'In the queue'), step(3, refused ? STATUS[status] : 'Stored'));
}

function fields(u) {
  const row = (label, value, cls) => h('div', { class: cls }, h('dt', {}, label), h('dd', {}, value));
  return h('dl', { class: 'user-fields' },
    u.name != null && row('Name', u.name, 'f-name'),
    u.name != null && row('Email', u.email || '—', 'f-email'),
    u.created_at && row('Created', formatDate(u.created_at), 'f-created'));
}

function slowHint(consumers) {
  if (consumers === 0) return 'Still in the queue: no consumer is running. It will be stored as soon as one starts.';
  return 'Still in the queue; it will be stored as soon as a consumer takes it.';
}

function actions(id, user, reload) {
  const path = `/users/${id}`;
  const url = `${location.origin}${path}`;
  const copy = navigator.clipboard && window.isSecureContext
    ? h('button', { type: 'button', class: 'button ghost small', dataset: { role: 'copy' }, onclick: async (e) => {
      await navigator.clipboard.writeText(url).catch(() => {});
      e.target.textContent = 'Link copied';
    } }, 'Copy link')
    : null;
  return h('div', { class: 'user-actions' },
    user && user.status !== 'queued' && h('button', { type: 'button', class: 'button small', dataset: { role: 'reload' }, onclick: reload }, 'Read again'),
    h('a', { href: path, class: 'user-link', dataset: { role: 'link', userLink: id } }, path),
    copy);
}
