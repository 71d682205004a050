// The live status panel: GET /api/stats every few seconds, and a clear state
// when the API cannot be reached or cannot reach Redis and MySQL.

import { getStats } from './api.js';
import { h, byId, say, formatClock, hue } from './dom.js';

const EVERY_MS = 3000;
const TRAIL = 12;

/** Starts polling; `onUsersChanged(count)` runs when the stored count moves. */
export function startStats({ onUsersChanged = () => {} } = {}) {
  const panel = byId('stats');
  const connection = byId('connection');
  const connectionText = byId('connection-text');
  const updated = byId('stats-updated');
  const error = byId('stats-error');
  const trail = byId('host-trail');
  const hosts = [];
  let last = null;
  let timer = 0;
  let asked = 0;

  function setState(state, text) {
    panel.dataset.state = state;
    if (connection.dataset.state !== state || connectionText.textContent !== text) {
      connection.dataset.state = state;
      connectionText.textContent = text;
    }
  }

  function show(stats) {
    const q = stats.queue || {};
    number('stat-users', stats.users);
    number('stat-pending', q.pending);
    number('stat-processing', q.processing);
    number('stat-dead', q.dead);
    number('stat-consumers', stats.consumers);
    byId('stat-host').textContent = stats.host || '–';
    hosts.push(stats.host || '?');
    if (hosts.length > TRAIL) hosts.shift();
    trail.replaceChildren(...hosts.map((host, i) =>
      h('li', { class: `host-chip host-c${hue(host)}${i === hosts.length - 1 ? ' is-current' : ''}`, title: host }, host)));
    const latest = stats.latest;
    byId('stat-latest').replaceChildren(...(latest ? [
      'Latest stored: ',
      h('a', { href: `/users/${latest.id}`, dataset: { userLink: latest.id } }, latest.name || `#${latest.id}`),
      h('span', { class: 'muted' }, ` #${latest.id}`),
    ] : ['No user stored yet.']));
    updated.textContent = `updated ${formatClock(new Date())}`;
    say(error, '');
  }

  async function tick() {
    clearTimeout(timer);
    const mine = ++asked;
    if (document.hidden) return; // resumed by visibilitychange: a background tab asks nothing
    const res = await getStats();
    if (mine !== asked) return; // a newer request took over (refreshNow): one polling chain only
    if (res.status === 200 && res.data) {
      const dead = res.data.queue?.dead ?? 0;
      setState(dead > 0 ? 'warning' : 'live', dead > 0 ? `Live · ${dead} dead letter${dead === 1 ? '' : 's'}` : 'Live');
      const changed = last && last.users !== res.data.users;
      show(res.data);
      last = res.data;
      if (changed) onUsersChanged(res.data.users);
    } else {
      const unreachable = res.status === 0;
      setState(unreachable ? 'offline' : 'degraded', unreachable ? 'API unreachable' : 'Degraded: storage unreachable');
      if (!last) updated.textContent = 'no answer yet';
      const since = last ? ` The numbers below are from ${updated.textContent.replace('updated ', '')}.` : '';
      say(error, unreachable
        ? `The API cannot be reached (${res.error || 'no answer'}). Retrying every ${EVERY_MS / 1000} s.${since}`
        : `The API answered ${res.status}: ${res.data?.message || 'Redis or MySQL cannot be reached'}. Retrying every ${EVERY_MS / 1000} s.${since}`);
    }
    timer = setTimeout(tick, EVERY_MS);
  }

  document.addEventListener('visibilitychange', () => { if (!document.hidden) tick(); });
  tick();
  return {
    refreshNow: tick,
    /** The number of live consumers at the last answer, or null. */
    consumers: () => (panel.dataset.state === 'live' || panel.dataset.state === 'warning' ? last?.consumers ?? null : null),
  };
}

function number(id, value) {
  const el = byId(id);
  const text = value == null ? '–' : Number(value).toLocaleString();
  if (el.textContent === text) return;
  const first = el.textContent === '–';
  el.textContent = text;
  el.dataset.value = value ?? '';
  if (!first) {
    el.classList.remove('changed');
    void el.offsetWidth; // restart the highlight animation
    el.classList.add('changed');
  }
}
