// Field errors next to their fields. Every input has a `name` matching the
// API's field name (`address.city` for nested ones) and an error element
// `#<input id>-error` that it points to with aria-describedby.

import { el, fill } from './dom.js';

function errorBox(input) {
  return input.id ? document.getElementById(`${input.id}-error`) : null;
}

function inputFor(form, field) {
  const direct = form.elements.namedItem(field);
  if (direct) return direct;
  // `address` errors without a sub-field, or `tags[2]`: the closest input.
  const base = String(field).replace(/\[\d+\]$/, '');
  return form.elements.namedItem(base) || form.querySelector(`[name^="${CSS.escape(base)}."]`);
}

export function clearFieldErrors(form, region) {
  for (const input of form.querySelectorAll('[aria-invalid="true"]')) input.removeAttribute('aria-invalid');
  for (const box of form.querySelectorAll('.field-error')) box.textContent = '';
  if (region) fill(region);
}

/**
 * Shows an ApiError on a form: each `fields` entry next to its input, the
 * rest (and the message of an error without fields) in `region`. Focuses
 * the first invalid input. Returns how many field errors were placed.
 */
export function showFieldErrors(form, err, region) {
  clearFieldErrors(form, region);
  const unplaced = [];
  let first = null;
  for (const f of err.fields || []) {
    const input = inputFor(form, f.field);
    const box = input && errorBox(input);
    if (!box) {
      unplaced.push(`${f.field}: ${f.message}`);
      continue;
    }
    input.setAttribute('aria-invalid', 'true');
    box.textContent = box.textContent ? `${box.textContent} ${f.message}` : f.message;
    first ??= input;
  }
  const placed = (err.fields || []).length - unplaced.length;
  if (region && (placed === 0 || unplaced.length)) {
    fill(
      region,
      el('p', { class: 'error', role: 'alert' }, placed ? 'Please correct the fields marked above.' : err.message),
      unplaced.length ? el('ul', { class: 'error' }, unplaced.map((u) => el('li', {}, u))) : null,
    );
  } else if (region && placed) {
    fill(region, el('p', { class: 'error', role: 'alert' }, `${placed === 1 ? 'One field needs' : `${placed} fields need`} correcting.`));
  }
  first?.focus();
  return placed;
}
