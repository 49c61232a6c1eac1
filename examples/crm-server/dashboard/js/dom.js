// Small DOM builders shared by the pages (no framework: elements are made
// with createElement and text is always set as text, never as HTML).

/**
 * An element: `el('a', {href: 'x', class: 'y'}, 'text', child)`. Attributes
 * that are `null`, `undefined` or `false` are left out; `true` sets an empty
 * attribute; `on*` functions become listeners.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      node.addEventListener(name.slice(2), value);
    } else {
      node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/** `document.getElementById` that fails loudly when the page lacks the id. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node;
}

/**
 * A table in a keyboard-scrollable container. `columns` are
 * `{label, value: row => text or Node, numeric?, wrap?}` (`wrap`: long text
 * may break across lines).
 */
export function table(columns, rows, { caption, empty = 'Nothing to show.', rowAttrs } = {}) {
  const head = el('tr', {}, columns.map((c) => el('th', { scope: 'col', class: c.numeric ? 'num' : null }, c.label)));
  const body = rows.map((row) => tableRow(columns, row, rowAttrs));
  if (rows.length === 0) {
    body.push(el('tr', {}, el('td', { colspan: columns.length, class: 'empty' }, empty)));
  }
  const t = el('table', {}, caption ? el('caption', {}, caption) : null, el('thead', {}, head), el('tbody', {}, body));
  return scrollBox(t, caption || 'Table');
}

/** One `<tr>` of `table`'s columns. */
export function tableRow(columns, row, rowAttrs) {
  return el(
    'tr',
    rowAttrs ? rowAttrs(row) : {},
    columns.map((c) => el('td', { class: c.numeric ? 'num' : c.wrap ? 'wrap' : null }, c.value(row))),
  );
}

/** A horizontally scrollable, focusable region around a wide element. */
export function scrollBox(child, name) {
  return el('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': name }, child);
}

/** A `<dl>` of `[term, value]` pairs. */
export function facts(pairs, className = 'facts') {
  return el('dl', { class: className }, pairs.map(([term, value]) => el('div', {}, el('dt', {}, term), el('dd', {}, value))));
}

/** Shows an error (an `ApiError` or any `Error`) in a status region. */
export function showError(region, err) {
  fill(region, el('p', { class: 'error', role: 'alert' }, err?.message || String(err)));
}

/** Text for a polite status region. */
export function say(region, text) {
  region.textContent = text;
}

/**
 * Background for a heatmap cell, `t` from 0 to 1: light to mid blue, light
 * enough that dark text keeps a contrast ratio above 4.5 everywhere.
 */
export function heat(t) {
  const from = [241, 245, 249];
  const to = [96, 165, 250];
  const k = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  const c = from.map((f, i) => Math.round(f + (to[i] - f) * k));
  return `rgb(${c.join(' ')})`;
}

/** A heatmap cell shaded for `t` (0 to 1). */
export function heatCell(t, ...children) {
  const td = el('td', {}, ...children);
  td.style.backgroundColor = heat(t);
  return td;
}

/** The value of `?name=` in the page's address. */
export function param(name) {
  return new URLSearchParams(location.search).get(name);
}
