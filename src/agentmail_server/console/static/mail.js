// Mail: pods → inboxes → threads → messages, creating inboxes, downloading attachments.

import { api, page, seg } from './api.js';
import { errorText, formatSize, formatTime, h, notice, pager, replace, table } from './dom.js';
import { mailFrame } from './frame.js';

export function crumbs(...parts) {
  const nav = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumbs' });
  parts.forEach(([label, href], i) => {
    if (i) nav.append(h('span', { class: 'sep', 'aria-hidden': 'true' }, '›'));
    nav.append(href ? h('a', { href }, label) : h('span', { class: 'here' }, label));
  });
  return nav;
}

const code = (text) => h('code', null, text);
const list = (values) => (values || []).join(', ');

// --- pods -----------------------------------------------------------------------------------------

export async function podsView(root) {
  root.append(crumbs(['Pods']), h('h1', null, 'Pods'));
  const pods = pager(
    (token) => page('/v0/pods', 'pods', { pageToken: token }),
    (items) => table([
      ['Name', (p) => p.name],
      ['Pod ID', (p) => code(p.pod_id)],
      ['Client ID', (p) => p.client_id || ''],
      ['Created', (p) => formatTime(p.created_at)],
    ], items, { onRow: (p) => { location.hash = `#/pods/${seg(p.pod_id)}`; }, emptyText: 'No pods.' }),
  );
  root.append(pods.el);
  await pods.ready;
}

export async function podView(root, podId, me) {
  const pod = await api(`/v0/pods/${seg(podId)}`);
  root.append(
    crumbs(...(me.scope_type === 'organization' ? [['Pods', '#/pods']] : []), [pod.name]),
    h('h1', null, pod.name, ' ', h('small', null, pod.pod_id)),
  );
  const inboxes = pager(
    (token) => page(`/v0/pods/${seg(podId)}/inboxes`, 'inboxes', { pageToken: token }),
    (items) => table([
      ['Address', (i) => i.email],
      ['Display name', (i) => i.display_name || ''],
      ['Status', (i) => i.status || 'active'],
      ['Created', (i) => formatTime(i.created_at)],
    ], items, { onRow: (i) => { location.hash = `#/inboxes/${seg(i.inbox_id)}`; }, emptyText: 'No inboxes yet.' }),
  );
  root.append(h('h2', null, 'Inboxes'), inboxes.el, createInboxForm(podId));
  await inboxes.ready;
}

function createInboxForm(podId) {
  const result = h('div', { class: 'result', 'aria-live': 'polite' });
  const username = h('input', { name: 'username', placeholder: 'support', autocomplete: 'off' });
  const domain = h('input', { name: 'domain', placeholder: 'default domain', autocomplete: 'off' });
  const displayName = h('input', { name: 'display_name', placeholder: 'Support team', autocomplete: 'off' });
  const form = h('form', { class: 'card form', id: 'create-inbox' },
    h('h2', null, 'Create an inbox'),
    h('div', { class: 'fields' },
      h('label', null, 'Username', username),
      h('label', null, 'Domain', domain),
      h('label', null, 'Display name', displayName)),
    h('button', { type: 'submit' }, 'Create inbox'),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {};
    if (username.value.trim()) body.username = username.value.trim();
    if (domain.value.trim()) body.domain = domain.value.trim();
    if (displayName.value.trim()) body.display_name = displayName.value.trim();
    try {
      const inbox = await api(`/v0/pods/${seg(podId)}/inboxes`, { method: 'POST', body });
      replace(result, h('p', { class: 'notice ok', role: 'status' }, 'Created ',
        h('a', { href: `#/inboxes/${seg(inbox.inbox_id)}`, class: 'created-inbox' }, inbox.email), '.'));
      form.reset();
    } catch (error) {
      replace(result, notice(errorText(error)));
    }
  });
  return form;
}

// --- inboxes and threads --------------------------------------------------------------------------

// The inbox's pod, for its name in the breadcrumbs (an inbox key may not read it: then its id is shown).
async function podOf(me, inbox) {
  if (me.scope_type === 'inbox') return null;
  return api(`/v0/pods/${seg(inbox.pod_id)}`).catch(() => null);
}

function inboxCrumbs(me, inbox, pod, ...rest) {
  const parts = [];
  if (me.scope_type === 'organization') parts.push(['Pods', '#/pods']);
  if (me.scope_type !== 'inbox') parts.push([pod ? pod.name : inbox.pod_id, `#/pods/${seg(inbox.pod_id)}`]);
  parts.push([inbox.email, rest.length ? `#/inboxes/${seg(inbox.inbox_id)}` : undefined], ...rest);
  return crumbs(...parts);
}

