// The sign-in page: posts the form to /api/auth/login, keeps the session
// and returns to the page that sent the user here.

import { api } from './api.js';
import { saveSession, session, safeNext } from './auth.js';
import { byId, param } from './dom.js';
import { clearFieldErrors, showFieldErrors } from './forms.js';

const REASONS = {
  expired: 'Your session has ended. Please sign in again.',
  logout: 'You have logged out.',
};

const next = safeNext(param('next'));
if (session() && !param('reason')) location.replace(next);

const reason = REASONS[param('reason')];
if (reason) {
  const box = byId('login-reason');
  box.textContent = reason;
  box.hidden = false;
}

const form = byId('login-form');
const message = byId('login-message');

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const button = form.querySelector('button[type="submit"]');
  clearFieldErrors(form, message);
  button.disabled = true;
  try {
    const answer = await api.login(form.email.value.trim(), form.password.value);
    saveSession(answer);
    location.assign(next);
  } catch (err) {
    if (err.status === 401) err.message = 'The email or the password is not right.';
    showFieldErrors(form, err, message);
    button.disabled = false;
  }
});
