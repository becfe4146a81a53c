'use strict';
/**
 * Acuity Scheduling -> Rankr `payments` and `customers`, plus GHL transactions and order contacts into
 * the same two collections. Active only when ACUITY_API_BASE_URL is set (see README.md).
 *
 * Acuity has no SDK worth using (the official one is from 2019 and hashes whatever body you give it):
 * plain fetch with Basic auth, through a limiter of our own.
 */

const crypto = require('node:crypto');
const { Unavailable, Refused, now, backoff, callTimeout } = require('./common');

const RATE_PER_SECOND = 8; // Acuity allows 10 per second per IP: keep a margin
const MAX_IN_FLIGHT = 4; // and 20 concurrent connections
const WINDOW_SLACK_MS = 250;
const LIST_MAX = 100; // Acuity's default `max`: a window that returns this many may have been cut short
const SWEEP_MONTHS = 6; // listed: this many months before and after both now and the anchor date
const DEFAULT_ANCHOR = '2026-10-01'; // the sandbox's world is seeded around this date
const MARGIN_DAYS = 7;
const HANDLER_BUDGET_MS = 8000; // Acuity gives up on a delivery after ~10 s and does not retry
const HIGH = 0; // webhooks: served first
const LOW = 1; // reconciliation
const ACTIONS = new Set(['scheduled', 'rescheduled', 'canceled', 'changed']);

// ---- small pure helpers (exported for the unit tests) -------------------------------------------

/** base64(HMAC-SHA256(apiKey, raw body bytes)): the `X-Acuity-Signature` of a delivery. */
function acuitySignature(key, raw) {
  return crypto.createHmac('sha256', key).update(raw).digest('base64');
}

/** Constant-time check of `X-Acuity-Signature` against the RAW body (a Buffer, never re-encoded). */
function verifyAcuitySignature(key, raw, header) {
  if (typeof header !== 'string' || !header) return false;
  const expected = Buffer.from(acuitySignature(key, raw));
  const given = Buffer.from(header.trim());
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/** `appointment.scheduled` (dynamic webhooks) and `scheduled` (static ones) are the same action. */
function normaliseAction(action) {
  const text = String(action || '');
  return text.startsWith('appointment.') ? text.slice('appointment.'.length) : text;
}

const normaliseEmail = (email) => String(email || '').trim().toLowerCase();

/** Acuity money is a decimal string ("10.00"): integer minor units, or null when it is not money. */
function toMinor(value) {
  const m = /^\s*(-?)(\d+)(?:\.(\d{1,2}))?\s*$/.exec(String(value ?? ''));
  if (!m) return null;
  const minor = Number(m[2]) * 100 + Number((m[3] || '0').padEnd(2, '0'));
  return m[1] ? -minor : minor;
}

const toMajor = (minor) => Math.round(minor) / 100;

/** "2016-01-22T09:27:51-0800" (Acuity's colon-less offset) -> "2016-01-22T09:27:51-08:00". */
function isoWithColon(text) {
  return String(text || '').replace(/^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$/, '$1$2:$3');
}

function offsetMinutes(utcMs, timeZone) {
  const parts = {};
  for (const p of new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit',
    minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(utcMs))) parts[p.type] = p.value;
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
  return Math.round((wall - Math.floor(utcMs / 1000) * 1000) / 60000);
}

/** An order's `time` ("2014-09-23 14:22", local to the account, no offset) as ISO-8601 with the
 * account zone's offset at that moment; without a usable zone, the local time without an offset. */
function localToIso(text, timeZone) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(String(text || '').trim());
  if (!m) return String(text || '');
  const [y, mo, d, h, mi, s = '00'] = m.slice(1);
  const local = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
  if (!timeZone) return local;
  try {
    const wall = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s);
    let off = offsetMinutes(wall, timeZone);
    off = offsetMinutes(wall - off * 60000, timeZone); // the offset at the instant itself (DST edges)
    const sign = off < 0 ? '-' : '+';
    const abs = Math.abs(off);
    return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  } catch {
    return local; // not an IANA zone
  }
}

// Dates as "YYYY-MM-DD", computed in UTC (they are calendar days, not instants).
const dayMs = 86400000;
const parseDay = (day) => Date.parse(`${day}T00:00:00Z`);
const formatDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const addDays = (day, n) => formatDay(parseDay(day) + n * dayMs);
function addMonths(day, n) {
  const d = new Date(parseDay(day));
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + n, 1));
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), last));
  return formatDay(target.getTime());
}

