// Tollgate admin console: plain JavaScript over the admin API, no build step. The page itself holds
// no data; every call carries the admin token, kept for this browser tab only (sessionStorage).
'use strict';

const TOKEN_KEY = 'tollgate.adminToken';
const CALLS_EVERY_MS = 2000;
let token = sessionStorage.getItem(TOKEN_KEY) || '';
let callsTimer = null;
let openAccount = null;
let cdrNext = null;

const $ = (id) => document.getElementById(id);

/** An element with text children only: data never becomes markup. */
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === null || c === undefined ? '' : String(c)));
  return e;
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* CSV or text */ }
  if (!res.ok) {
    if (res.status === 401) signedOut('The token was refused: ' + (json && json.message ? json.message : 'unauthorised'));
    throw new ApiError(res.status, json && json.error, json && json.message ? json.message : `${res.status} ${text}`);
  }
  return json === null ? text : json;
}

function say(text, kind) {
  const s = $('status');
  s.textContent = text;
  s.className = kind || '';
}

function failed(err) {
  say(err instanceof ApiError ? `${err.code || err.status}: ${err.message}` : String(err), 'error');
}

const utc = (iso) => (iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, '') : '');
const money = (m, currency) => (m === null || m === undefined ? '' : currency ? `${m} ${currency}` : m);
const td = (v, cls) => el('td', cls ? { class: cls } : {}, v);

// ---------------------------------------------------------------------------------- sign in/out

function signedOut(message) {
  token = '';
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(callsTimer);
  callsTimer = null;
  $('tabs').hidden = true;
  $('panels').hidden = true;
  $('login').hidden = false;
  $('logout').hidden = true;
  $('instance').textContent = '';
  if (message) say(message, 'error');
}

async function signIn(candidate) {
  token = candidate;
  try {
    await api('GET', '/calls');
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) failed(err);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $('login').hidden = true;
  $('logout').hidden = false;
  $('tabs').hidden = false;
  $('panels').hidden = false;
  say('Signed in.', 'ok');
  const health = await fetch('/health').then((r) => r.json(), () => null);
  if (health) $('instance').textContent = `instance ${health.instanceId}${health.draining ? ' (draining)' : ''}`;
  show('calls');
}

// ---------------------------------------------------------------------------------- tabs

function show(tab) {
  for (const b of document.querySelectorAll('#tabs button')) b.classList.toggle('active', b.dataset.tab === tab);
  for (const p of document.querySelectorAll('.panel')) p.hidden = p.id !== `panel-${tab}`;
  clearInterval(callsTimer);
  callsTimer = null;
  if (tab === 'calls') {
    void refreshCalls();
    callsTimer = setInterval(() => void refreshCalls(), CALLS_EVERY_MS);
  }
  if (tab === 'accounts') void refreshAccounts();
}

// ---------------------------------------------------------------------------------- live calls

async function refreshCalls() {
  let answer;
  try { answer = await api('GET', '/calls'); } catch (err) { failed(err); return; }
  const body = $('calls-table').querySelector('tbody');
  body.replaceChildren(...answer.calls.map((c) => el('tr', { 'data-call-id': c.callId, 'data-state': c.state },
    td(utc(c.start)), td(c.state), td(c.caller), td(c.callee), td(c.accountId), td(c.ingressTrunk), td(c.egressTrunk),
    td(c.remainingSeconds, 'number'), td(money(c.reserved, c.currency), 'money'), td(money(c.spent, c.currency), 'money'), td(c.sipCallId),
    el('td', {}, el('button', { type: 'button', class: 'danger end-call', onclick: () => void endCall(c.callId) }, 'End')))));
  $('calls-count').textContent = `(${answer.count})`;
  $('calls-empty').hidden = answer.count > 0;
}

async function endCall(callId) {
  try {
    await api('DELETE', `/calls/${encodeURIComponent(callId)}`);
    say(`Call ${callId} ended and settled.`, 'ok');
  } catch (err) { failed(err); }
  await refreshCalls();
}

