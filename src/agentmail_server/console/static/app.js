// The console: sign-in, the header, and a hash router over the views.

import { ApiError, api, clearKey, getKey, setKey } from './api.js';
import { errorText, h, notice, replace } from './dom.js';
import { connect, disconnect, eventsView, leaveEvents } from './events.js';
import { inboxView, podView, podsView, threadView } from './mail.js';
import { keysView } from './keys.js';
import { webhookView, webhooksView } from './webhooks.js';

const main = document.getElementById('main');
let me = null;

function home() {
  if (!me) return '#/pods';
  if (me.scope_type === 'inbox') return `#/inboxes/${encodeURIComponent(me.inbox_id)}`;
  if (me.scope_type === 'pod') return `#/pods/${encodeURIComponent(me.pod_id)}`;
  return '#/pods';
}

const ROUTES = [
  [/^#\/pods$/, 'mail', (root) => podsView(root)],
  [/^#\/pods\/([^/]+)$/, 'mail', (root, pod) => podView(root, pod, me)],
  [/^#\/inboxes\/([^/]+)$/, 'mail', (root, inbox) => inboxView(root, inbox, me)],
  [/^#\/inboxes\/([^/]+)\/threads\/([^/]+)$/, 'mail', (root, inbox, thread) => threadView(root, inbox, thread, me)],
  [/^#\/keys$/, 'keys', (root) => keysView(root)],
  [/^#\/webhooks$/, 'webhooks', (root) => webhooksView(root)],
  [/^#\/webhooks\/([^/]+)$/, 'webhooks', (root, id) => webhookView(root, id)],
  [/^#\/events$/, 'events', (root) => eventsView(root)],
];

async function route() {
  if (!me) return;
  leaveEvents();
  const hash = location.hash || '#/';
  if (hash === '#/' || hash === '#') {
    location.replace(home());
    return;
  }
  const match = ROUTES.map(([pattern, tab, view]) => [hash.match(pattern), tab, view]).find(([m]) => m);
  const root = h('section', { class: 'view', 'aria-busy': 'true' });
  replace(main, root);
  if (!match) {
    root.append(notice('Nothing here.'), h('a', { href: '#/' }, 'Go home'));
    root.removeAttribute('aria-busy');
    return;
  }
  const [found, tab, view] = match;
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.dataset.tab === tab);
  }
  try {
    await view(root, ...found.slice(1).map(decodeURIComponent));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) root.append(notice(errorText(error)));
  }
  root.removeAttribute('aria-busy');
}

function showSignedIn() {
  document.getElementById('nav').hidden = false;
  document.getElementById('whoami').hidden = false;
  const scope = me.scope_type === 'organization' ? `organization ${me.organization_id}`
    : `${me.scope_type} ${me.scope_id}`;
  const identity = document.getElementById('identity');
  identity.textContent = scope;
  identity.title = `API key ${me.api_key_id || '(root)'} · organization ${me.organization_id}`;
}

function showSignIn(message) {
  document.getElementById('nav').hidden = true;
  document.getElementById('whoami').hidden = true;
  const key = h('input', {
    type: 'password', name: 'api_key', id: 'api-key', autocomplete: 'off', spellcheck: 'false', required: true,
    placeholder: 'am_…',
  });
  const result = h('div', { 'aria-live': 'polite' }, message ? notice(message) : null);
  const form = h('form', { class: 'card form signin', id: 'sign-in' },
    h('h1', null, 'Sign in'),
    h('p', { class: 'muted' }, 'Use an API key of this server. It is kept in this tab only (session storage) and sent '
      + 'to this server alone.'),
    h('label', null, 'API key', key),
    h('button', { type: 'submit' }, 'Sign in'),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      await signIn(key.value.trim());
      await route();
    } catch (error) {
      replace(result, notice(error instanceof ApiError && error.status === 401
        ? 'That API key was not accepted.' : errorText(error)));
    }
  });
  replace(main, h('section', { class: 'view' }, form));
  key.focus();
}

async function signIn(key) {
  setKey(key);
  try {
    me = await api('/v0/auth/me');
  } catch (error) {
    clearKey();
    me = null;
    throw error;
  }
  showSignedIn();
  connect();
}

function signOut(message) {
  me = null;
  clearKey();
  disconnect();
  history.replaceState(null, '', location.pathname);
  showSignIn(message);
}

document.getElementById('sign-out').addEventListener('click', () => signOut());
window.addEventListener('console:unauthorized', () => {
  if (me) signOut('Signed out: the API key is no longer accepted.');
});
window.addEventListener('hashchange', route);

async function start() {
  const key = getKey();
  if (!key) {
    showSignIn();
    return;
  }
  try {
    await signIn(key);
    await route();
  } catch (error) {
    showSignIn(error instanceof ApiError && error.status === 401 ? null : errorText(error));
  }
}

start();
