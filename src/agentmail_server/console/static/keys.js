// API keys: list them, create one and show its secret once.

import { api, page, seg } from './api.js';
import { errorText, formatTime, h, notice, pager, replace, table } from './dom.js';
import { crumbs } from './mail.js';

function scopeOf(key) {
  if (key.inbox_id) return `inbox ${key.inbox_id}`;
  if (key.pod_id) return `pod ${key.pod_id}`;
  return 'organization';
}

export async function keysView(root) {
  root.append(crumbs(['API keys']), h('h1', null, 'API keys'));
  const holder = h('div');
  const reload = async () => {
    const keys = pager(
      (token) => page('/v0/api-keys', 'api_keys', { pageToken: token }),
      (items) => table([
        ['Name', (k) => k.name],
        ['Prefix', (k) => h('code', null, k.prefix)],
        ['Scope', scopeOf],
        ['Created', (k) => formatTime(k.created_at)],
        ['Last used', (k) => formatTime(k.used_at) || 'never'],
        ['Expires', (k) => formatTime(k.expires_at) || ''],
      ], items, { emptyText: 'No API keys.' }),
    );
    replace(holder, keys.el);
    await keys.ready;
  };
  root.append(holder, createKeyForm(reload));
  await reload();
}

function createKeyForm(reload) {
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const name = h('input', { name: 'name', placeholder: 'my agent', autocomplete: 'off', required: true });
  const podId = h('input', { name: 'pod_id', placeholder: 'optional', autocomplete: 'off' });
  const inboxId = h('input', { name: 'inbox_id', placeholder: 'optional', autocomplete: 'off' });
  const form = h('form', { class: 'card form', id: 'create-key' },
    h('h2', null, 'Create an API key'),
    h('p', { class: 'muted' }, 'Leave pod and inbox empty for a key with this key\'s own scope.'),
    h('div', { class: 'fields' },
      h('label', null, 'Name', name),
      h('label', null, 'Limit to pod', podId),
      h('label', null, 'Limit to inbox', inboxId)),
    h('button', { type: 'submit' }, 'Create key'),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let path = '/v0/api-keys';
    if (inboxId.value.trim()) path = `/v0/inboxes/${seg(inboxId.value.trim())}/api-keys`;
    else if (podId.value.trim()) path = `/v0/pods/${seg(podId.value.trim())}/api-keys`;
    try {
      const created = await api(path, { method: 'POST', body: { name: name.value.trim() } });
      form.reset();
      replace(result, secretBox(created));
      await reload();
    } catch (error) {
      replace(result, notice(errorText(error)));
    }
  });
  return form;
}

// The secret, shown this once: the server keeps only its hash.
function secretBox(created) {
  const secret = h('input', { class: 'secret', readonly: true, 'aria-label': 'New API key', id: 'new-key-secret' });
  secret.value = created.api_key;
  const copy = h('button', { type: 'button', class: 'secondary' }, 'Copy');
  const copied = h('span', { class: 'muted', 'aria-live': 'polite' });
  copy.addEventListener('click', async () => {
    secret.select();
    try {
      await navigator.clipboard.writeText(created.api_key);
      copied.textContent = 'Copied.';
    } catch {
      copied.textContent = 'Selected: copy it with Ctrl+C.';
    }
  });
  return h('div', { class: 'notice ok secret-box', role: 'status' },
    h('p', null, h('strong', null, `Key "${created.name}" created (${scopeOf(created)}).`),
      ' Copy it now: it is not shown again.'),
    h('div', { class: 'secret-row' }, secret, copy, copied));
}
