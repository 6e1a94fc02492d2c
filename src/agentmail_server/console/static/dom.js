// Building the DOM without HTML strings: text always goes in as text nodes (Trusted Types would
// refuse anything else anyway; see console/__init__.py).

const SAFE_URL = /^(#|\/(?!\/))/; // in-app links and same-origin paths only

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else {
      if ((name === 'href' || name === 'src') && !SAFE_URL.test(String(value))) {
        throw new Error(`refusing ${name}=${value}`);
      }
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function formatTime(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function formatSize(bytes) {
  if (bytes === undefined || bytes === null) return '';
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

export function errorText(error) {
  if (error && error.status) {
    const body = error.body || {};
    const detail = Array.isArray(body.errors) && body.errors.length
      ? ` (${body.errors.map((e) => e.message).join('; ')})` : '';
    return `${error.status} ${body.name || ''}: ${error.message}${detail}`.replace(' :', ':');
  }
  return String((error && error.message) || error);
}

export function notice(text, kind = 'error') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

// A table: columns are [heading, row => cell content]; `onRow` makes rows clickable.
export function table(columns, rows, { onRow, rowClass, emptyText = 'Nothing here yet.' } = {}) {
  if (!rows.length) return h('p', { class: 'empty' }, emptyText);
  const body = h('tbody');
  for (const row of rows) {
    const tr = h('tr', { class: rowClass ? rowClass(row) : undefined });
    for (const [, cell] of columns) append(tr, h('td', null, cell(row)));
    if (onRow) {
      tr.classList.add('clickable');
      tr.tabIndex = 0;
      tr.addEventListener('click', () => onRow(row, tr));
      tr.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') onRow(row, tr);
      });
    }
    body.append(tr);
  }
  return h('table', null, h('thead', null, h('tr', null, columns.map(([title]) => h('th', null, title)))), body);
}

// A paged list: everything loaded so far is rendered by `render(items)`, with a "Load more" button.
export function pager(load, render) {
  const container = h('div', { class: 'pager' });
  const more = h('button', { type: 'button', class: 'secondary more', hidden: true }, 'Load more');
  const items = [];
  let next = null;
  async function fetchPage() {
    more.disabled = true;
    try {
      const result = await load(next);
      items.push(...result.items);
      next = result.next;
      replace(container, render(items));
    } catch (error) {
      container.append(notice(errorText(error)));
      next = null;
    }
    more.hidden = !next;
    more.disabled = false;
  }
  more.addEventListener('click', fetchPage);
  return { el: h('div', null, container, more), ready: fetchPage(), items };
}