/** Days to list: SWEEP_MONTHS before the earlier of (today, anchor) to SWEEP_MONTHS after the later,
 * plus a week each side (Acuity reads minDate/maxDate in the account's zone, not UTC). */
function sweepRange(today, anchor = DEFAULT_ANCHOR, months = SWEEP_MONTHS) {
  const [early, late] = today < anchor ? [today, anchor] : [anchor, today];
  return { from: addDays(addMonths(early, -months), -MARGIN_DAYS), to: addDays(addMonths(late, months), MARGIN_DAYS) };
}

/** The range cut at calendar-month boundaries: [{from, to}] inclusive, contiguous, no overlap. */
function monthWindows(range) {
  const out = [];
  for (let from = range.from; from <= range.to;) {
    const d = new Date(parseDay(from));
    const monthEnd = formatDay(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0));
    const to = monthEnd < range.to ? monthEnd : range.to;
    out.push({ from, to });
    from = addDays(to, 1);
  }
  return out;
}

/** A window split in two halves of whole days (a one-day window cannot be split). */
function splitWindow(w) {
  const days = Math.round((parseDay(w.to) - parseDay(w.from)) / dayMs) + 1;
  if (days < 2) return null;
  const mid = addDays(w.from, Math.floor(days / 2) - 1);
  return [{ from: w.from, to: mid }, { from: addDays(mid, 1), to: w.to }];
}

const digest = (value) => crypto.createHash('sha256').update(JSON.stringify(value)).digest('hex');

// ---- the Acuity API, rate-limited ----------------------------------------------------------------

/**
 * Every Acuity call of the process goes through here: at most RATE_PER_SECOND starts in any
 * 1000 + WINDOW_SLACK_MS ms (the slack absorbs requests that reach Acuity later than they left, so it
 * never sees more than RATE_PER_SECOND in one second), starts spaced by at least 1000/RATE_PER_SECOND
 * ms, at most MAX_IN_FLIGHT at once, webhook work (HIGH)
 * before reconciliation (LOW). After a 429 (or Acuity's edge answering 403 with an HTML page)
 * nothing at all is sent until the backoff (growing, with jitter, or Retry-After if longer) is over.
 */
class AcuityLimiter {
  constructor(perSecond = RATE_PER_SECOND, maxInFlight = MAX_IN_FLIGHT) {
    this.perWindow = perSecond;
    this.windowMs = 1000 + WINDOW_SLACK_MS;
    this.starts = []; // the last `perWindow` start times
    this.gapMs = Math.ceil(1000 / perSecond) + 1;
    this.maxInFlight = maxInFlight;
    this.inFlight = 0;
    this.nextStart = 0;
    this.blockedUntil = 0;
    this.queues = [[], []];
    this.timer = null;
  }

  acquire(priority = LOW, deadline = undefined) {
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, timer: null };
      if (deadline !== undefined) {
        waiter.timer = setTimeout(() => {
          const queue = this.queues[priority];
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(new Unavailable('Acuity rate limit: no turn before the deadline', 'Acuity'));
        }, Math.max(0, deadline - now()));
      }
      this.queues[priority].push(waiter);
      this.pump();
    });
  }

  release() {
    this.inFlight -= 1;
    this.pump();
  }

  /** After a 429: nothing goes out for `ms`. */
  block(ms) {
    this.blockedUntil = Math.max(this.blockedUntil, now() + ms);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.pump();
  }

  pump() {
    if (this.timer) return;
    for (;;) {
      const queue = this.queues.find((q) => q.length);
      if (!queue || this.inFlight >= this.maxInFlight) return;
      const t = now();
      const windowFree = this.starts.length >= this.perWindow ? this.starts[0] + this.windowMs : 0;
      const wait = Math.max(this.nextStart, this.blockedUntil, windowFree) - t;
      if (wait > 0) {
        this.timer = setTimeout(() => { this.timer = null; this.pump(); }, wait);
        return;
      }
      const waiter = queue.shift();
      if (waiter.timer) clearTimeout(waiter.timer);
      this.nextStart = t + this.gapMs;
      this.starts.push(t);
      if (this.starts.length > this.perWindow) this.starts.shift();
      this.inFlight += 1;
      waiter.resolve();
    }
  }
}