// ---------------------------------------------------------------------------------- accounts

async function refreshAccounts() {
  let answer;
  try { answer = await api('GET', '/accounts?limit=1000'); } catch (err) { failed(err); return; }
  $('accounts-table').querySelector('tbody').replaceChildren(...answer.accounts.map((a) => el('tr', { 'data-account': a.code },
    td(a.code), td(a.kind), td(a.status), td(money(a.balance, a.currency), 'money'), td(money(a.reserved), 'money'), td(money(a.available), 'money'),
    td(`${a.liveCalls}/${a.maxCalls === null ? '-' : a.maxCalls}`, 'number'),
    el('td', {}, el('button', { type: 'button', class: 'open-account', onclick: () => void showAccount(a.code) }, 'Open')))));
  if (openAccount) await showAccount(openAccount);
}

async function showAccount(code) {
  let a;
  let ledger;
  try {
    a = await api('GET', `/accounts/${encodeURIComponent(code)}`);
    ledger = await api('GET', `/accounts/${encodeURIComponent(code)}/ledger?limit=20`);
  } catch (err) { failed(err); return; }
  openAccount = a.code;
  $('account-detail').hidden = false;
  $('account-code').textContent = `${a.code} (${a.kind}, id ${a.id})`;
  $('account-balance').textContent = money(a.balance, a.currency);
  $('account-reserved').textContent = money(a.reserved, a.currency);
  $('account-available').textContent = money(a.available, a.currency);
  $('account-status').textContent = a.status;
  $('ledger-table').querySelector('tbody').replaceChildren(...ledger.entries.map((e) => el('tr', {},
    td(utc(e.createdAt)), td(e.kind), td(e.amount, 'money'), td(e.balanceAfter, 'money'), td(e.key), td(e.note))));
}

