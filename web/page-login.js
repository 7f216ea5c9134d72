// page-login.js (#/login?next=<hash>): the sign-in form. POST /devicehub/login sets the session cookie;
// then back to where the user was.
import {h, field} from './ui.js';

export async function render(root, ctx) {
  root.dataset.page = 'login';
  document.title = 'Sign in · devicehub';
  const next = ctx.params.next && ctx.params.next.startsWith('#/') && !ctx.params.next.startsWith('#/login') ? ctx.params.next : '#/';
  const error = h('p', {class: 'form-error', role: 'alert', dataset: {testid: 'login-error'}});
  const submit = h('button', {type: 'submit', class: 'primary', testid: 'login-submit'}, 'Sign in');
  const nameField = field('Account name', 'name', {attrs: {required: true, autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false', testid: 'login-name'}});
  const passField = field('Password', 'password', {type: 'password', attrs: {required: true, autocomplete: 'current-password', testid: 'login-password'}});
  const form = h('form', {class: 'login-card', testid: 'login-form', novalidate: false},
    h('h1', {}, h('span', {class: 'brand-mark', 'aria-hidden': 'true'}, '◆'), 'devicehub'),
    h('p', {class: 'muted'}, 'Sign in to manage your devices.'),
    nameField, passField, error, submit);
  root.append(form);
  const nameInput = nameField.querySelector('input');
  const passInput = passField.querySelector('input');
  nameInput.focus();
  let retryTimer = null;

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const r = await ctx.api.request('POST', '/devicehub/login',
        {body: {name: nameInput.value.trim(), password: passInput.value}, noAuthRedirect: true});
      ctx.setSession(r.data);
      location.replace(next);
      return;
    } catch (err) {
      passInput.value = '';
      if (err.status === 401) {
        error.textContent = 'Wrong account name or password.';
        passInput.setAttribute('aria-invalid', 'true');
        passInput.focus();
      } else if (err.status === 429) {
        const wait = parseInt(err.headers?.get('Retry-After') || '60', 10);
        countdown(wait);
        return;
      } else {
        error.textContent = `Could not sign in: ${err.message}`;
      }
    }
    submit.disabled = false;
  });

  // Too many attempts: said once (the alert region), while the button counts down quietly.
  function countdown(seconds) {
    clearInterval(retryTimer);
    let left = seconds;
    error.textContent = `Too many failed attempts. Try again in ${left >= 90 ? `about ${Math.ceil(left / 60)} min` : `${left} s`}.`;
    const tick = () => {
      if (left <= 0) {
        clearInterval(retryTimer);
        error.textContent = '';
        submit.textContent = 'Sign in';
        submit.disabled = false;
        return;
      }
      submit.textContent = `Sign in (wait ${left >= 60 ? `${Math.floor(left / 60)} min ${left % 60} s` : `${left} s`})`;
      left -= 1;
    };
    tick();
    retryTimer = setInterval(tick, 1000);
  }

  return () => clearInterval(retryTimer);
}