class AcuityApi {
  /** `pause(ms, deadline)` waits (and throws Unavailable when stopping or past the deadline). */
  constructor({ baseUrl, userId, apiKey }, pause, limiter = new AcuityLimiter()) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.authorization = `Basic ${Buffer.from(`${userId}:${apiKey}`).toString('base64')}`;
    this.pause = pause;
    this.limiter = limiter;
    this.calls = 0;
    this.limited = 0;
  }

  /** GET a path (`/appointments/1`), query values as strings. Retries 429, 5xx and no answer with
   * growing backoff and jitter; a 4xx is a Refused carrying its status. */
  async get(urlPath, { query, priority = LOW, deadline, attempts = 6 } = {}) {
    const url = new URL(this.baseUrl + urlPath);
    for (const [name, value] of Object.entries(query || {})) url.searchParams.set(name, String(value));
    let error = '';
    for (let attempt = 0; attempt < attempts; attempt++) {
      await this.limiter.acquire(priority, deadline);
      let response;
      let text;
      try {
        this.calls += 1;
        response = await fetch(url, {
          headers: { Authorization: this.authorization, Accept: 'application/json', 'User-Agent': 'ghl-rankr-sync' },
          signal: AbortSignal.timeout(callTimeout(deadline)),
        });
        text = await response.text();
      } catch (err) {
        // fetch rejects with a TypeError when the connection fails, a TimeoutError on our timeout.
        if (!['TypeError', 'TimeoutError', 'AbortError'].includes(err.name)) throw err;
        error = `${err.name}: ${err.cause?.code || err.message}`;
      } finally {
        this.limiter.release();
      }
      if (response === undefined) {
        await this.pause(backoff(attempt), deadline);
        continue;
      }
      const html = /text\/html/i.test(response.headers.get('content-type') || '') || /<\/html>\s*$/i.test(text);
      if (response.status === 429 || (response.status === 403 && html)) {
        // Everyone waits, not just this call: the limit is per IP.
        this.limited += 1;
        const retryAfter = Number(response.headers.get('retry-after')) * 1000;
        this.limiter.block(Math.max(backoff(attempt, 500, 8000), Number.isFinite(retryAfter) ? retryAfter : 0));
        error = `${response.status} rate limited`;
        continue;
      }
      if (response.status >= 500) {
        error = `${response.status} ${text.slice(0, 200)}`;
        await this.pause(backoff(attempt), deadline);
        continue;
      }
      if (response.status >= 400) {
        throw new Refused(`Acuity GET ${url.pathname} -> ${response.status} ${text.slice(0, 300)}`, 'Acuity',
          response.status);
      }
      try {
        return JSON.parse(text);
      } catch {
        error = `${response.status} not JSON: ${text.slice(0, 100)}`;
        await this.pause(backoff(attempt), deadline);
      }
    }
    throw new Unavailable(`Acuity GET ${url.pathname}: ${error}`, 'Acuity');
  }
}

// ---- payments and customers ------------------------------------------------------------------------

/**
 * Rankr `payments` (one per Acuity appointment payment, Acuity order, GHL transaction) and `customers`
 * (one per normalised email, nothing else merges two people). State namespaces (the service's journal):
 * `customer` (email -> what we know of that person), `payment-owner` (paymentKey -> email and amount),
 * `acuity-appt` / `acuity-order` (id -> fingerprint of what was last written, and the payments seen
 * at that `amountPaid`), `written` (the hash of the last body PUT to Rankr, shared with index.js).
 */
class AcuitySync {
  constructor(service, cfg) {
    this.service = service;
    this.state = service.state;
    this.cfg = cfg;
    this.api = new AcuityApi(cfg, (ms, deadline) => service.pauseWithin(ms, deadline));
    this.locks = service.recordLocks;
    this.account = null;
    this.splitWindows = new Set(); // windows that came back full: next time split them without asking
    this.sweeps = 0;
  }

  // ---- Rankr writes ----

  /** PUT unless Rankr already has this body (updatedAt aside). */
  async put(kind, id, body, deadline) {
    const key = `${kind}:${id}`;
    const hash = digest({ ...body, updatedAt: undefined });
    return this.locks.run(key, async () => {
      if (this.state.get('written', key)?.hash === hash) return false;
      await this.service.rankr('PUT', `/v1/${kind}/${encodeURIComponent(id)}`, body, { deadline });
      this.state.put('written', key, { hash }, { durable: false }); // a lost cache costs one idempotent PUT
      return true;
    });
  }