async function topUp(event) {
  event.preventDefault();
  if (!openAccount) return;
  const amount = $('topup-amount').value.trim();
  const note = $('topup-note').value.trim();
  // One key per submitted form: a double click or a retried request cannot add the money twice.
  const form = $('topup-form');
  form.dataset.key = form.dataset.key || `console-${Date.now()}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    const entry = await api('POST', `/accounts/${encodeURIComponent(openAccount)}/topups`, { amount, key: form.dataset.key, ...(note ? { note } : {}) });
    say(`Top-up of ${entry.amount} posted; balance ${entry.balanceAfter}.`, 'ok');
    delete form.dataset.key;
    form.reset();
  } catch (err) { failed(err); }
  await refreshAccounts();
}

// ---------------------------------------------------------------------------------- CDRs

function cdrQuery() {
  const q = new URLSearchParams();
  for (const [name, id] of [['from', 'cdr-from'], ['to', 'cdr-to'], ['account', 'cdr-account'], ['caller', 'cdr-caller'], ['disposition', 'cdr-disposition']]) {
    const v = $(id).value.trim();
    if (v) q.set(name, v);
  }
  return q;
}

async function searchCdrs(cursor) {
  const q = cdrQuery();
  q.set('limit', '50');
  if (cursor) q.set('cursor', cursor);
  let page;
  try { page = await api('GET', `/cdrs?${q}`); } catch (err) { failed(err); return; }
  const rows = page.cdrs.map((c) => el('tr', { 'data-call-id': c.callId },
    td(utc(c.inviteAt)), td(c.callId), td(c.callerE164 || c.callerDialled), td(c.calleeE164 || c.calleeDialled), td(c.disposition),
    td(c.releaseCause), td(c.sipStatus, 'number'), td(c.billableSeconds, 'number'), td(money(c.cost, c.currency), 'money'), td(c.accountId)));
  const body = $('cdr-table').querySelector('tbody');
  if (cursor) body.append(...rows); else body.replaceChildren(...rows);
  cdrNext = page.next;
  $('cdr-next').hidden = !cdrNext;
  say(`${body.children.length} CDR(s) shown${cdrNext ? '; more on the next page' : ''}.`, 'ok');
}

async function downloadCsv() {
  try {
    const csv = await api('GET', `/cdrs/export?${cdrQuery()}`);
    const a = el('a', { href: URL.createObjectURL(new Blob([csv], { type: 'text/csv' })), download: 'cdrs.csv' });
    a.click();
    URL.revokeObjectURL(a.href);
  } catch (err) { failed(err); }
}

// ---------------------------------------------------------------------------------- dry runs

async function priceCall(event) {
  event.preventDefault();
  const v = (id) => $(id).value.trim();
  const body = { service: v('rating-service'), destination: v('rating-destination'), seconds: Number(v('rating-seconds')) };
  if (v('rating-plan')) body.plan = v('rating-plan');
  if (v('rating-group')) body.group = v('rating-group');
  if (v('rating-start') && v('rating-start') !== 'now') body.start = v('rating-start');
  if (v('rating-money')) body.money = v('rating-money');
  try {
    const r = await api('POST', '/rating/dry-run', body);
    $('rating-result').hidden = false;
    $('rating-price').textContent = r.price;
    $('rating-currency').textContent = r.currency;
    $('rating-tariff').textContent = r.tariffCode;
    $('rating-rule').textContent = r.ruleId;
    $('rating-charged').textContent = r.chargedSeconds;
    $('rating-buys').textContent = r.maxSeconds === undefined ? '' : `; ${r.money} buys ${r.maxSeconds} s`;
    $('rating-json').textContent = JSON.stringify(r, null, 2);
    say('Priced with the rule set in force.', 'ok');
  } catch (err) { $('rating-result').hidden = true; failed(err); }
}

async function resolveCall(event) {
  event.preventDefault();
  try {
    const r = await api('POST', '/vpn/resolve', { caller: $('vpn-caller').value.trim(), dialled: $('vpn-dialled').value.trim() });
    $('vpn-result').hidden = false;
    $('vpn-summary').textContent = r.ok
      ? `${r.resolution.scope} call to ${r.resolution.callee.e164}${r.resolution.presentedCaller ? `, presented as ${r.resolution.presentedCaller}` : ''}`
      : `refused: ${r.refusal.status} ${r.refusal.code || ''} ${r.refusal.reason || ''}`.trim();
    $('vpn-json').textContent = JSON.stringify(r, null, 2);
    say('Resolved with the directory in force.', 'ok');
  } catch (err) { $('vpn-result').hidden = true; failed(err); }
}

async function reloadNow() {
  try {
    const r = await api('POST', '/reload');
    $('reload-result').hidden = false;
    $('reload-result').textContent = JSON.stringify(r, null, 2);
    say(`Rating: ${r.rating.outcome}; VPN directory: ${r.vpn.outcome}.`, r.rating.outcome === 'rejected' || r.vpn.outcome === 'invalid' ? 'error' : 'ok');
  } catch (err) { failed(err); }
}

// ---------------------------------------------------------------------------------- wiring

document.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (e) => { e.preventDefault(); void signIn($('token').value.trim()); });
  $('logout').addEventListener('click', () => { signedOut(); say('Signed out.'); });
  for (const b of document.querySelectorAll('#tabs button')) b.addEventListener('click', () => { say(''); show(b.dataset.tab); });
  $('topup-form').addEventListener('submit', (e) => void topUp(e));
  $('cdr-form').addEventListener('submit', (e) => { e.preventDefault(); void searchCdrs(null); });
  $('cdr-next').addEventListener('click', () => void searchCdrs(cdrNext));
  $('cdr-csv').addEventListener('click', () => void downloadCsv());
  $('rating-form').addEventListener('submit', (e) => void priceCall(e));
  $('vpn-form').addEventListener('submit', (e) => void resolveCall(e));
  $('reload-button').addEventListener('click', () => void reloadNow());
  if (token) void signIn(token);
});
