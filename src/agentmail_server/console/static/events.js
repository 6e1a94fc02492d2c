// Live events over the WebSocket at /v0: subscribe to everything the key may see, list what arrives.

import { eventsUrl } from './api.js';
import { formatTime, h, replace } from './dom.js';
import { crumbs } from './mail.js';

const MAX_FRAMES = 200;
const state = { socket: null, status: 'not connected', frames: [], unseen: 0, listeners: new Set(), watching: false };

function changed() {
  const badge = document.getElementById('event-badge');
  if (badge) {
    badge.textContent = String(state.unseen);
    badge.hidden = state.unseen === 0;
  }
  for (const listener of state.listeners) listener();
}

function setStatus(status) {
  state.status = status;
  changed();
}

export function connect() {
  if (state.socket && state.socket.readyState <= WebSocket.OPEN) return;
  setStatus('connecting');
  const socket = new WebSocket(eventsUrl());
  state.socket = socket;
  socket.addEventListener('open', () => {
    setStatus('connected');
    socket.send(JSON.stringify({ type: 'subscribe' }));
  });
  socket.addEventListener('message', (message) => {
    if (socket !== state.socket) return;
    let frame;
    try {
      frame = JSON.parse(message.data);
    } catch {
      return;
    }
    if (frame.type === 'subscribed') {
      setStatus(`subscribed to ${(frame.event_types || []).length} event types`);
      return;
    }
    state.frames.unshift({ at: new Date(), frame });
    state.frames.length = Math.min(state.frames.length, MAX_FRAMES);
    if (!state.watching) state.unseen += 1;
    changed();
  });
  socket.addEventListener('close', (event) => {
    if (socket !== state.socket) return;
    state.socket = null;
    setStatus(`closed${event.code ? ` (${event.code}${event.reason ? `: ${event.reason}` : ''})` : ''}`);
  });
}

export function disconnect() {
  const socket = state.socket;
  state.socket = null;
  state.frames = [];
  state.unseen = 0;
  if (socket) socket.close(1000, 'signed out');
  setStatus('not connected');
}

export function summarize(frame) {
  if (frame.type === 'error') return `${frame.name || 'Error'}: ${frame.message || ''}`;
  const message = frame.message;
  if (message && typeof message === 'object') {
    return `${message.from || '?'} → ${message.inbox_id || (message.to || []).join(', ')}: `
      + `${message.subject || '(no subject)'}`;
  }
  for (const [key, value] of Object.entries(frame)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const id = value.message_id || value.domain_id || value.event_id || value.inbox_id || '';
      return `${key} ${id}`.trim();
    }
  }
  return typeof frame.message === 'string' ? frame.message : '';
}

// The router calls this on every navigation; the badge counts events that arrive while elsewhere.
export function leaveEvents() {
  state.watching = false;
}

export function eventsView(root) {
  state.watching = true;
  state.unseen = 0;
  connect();
  const status = h('span', { class: 'status', id: 'events-status' });
  const reconnect = h('button', { type: 'button', class: 'secondary', onclick: connect }, 'Reconnect');
  const clear = h('button', { type: 'button', class: 'secondary', onclick: () => { state.frames = []; changed(); } },
    'Clear');
  const body = h('tbody');
  const tableEl = h('table', { class: 'events', id: 'events-table' },
    h('thead', null, h('tr', null, h('th', null, 'Received'), h('th', null, 'Type'), h('th', null, 'Summary'))), body);
  const empty = h('p', { class: 'empty' }, 'Waiting for events… (new mail, sends, deliveries and bounces show up here)');
  const render = () => {
    if (!root.isConnected) {
      state.listeners.delete(render);
      return;
    }
    state.unseen = 0;
    status.textContent = state.status;
    reconnect.hidden = Boolean(state.socket);
    empty.hidden = state.frames.length > 0;
    tableEl.hidden = state.frames.length === 0;
    replace(body, state.frames.map(({ at, frame }) => {
      const detail = h('pre', { class: 'json', hidden: true }, JSON.stringify(frame, null, 2));
      const row = h('tr', { class: 'event clickable', tabindex: 0, dataset: { eventType: frame.event_type || frame.type } },
        h('td', null, formatTime(at)),
        h('td', null, h('code', null, frame.event_type || frame.type || '?')),
        h('td', null, h('span', { class: 'summary' }, summarize(frame)), detail));
      row.addEventListener('click', () => { detail.hidden = !detail.hidden; });
      return row;
    }));
  };
  state.listeners.add(render);
  root.append(crumbs(['Live events']), h('h1', null, 'Live events'),
    h('div', { class: 'row' }, h('span', null, 'WebSocket: ', status), reconnect, clear), empty, tableEl);
  render();
}