  customer(email) {
    return this.state.get('customer', email)
      || { names: [], ghlContactIds: [], acuityEmails: [], payments: {}, currency: '' };
  }

  /** Add what one source says about the person with this (normalised) email. */
  remember(email, { firstName = '', lastName = '', ghlContactId = '', acuityEmail = '', currency = '' }) {
    const c = this.customer(email);
    let changed = false;
    const name = [String(firstName || ''), String(lastName || '')];
    // GHL's name first, then the first Acuity name seen: stable, whatever order things arrive in.
    if ((name[0] || name[1]) && !c.names.some((n) => n[0] === name[0] && n[1] === name[1])) {
      if (ghlContactId) c.names.unshift(name); else c.names.push(name);
      changed = true;
    }
    if (ghlContactId && !c.ghlContactIds.includes(ghlContactId)) { c.ghlContactIds.push(ghlContactId); changed = true; }
    if (acuityEmail && !c.acuityEmails.includes(acuityEmail)) { c.acuityEmails.push(acuityEmail); changed = true; }
    if (currency && !c.currency) { c.currency = currency; changed = true; }
    if (changed) this.state.put('customer', email, c, { durable: false });
  }

  /** Write the customer's 360 view as we know it now (only if it changed). */
  async flushCustomer(email, deadline) {
    const c = email ? this.state.get('customer', email) : null;
    // Only people: a GHL order's contact or an Acuity client (not a bare payment's email).
    if (!c || !(c.ghlContactIds.length || c.acuityEmails.length)) return false;
    const name = c.names[0] || ['', ''];
    const lifetime = Object.values(c.payments).reduce((sum, minor) => sum + minor, 0);
    return this.put('customers', email, {
      customerId: email, firstName: name[0], lastName: name[1], emails: [email],
      ghlContactIds: [...c.ghlContactIds], acuityEmails: [...c.acuityEmails], lifetimeValue: toMajor(lifetime),
      currency: c.currency || this.account?.currency || '', updatedAt: new Date().toISOString(),
    }, deadline);
  }

  /** PUT a payment and count it in its customer's lifetime value (moving it if the email changed). */
  async payment(body, deadline) {
    await this.put('payments', body.paymentKey, body, deadline);
    const email = body.customerEmail;
    const minor = Math.round(Number(body.amount) * 100) || 0;
    const before = this.state.get('payment-owner', body.paymentKey);
    if (before && before.email === email && before.minor === minor) return;
    if (before && before.email && before.email !== email) {
      const old = this.customer(before.email);
      delete old.payments[body.paymentKey];
      this.state.put('customer', before.email, old, { durable: false });
      await this.flushCustomer(before.email, deadline);
    }
    if (email) {
      const c = this.customer(email);
      c.payments[body.paymentKey] = minor;
      if (!c.currency && body.currency) c.currency = body.currency;
      this.state.put('customer', email, c, { durable: false });
    }
    this.state.put('payment-owner', body.paymentKey, { email, minor }, { durable: false });
  }

  // ---- GHL records (called by index.js when Acuity is on) ----

  /** A GHL order: its contact is a customer. */
  async ghlOrder(order, deadline) {
    const snap = order.contactSnapshot || {};
    const email = normaliseEmail(order.contactEmail || snap.email);
    if (!email) return;
    let firstName = snap.first_name ?? snap.firstName;
    let lastName = snap.last_name ?? snap.lastName;
    if (firstName === undefined && lastName === undefined) {
      const [first = '', ...rest] = String(order.contactName || '').trim().split(/\s+/);
      firstName = first;
      lastName = rest.join(' ');
    }
    this.remember(email, { firstName, lastName, ghlContactId: String(order.contactId || ''), currency: order.currency });
    await this.flushCustomer(email, deadline);
  }

  /** A GHL transaction: a payment. */
  async ghlTransaction(txn, deadline) {
    const email = normaliseEmail(txn.contactEmail || txn.contactSnapshot?.email);
    await this.payment({
      paymentKey: `ghl:${txn._id}`, source: 'ghl', sourceKind: 'transaction', sourceId: String(txn._id),
      parentId: String(txn.entityId || ''), amount: Number(txn.amount ?? 0), currency: String(txn.currency || ''),
      status: String(txn.status || ''), customerEmail: email, paidAt: String(txn.createdAt || ''),
    }, deadline);
    await this.flushCustomer(email, deadline);
  }

