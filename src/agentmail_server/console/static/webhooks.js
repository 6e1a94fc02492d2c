// Webhooks: the list, one webhook's deliveries and each delivery's attempts (read-only).

import { api, page, seg } from './api.js';
import { errorText, formatTime, h, notice, pager, replace, table } from './dom.js';
import { crumbs } from './mail.js';

const chip = (text, kind) => h('span', { class: `chip ${kind || ''}` }, text);

function scopeOf(webhook) {
  if (webhook.inbox_id) return `inbox ${webhook.inbox_id}`;
  if (webhook.pod_id) return `pod ${webhook.pod_id}`;
  return 'organization';
}

export async function webhooksView(root) {
  root.append(crumbs(['Webhooks']), h('h1', null, 'Webhooks'));
  const hooks = pager(
    (token) => page('/v0/webhooks', 'webhooks', { pageToken: token }),
    (items) => table([
      ['URL', (w) => h('code', null, w.url)],
      ['Events', (w) => (w.event_types || []).join(', ')],
      ['Scope', scopeOf],
      ['State', (w) => (w.enabled ? chip('enabled', 'ok') : chip('disabled', 'bad'))],
      ['Created', (w) => formatTime(w.created_at)],
    ], items, { onRow: (w) => { location.hash = `#/webhooks/${seg(w.webhook_id)}`; }, emptyText: 'No webhooks.' }),
  );
  root.append(hooks.el);
  await hooks.ready;
}

// The receiver's status code, and the error when it says more than that (a connection failure, a redirect).
function answer(statusCode, errorText) {
  const parts = [];
  if (statusCode) parts.push(chip(`HTTP ${statusCode}`, statusCode < 300 ? 'ok' : 'bad'));
  if (errorText && errorText !== `HTTP ${statusCode}`) parts.push(h('span', { class: 'error-text' }, errorText));
  return parts.length ? parts : '';
}

const STATUS_KIND = { succeeded: 'ok', failed: 'bad', pending: 'warn', cancelled: '' };

export async function webhookView(root, webhookId) {
  const base = `/v0/webhooks/${seg(webhookId)}`;
  const webhook = await api(base);
  const meta = h('dl', { class: 'meta card' });
  for (const [name, value] of [
    ['Webhook ID', h('code', null, webhook.webhook_id)], ['URL', h('code', null, webhook.url)],
    ['Events', (webhook.event_types || []).join(', ')], ['Scope', scopeOf(webhook)],
    ['Filters', [...(webhook.pod_ids || []), ...(webhook.inbox_ids || [])].join(', ') || 'none'],
    ['State', webhook.enabled ? chip('enabled', 'ok') : chip('disabled', 'bad')],
    ['Created', formatTime(webhook.created_at)],
  ]) meta.append(h('dt', null, name), h('dd', null, value));
  const holder = h('div');
  const columns = [
    ['Created', (d) => formatTime(d.created_at)],
    ['Event', (d) => h('span', null, d.event_type, h('br'), h('code', { class: 'muted' }, d.event_id))],
    ['Status', (d) => chip(d.status, STATUS_KIND[d.status])],
    ['Attempts', (d) => String(d.attempts)],
    ['Last answer', (d) => answer(d.last_status_code, d.last_error)],
    ['Next attempt', (d) => formatTime(d.next_attempt_at)],
  ];
  const reload = async () => {
    const deliveries = pager(
      (token) => page(`${base}/deliveries`, 'deliveries', { pageToken: token }),
      (items) => table(columns, items, {
        onRow: (d, tr) => toggleAttempts(base, d, tr, columns.length),
        rowClass: () => 'delivery',
        emptyText: 'No deliveries yet.',
      }),
    );
    replace(holder, deliveries.el);
    await deliveries.ready;
  };
  root.append(
    crumbs(['Webhooks', '#/webhooks'], [webhook.url]),
    h('h1', null, 'Webhook ', h('small', null, webhook.url)),
    meta,
    h('div', { class: 'row' }, h('h2', null, 'Deliveries'),
      h('button', { type: 'button', class: 'secondary', onclick: reload }, 'Refresh')),
    h('p', { class: 'muted' }, 'Newest first. Select a delivery to see its attempts.'),
    holder,
  );
  await reload();
}

async function toggleAttempts(base, delivery, tr, width) {
  const open = tr.nextElementSibling;
  if (open && open.classList.contains('attempts-row')) {
    open.remove();
    tr.setAttribute('aria-expanded', 'false');
    return;
  }
  const cell = h('td', { colspan: width }, h('p', { class: 'muted' }, 'Loading attempts…'));
  tr.after(h('tr', { class: 'attempts-row', dataset: { deliveryId: delivery.delivery_id } }, cell));
  tr.setAttribute('aria-expanded', 'true');
  try {
    const { items } = await page(`${base}/deliveries/${seg(delivery.delivery_id)}/attempts`, 'attempts',
      { limit: 100, ascending: true });
    replace(cell, h('h3', null, `Attempts of delivery ${delivery.delivery_id}`), table([
      ['#', (a) => String(items.indexOf(a) + 1)],
      ['Attempted', (a) => formatTime(a.attempted_at)],
      ['Answer', (a) => answer(a.status_code, a.error)],
      ['Duration', (a) => `${a.duration_ms} ms`],
      ['Response', (a) => (a.response_body ? h('code', null, a.response_body) : '')],
    ], items, { rowClass: () => 'attempt', emptyText: 'No attempt yet.' }));
  } catch (error) {
    replace(cell, notice(errorText(error)));
  }
}
