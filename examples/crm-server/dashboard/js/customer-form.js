// The create and edit form of a customer, in a modal dialog. The browser's
// own validation is off: the server checks every field and the form shows
// each of its errors next to the field it names.

import { api } from './api.js';
import { el, fill } from './dom.js';
import { clearFieldErrors, showFieldErrors } from './forms.js';

const TYPES = ['RETAIL', 'WHOLESALE', 'DISTRIBUTOR', 'CORPORATE'];
const ADDRESS = [
  ['line1', 'Address line 1'],
  ['line2', 'Address line 2'],
  ['city', 'City'],
  ['province', 'Province'],
  ['postal_code', 'Postal code'],
  ['country', 'Country (ISO code, e.g. ID)'],
];

/** One labelled input with its error element. */
function field(name, text, control, { wide = false, hint } = {}) {
  const id = `cf-${name.replace('.', '-')}`;
  control.id = id;
  control.name = name;
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  return el(
    'div',
    { class: wide ? 'field wide' : 'field' },
    el('label', { for: id }, text),
    control,
    hint ? el('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    el('p', { class: 'field-error', id: `${id}-error` }),
  );
}

const input = (attrs = {}) => el('input', { type: 'text', ...attrs });

function build() {
  const typeSelect = el('select', {}, TYPES.map((t) => el('option', { value: t }, t.charAt(0) + t.slice(1).toLowerCase())));
  const form = el(
    'form',
    { method: 'dialog', novalidate: true, id: 'customer-form' },
    el('h2', { id: 'customer-form-title' }, 'New customer'),
    el(
      'div',
      { class: 'form-grid' },
      field('name', 'Name', input({ autocomplete: 'off' }), { wide: true }),
      field('email', 'Email', input({ type: 'email', autocomplete: 'off' })),
      field('phone', 'Phone', input({ type: 'tel', autocomplete: 'off' })),
      field('customer_type', 'Customer type', typeSelect),
      field('credit_limit', 'Credit limit (Rp)', input({ inputmode: 'decimal' })),
      field('birthday', 'Birthday', input({ type: 'date' })),
      field('tags', 'Tags', input(), { hint: 'Separated by commas, e.g. vip, jakarta' }),
      el(
        'fieldset',
        { class: 'wide' },
        el('legend', {}, 'Address'),
        el('div', { class: 'form-grid' }, ADDRESS.map(([key, text]) => field(`address.${key}`, text, input()))),
      ),
    ),
    el('div', { id: 'customer-form-message', 'aria-live': 'assertive' }),
    el(
      'div',
      { class: 'actions' },
      el('button', { type: 'submit', value: 'save' }, 'Save'),
      el('button', { type: 'button', class: 'secondary', value: 'cancel', 'data-cancel': true }, 'Cancel'),
    ),
  );
  const dialog = el('dialog', { 'aria-labelledby': 'customer-form-title' }, form);
  document.body.append(dialog);
  return dialog;
}

let dialog;

const text = (v) => (v === null || v === undefined ? '' : String(v));
const orNull = (v) => (v.trim() === '' ? null : v.trim());

function values(form) {
  const address = {};
  for (const [key] of ADDRESS) address[key] = orNull(form.elements[`address.${key}`].value);
  return {
    name: form.elements.name.value.trim(),
    email: orNull(form.elements.email.value),
    phone: orNull(form.elements.phone.value),
    customer_type: form.elements.customer_type.value,
    credit_limit: orNull(form.elements.credit_limit.value),
    birthday: orNull(form.elements.birthday.value),
    tags: form.elements.tags.value.split(',').map((t) => t.trim()).filter(Boolean),
    address,
  };
}

function load(form, c) {
  form.elements.name.value = text(c?.name);
  form.elements.email.value = text(c?.email);
  form.elements.phone.value = text(c?.phone);
  form.elements.customer_type.value = c?.customer_type || 'RETAIL';
  form.elements.customer_type.disabled = Boolean(c);
  form.elements.credit_limit.value = c ? text(c.credit_limit) : '';
  form.elements.birthday.value = text(c?.birthday);
  form.elements.tags.value = (c?.tags || []).join(', ');
  for (const [key] of ADDRESS) form.elements[`address.${key}`].value = text(c?.address?.[key]);
}

/** The body of a create: empty optional fields left out. */
function createBody(v) {
  const body = { name: v.name, customer_type: v.customer_type, tags: v.tags };
  for (const key of ['email', 'phone', 'credit_limit', 'birthday']) if (v[key] !== null) body[key] = v[key];
  if (Object.values(v.address).some((x) => x !== null)) body.address = v.address;
  return body;
}

/** The body of an edit: only the fields that changed (null clears one). */
function patchBody(v, c) {
  const before = values(formOf(c));
  const body = {};
  for (const key of ['name', 'email', 'phone', 'credit_limit', 'birthday']) {
    if (v[key] !== before[key]) body[key] = v[key] ?? (key === 'name' ? '' : null);
  }
  if (v.tags.join(',') !== before.tags.join(',')) body.tags = v.tags;
  if (JSON.stringify(v.address) !== JSON.stringify(before.address)) body.address = v.address;
  return body;
}

/** A detached form loaded with `c`, to read the values the customer had. */
function formOf(c) {
  const copy = dialog.querySelector('form').cloneNode(true);
  load(copy, c);
  return copy;
}

/**
 * Opens the form: empty to create, or filled with `customer` to edit.
 * `onSaved(customer)` runs after the server accepted it.
 */
export function openCustomerForm({ customer = null, onSaved }) {
  dialog ??= build();
  const form = dialog.querySelector('form');
  const message = form.querySelector('#customer-form-message');
  fill(form.querySelector('#customer-form-title'), customer ? `Edit ${customer.name}` : 'New customer');
  load(form, customer);
  clearFieldErrors(form, message);
  form.querySelector('[data-cancel]').onclick = () => dialog.close();
  form.onsubmit = async (e) => {
    e.preventDefault();
    const v = values(form);
    const save = form.querySelector('button[type="submit"]');
    clearFieldErrors(form, message);
    save.disabled = true;
    try {
      let saved;
      if (customer) {
        const changes = patchBody(v, customer);
        saved = Object.keys(changes).length ? await api.updateCustomer(customer.id, changes) : customer;
      } else {
        saved = await api.createCustomer(createBody(v));
      }
      dialog.close();
      onSaved?.(saved);
    } catch (err) {
      showFieldErrors(form, err, message);
    } finally {
      save.disabled = false;
    }
  };
  dialog.showModal();
  form.elements.name.focus();
}