  // ---- Acuity records ----

  async me(priority, deadline) {
    if (!this.account) {
      const me = await this.api.get('/me', { priority, deadline });
      this.account = { currency: String(me?.currency || ''), timezone: String(me?.timezone || '') };
    }
    return this.account;
  }

  /**
   * One appointment (as GET /appointments/:id or a list shows it): its payments (fetched only when
   * `amountPaid` is not zero and differs from what we saw last) and its client. Skips all writes when
   * nothing changed since it was last written: `changed` duplicates cost one GET, no write.
   */
  async appointment(appt, { priority = LOW, deadline } = {}) {
    const id = String(appt.id);
    return this.locks.run(`acuity-appt:${id}`, async () => {
      const account = await this.me(priority, deadline);
      const seen = this.state.get('acuity-appt', id);
      let payments = [];
      if (toMinor(appt.amountPaid) !== 0) {
        if (seen && seen.amountPaid === appt.amountPaid && Array.isArray(seen.payments)) payments = seen.payments;
        else {
          const got = await this.api.get(`/appointments/${encodeURIComponent(id)}/payments`, { priority, deadline });
          payments = (Array.isArray(got) ? got : []).map((p) => ({
            transactionID: String(p.transactionID), created: String(p.created || ''), amount: String(p.amount),
          }));
        }
      }
      const email = normaliseEmail(appt.email);
      const fingerprint = digest([email, appt.email, appt.firstName, appt.lastName, account.currency, payments]);
      if (seen && seen.fingerprint === fingerprint) return false;
      for (const p of payments) {
        await this.payment({
          paymentKey: `acuity:${p.transactionID}`, source: 'acuity', sourceKind: 'appointment',
          sourceId: p.transactionID, parentId: id, amount: toMajor(toMinor(p.amount) ?? 0),
          currency: account.currency, status: 'paid', customerEmail: email, paidAt: isoWithColon(p.created),
        }, deadline);
      }
      if (email) {
        this.remember(email, { firstName: appt.firstName, lastName: appt.lastName,
          acuityEmail: String(appt.email).trim(), currency: account.currency });
        await this.flushCustomer(email, deadline);
      }
      // Durable: a delivery answered 2xx is never processed again for nothing (and never lost).
      this.state.put('acuity-appt', id, { fingerprint, amountPaid: appt.amountPaid, payments },
        { durable: priority === HIGH });
      return true;
    });
  }

  /** A store order (package, gift certificate): one payment once it is paid. */
  async order(order, { priority = LOW, deadline } = {}) {
    const id = String(order.id);
    return this.locks.run(`acuity-order:${id}`, async () => {
      const account = await this.me(priority, deadline);
      const email = normaliseEmail(order.email);
      const fingerprint = digest([order.status, order.total, order.time, order.email, order.firstName, order.lastName,
        account]);
      if (this.state.get('acuity-order', id)?.fingerprint === fingerprint) return false;
      if (String(order.status || '') !== 'unpaid') {
        await this.payment({
          paymentKey: `acuity-order:${id}`, source: 'acuity', sourceKind: 'order', sourceId: id, parentId: id,
          amount: toMajor(toMinor(order.total) ?? 0), currency: account.currency, status: String(order.status || 'paid'),
          customerEmail: email, paidAt: localToIso(order.time, account.timezone),
        }, deadline);
      }
      if (email) { // the buyer is a client of the account too (a gift certificate buyer may never book)
        this.remember(email, { firstName: order.firstName, lastName: order.lastName,
          acuityEmail: String(order.email).trim(), currency: account.currency });
        await this.flushCustomer(email, deadline);
      }
      this.state.put('acuity-order', id, { fingerprint }, { durable: priority === HIGH });
      return true;
    });
  }

  // ---- webhooks ----