export async function inboxView(root, inboxId, me) {
  const inbox = await api(`/v0/inboxes/${seg(inboxId)}`);
  root.append(inboxCrumbs(me, inbox, await podOf(me, inbox)), h('h1', null, inbox.display_name || inbox.email, ' ',
    inbox.display_name ? h('small', null, inbox.email) : null));
  const threads = pager(
    (token) => page(`/v0/inboxes/${seg(inboxId)}/threads`, 'threads', { pageToken: token }),
    (items) => table([
      ['From', (t) => list(t.senders)],
      ['Subject', (t) => h('span', null, h('strong', null, t.subject || '(no subject)'), ' ',
        h('span', { class: 'muted' }, t.preview || ''))],
      ['Messages', (t) => String(t.message_count)],
      ['', (t) => (t.attachments && t.attachments.length ? '📎' : '')],
      ['Last activity', (t) => formatTime(t.timestamp)],
    ], items, {
      onRow: (t) => { location.hash = `#/inboxes/${seg(inboxId)}/threads/${seg(t.thread_id)}`; },
      emptyText: 'No mail in this inbox yet.',
    }),
  );
  root.append(h('h2', null, 'Threads'), threads.el);
  await threads.ready;
}

export async function threadView(root, inboxId, threadId, me) {
  const [inbox, thread] = await Promise.all([
    api(`/v0/inboxes/${seg(inboxId)}`),
    api(`/v0/inboxes/${seg(inboxId)}/threads/${seg(threadId)}`),
  ]);
  root.append(inboxCrumbs(me, inbox, await podOf(me, inbox), [thread.subject || '(no subject)']),
    h('h1', null, thread.subject || '(no subject)'));
  const messages = h('div', { class: 'messages' }, thread.messages.map((m) => messageCard(inboxId, m)));
  const more = h('button', { type: 'button', class: 'secondary more', hidden: !thread.next_page_token },
    'Load more messages');
  let next = thread.next_page_token;
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      const rest = await api(`/v0/inboxes/${seg(inboxId)}/threads/${seg(threadId)}`, { query: { page_token: next } });
      messages.append(...rest.messages.map((m) => messageCard(inboxId, m)));
      next = rest.next_page_token;
    } catch (error) {
      messages.append(notice(errorText(error)));
      next = null;
    }
    more.hidden = !next;
    more.disabled = false;
  });
  root.append(messages, more);
}

function messageCard(inboxId, message) {
  const addresses = [['From', message.from], ['To', list(message.to)], ['Cc', list(message.cc)],
    ['Reply-To', list(message.reply_to)], ['Date', formatTime(message.timestamp)]];
  const meta = h('dl', { class: 'meta' });
  for (const [name, value] of addresses) if (value) meta.append(h('dt', null, name), h('dd', null, value));
  const labels = h('div', { class: 'labels' }, (message.labels || []).map((l) => h('span', { class: 'chip' }, l)));
  const status = h('div', { class: 'result', 'aria-live': 'polite' });
  const card = h('article', { class: 'card message', dataset: { messageId: message.message_id } },
    h('header', null, h('h2', null, message.subject || '(no subject)'), labels), meta);
  card.append(messageBody(message));
  if (message.attachments && message.attachments.length) {
    card.append(h('div', { class: 'attachments' }, h('h3', null, 'Attachments'),
      h('ul', null, message.attachments.map((a) => h('li', null,
        h('button', {
          type: 'button', class: 'secondary download', dataset: { attachmentId: a.attachment_id },
          onclick: () => download(status,
            `/v0/inboxes/${seg(inboxId)}/messages/${seg(message.message_id)}/attachments/${seg(a.attachment_id)}`,
            a.filename || 'attachment'),
        }, a.filename || 'attachment'),
        ' ', h('span', { class: 'muted' }, [a.content_type, formatSize(a.size)].filter(Boolean).join(', ')))))));
  }
  card.append(h('footer', null,
    h('button', {
      type: 'button', class: 'secondary',
      onclick: () => download(status, `/v0/inboxes/${seg(inboxId)}/messages/${seg(message.message_id)}/raw`,
        'message.eml'),
    }, 'Download .eml'),
    h('code', { class: 'muted' }, message.message_id)), status);
  return card;
}

function messageBody(message) {
  const body = h('div', { class: 'body' });
  const views = [];
  if (message.html) views.push(['HTML', () => mailFrame(message.html)]);
  if (message.text) views.push(['Text', () => h('pre', { class: 'mail-text' }, message.text)]);
  if (!views.length) return h('p', { class: 'empty' }, '(empty message)');
  const tabs = h('div', { class: 'tabs', role: 'tablist' });
  const show = (index) => {
    replace(body, views[index][1]());
    [...tabs.children].forEach((tab, i) => tab.setAttribute('aria-selected', String(i === index)));
  };
  views.forEach(([name], i) => tabs.append(h('button', { type: 'button', role: 'tab', onclick: () => show(i) }, name)));
  show(0);
  return h('div', null, views.length > 1 ? tabs : null, body);
}

// The attachment endpoints answer a signed download_url; the browser fetches it (no API key needed).
async function download(status, path, filename) {
  try {
    const { download_url: href } = await api(path);
    const url = new URL(href, location.origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('unexpected download URL');
    const link = document.createElement('a');
    link.href = url.href;
    link.download = filename;
    link.rel = 'noopener noreferrer';
    document.body.append(link);
    link.click();
    link.remove();
    replace(status);
  } catch (error) {
    replace(status, notice(errorText(error)));
  }
}