  /** POST /webhooks/acuity: `raw` is the body exactly as received. Resolves to the HTTP status. */
  async handleWebhook(raw, signature) {
    if (!verifyAcuitySignature(this.cfg.apiKey, raw, signature)) return 401;
    const form = new URLSearchParams(raw.toString('utf8'));
    const action = normaliseAction(form.get('action'));
    const id = form.get('id') || ''; // a string: form fields are never numbers
    if (!/^\d+$/.test(id)) return 400;
    if (action !== 'order.completed' && !ACTIONS.has(action)) return 200; // nothing we sync
    const deadline = now() + HANDLER_BUDGET_MS;
    try {
      if (action === 'order.completed') {
        await this.order(await this.api.get(`/orders/${id}`, { priority: HIGH, deadline }), { priority: HIGH, deadline });
      } else {
        const appt = await this.api.get(`/appointments/${id}`, { priority: HIGH, deadline });
        await this.appointment(appt, { priority: HIGH, deadline });
      }
    } catch (err) {
      if (err instanceof Refused && err.service === 'Acuity' && err.status === 404) return 200; // nothing to sync
      if (!(err instanceof Unavailable || err instanceof Refused)) throw err;
      return 503; // not synced (Acuity does not retry): the next reconciliation repairs it
    }
    return 200;
  }

  // ---- reconciliation ----

  /** Every appointment (canceled too) of one window; a window that comes back full is split. */
  async *listWindow(w) {
    const key = `${w.from}..${w.to}`;
    const halves = splitWindow(w);
    if (halves && this.splitWindows.has(key)) {
      for (const half of halves) yield* this.listWindow(half);
      return;
    }
    for (let max = LIST_MAX; ; max *= 10) {
      const got = await this.api.get('/appointments', {
        query: { minDate: w.from, maxDate: w.to, showall: 'true', excludeForms: 'true', max }, priority: LOW,
      });
      const items = Array.isArray(got) ? got : [];
      if (items.length < max) {
        yield* items;
        return;
      }
      if (halves) {
        this.splitWindows.add(key);
        for (const half of halves) yield* this.listWindow(half);
        return;
      }
      // One day with `max` appointments or more: ask that day for more (no paging exists).
    }
  }

  /** One record Acuity refuses to show (a 4xx) does not stop the sweep. */
  async skipRefused(fn) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      this.service.log('warn', `Acuity record skipped: ${err.message}`);
      return false;
    }
  }

  async reconcileOnce() {
    let changed = 0;
    await this.me(LOW);
    const range = sweepRange(new Date().toISOString().slice(0, 10), this.cfg.anchor, this.cfg.months);
    // And wider if the account has appointments further out (the earliest and the latest, one each).
    for (const direction of ['ASC', 'DESC']) {
      const edge = await this.api.get('/appointments', { query: { showall: 'true', max: 1, direction, excludeForms: 'true' } });
      const day = /^\d{4}-\d{2}-\d{2}/.exec(String((Array.isArray(edge) && edge[0]?.datetime) || ''))?.[0];
      if (day && !Number.isNaN(parseDay(day))) {
        if (addDays(day, -1) < range.from) range.from = addDays(day, -1);
        if (addDays(day, 1) > range.to) range.to = addDays(day, 1);
      }
    }
    for (const w of monthWindows(range)) {
      for await (const appt of this.listWindow(w)) changed += await this.skipRefused(() => this.appointment(appt));
    }
    const orders = await this.api.get('/orders', { query: { max: 1000 }, priority: LOW });
    for (const order of Array.isArray(orders) ? orders : []) changed += await this.skipRefused(() => this.order(order));
    this.sweeps += 1;
    return changed;
  }

  async reconcileLoop(intervalMs) {
    while (!this.service.stopping) {
      const started = now();
      try {
        const changed = await this.reconcileOnce();
        if (changed) this.service.log('info', `Acuity reconciled: ${changed} record(s) synced`);
      } catch (err) {
        if (err instanceof Unavailable || err instanceof Refused) this.service.log('warn', `Acuity reconciliation failed: ${err.message}`);
        else this.service.log('error', `Acuity reconciliation crashed: ${err.stack || err}`);
      }
      // Polling gets at most half of Acuity's budget: rest at least as long as the sweep took.
      await this.service.waitOrStop(Math.max(intervalMs, now() - started));
    }
  }
}

module.exports = {
  AcuitySync, AcuityApi, AcuityLimiter, acuitySignature, verifyAcuitySignature, normaliseAction, normaliseEmail,
  toMinor, isoWithColon, localToIso, sweepRange, monthWindows, splitWindow, DEFAULT_ANCHOR, SWEEP_MONTHS, HIGH, LOW,
};
