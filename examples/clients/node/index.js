'use strict';
/**
 * ghl-rankr-sync: keeps GoHighLevel (GHL) orders, transactions and subscriptions in sync with Rankr,
 * and turns Rankr `fulfillment.requested` events into exactly one GHL fulfillment each. When the Rankr
 * account has providers, it routes every paid order to one of them (routing.js).
 *
 * Every GHL call goes through GHL's official SDK (@gohighlevel/api-client); GHL webhooks are
 * verified by the SDK's own middleware. Rankr has no SDK: plain fetch.
 *
 * Configuration: environment variables, see README.md. Run: `node index.js`.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const express = require('express');
const { HighLevel, GHLError } = require('@gohighlevel/api-client');
const { Unavailable, Refused, now, sleep, backoff, callTimeout, BACKOFF_CAP_MS } = require('./common');
const { AcuitySync, DEFAULT_ANCHOR, SWEEP_MONTHS } = require('./acuity');
const { WorkflowSync } = require('./workflow');
const { Routing, PROVIDER_EVENTS } = require('./routing');

const REPLAY_WINDOW_MS = 5 * 60 * 1000; // GHL's recommended window, both directions
const ORDER_EVENTS = new Set(['OrderCreate', 'OrderStatusUpdate']);
const PAGE_SIZE = 100;
const HANDLER_BUDGET_MS = 4000; // answer (429 if need be) well before the sender gives up on the attempt

// ---- configuration ---------------------------------------------------------------------------

function loadConfig(env = process.env) {
  const missing = [];
  const need = (name) => {
    const value = env[name];
    if (value === undefined || value === '') missing.push(name);
    return value;
  };
  const cfg = {
    apiUrl: (env.GHL_API_URL || 'https://services.leadconnectorhq.com').replace(/\/+$/, ''),
    apiVersion: env.GHL_API_VERSION || '2021-07-28',
    clientId: need('GHL_CLIENT_ID'),
    clientSecret: need('GHL_CLIENT_SECRET'),
    locationToken: need('GHL_LOCATION_TOKEN'),
    locationId: need('GHL_LOCATION_ID'),
    // The SDK's own variable name for the Ed25519 key that verifies x-ghl-signature.
    webhookPublicKey: need('WEBHOOK_SIGNATURE_PUBLIC_KEY'),
    // Optional, legacy: the RSA key (PEM) of x-wh-signature, which GHL retired in 2026 and the SDK no longer
    // reads (the Python SDK's name for it). Checked only on a delivery without x-ghl-signature.
    webhookRsaPublicKey: env.WEBHOOK_PUBLIC_KEY || '',
    rankrUrl: (need('RANKR_URL') || '').replace(/\/+$/, ''),
    rankrToken: need('RANKR_TOKEN'),
    rankrSigningSecret: need('RANKR_SIGNING_SECRET'),
    host: env.HOST || '127.0.0.1',
    port: Number(env.PORT || 3000),
    dataDir: env.DATA_DIR || path.join(__dirname, 'data'),
    syncIntervalMs: Number(env.SYNC_INTERVAL_SECONDS || 60) * 1000,
    routes: {
      health: env.HEALTH_PATH || '/health',
      ghlWebhooks: env.GHL_WEBHOOK_PATH || '/ghl/webhooks',
      rankrEvents: env.RANKR_EVENTS_PATH || '/rankr/events',
      acuityWebhook: env.ACUITY_WEBHOOK_PATH || '/webhooks/acuity',
      workflowWebhook: env.GHL_WORKFLOW_PATH || '/webhooks/ghl-workflow',
    },
    // GHL workflow deliveries (a Payment Received workflow's Custom Webhook): on only with their shared secret.
    workflowSecret: env.GHL_WORKFLOW_SECRET || '',
    // Acuity Scheduling: on only when its base URL is set (then its user id and API key are required).
    acuity: env.ACUITY_API_BASE_URL ? {
      baseUrl: env.ACUITY_API_BASE_URL.replace(/\/+$/, ''),
      userId: need('ACUITY_USER_ID'),
      apiKey: need('ACUITY_API_KEY'),
      anchor: env.ACUITY_SYNC_ANCHOR_DATE || DEFAULT_ANCHOR,
      months: Number(env.ACUITY_SYNC_MONTHS || SWEEP_MONTHS),
    } : null,
    logLevel: (env.LOG_LEVEL || 'info').toLowerCase(),
    sdkLogLevel: (env.GHL_SDK_LOG_LEVEL || 'none').toLowerCase(),
  };
  if (missing.length) throw new Error(`missing environment variable(s): ${missing.join(', ')}`);
  if (!Number.isInteger(cfg.port) || cfg.port <= 0 || cfg.port > 65535) throw new Error(`PORT is not a port: ${env.PORT}`);
  if (cfg.acuity) {
    try {
      new URL(cfg.acuity.baseUrl); // eslint-disable-line no-new
    } catch {
      throw new Error(`ACUITY_API_BASE_URL is not a URL: ${cfg.acuity.baseUrl}`);
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(cfg.acuity.anchor) || Number.isNaN(Date.parse(cfg.acuity.anchor))) {
      throw new Error(`ACUITY_SYNC_ANCHOR_DATE is not a date (YYYY-MM-DD): ${cfg.acuity.anchor}`);
    }
    if (!Number.isInteger(cfg.acuity.months) || cfg.acuity.months < 1) {
      throw new Error(`ACUITY_SYNC_MONTHS must be a whole number of months: ${env.ACUITY_SYNC_MONTHS}`);
    }
  }
  if (!(cfg.syncIntervalMs > 0)) throw new Error(`SYNC_INTERVAL_SECONDS must be a positive number: ${env.SYNC_INTERVAL_SECONDS}`);
  if (!isEd25519Key(cfg.webhookPublicKey)) {
    throw new Error('WEBHOOK_SIGNATURE_PUBLIC_KEY is not an Ed25519 public key (PEM, or 32 bytes as base64 or hex)');
  }
  if (cfg.webhookRsaPublicKey && !isRsaKey(cfg.webhookRsaPublicKey)) {
    throw new Error('WEBHOOK_PUBLIC_KEY is not an RSA public key (PEM)');
  }
  // GHL client ids are `<appId>-<suffix>`; every webhook carries the appId (the SDK checks it the same way).
  cfg.appId = cfg.clientId.split('-')[0];
  return cfg;
}

/** The encodings the SDK's middleware accepts; checked at start because the middleware would only
 * answer every webhook "invalid signature". */
function isRsaKey(text) {
  try {
    return crypto.createPublicKey(text.trim()).asymmetricKeyType === 'rsa';
  } catch {
    return false;
  }
}

function isEd25519Key(text) {
  const trimmed = text.trim();
  try {
    if (trimmed.includes('-----BEGIN')) return crypto.createPublicKey(trimmed).asymmetricKeyType === 'ed25519';
  } catch {
    return false;
  }
  const raw = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  return raw.length === 32 || raw.length === 44;
}

// ---- logging ---------------------------------------------------------------------------------

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 };
let logThreshold = LEVELS.info;
function log(level, message, ...rest) {
  if (LEVELS[level] < logThreshold) return;
  const line = `${new Date().toISOString()} ghl-rankr-sync ${level.toUpperCase()} ${message}`;
  (level === 'error' || level === 'warn' ? console.error : console.log)(line, ...rest);
}

// ---- durable state ---------------------------------------------------------------------------

/**
 * Key/value state in one append-only journal (`$DATA_DIR/state.jsonl`): each `put` appends a line
 * and, when `durable`, fsyncs it before returning, so it survives `kill -9` and a power cut. A torn
 * last line (a crash mid-append) is ignored on load. The journal is compacted (written to a temp file,
 * fsynced, renamed over) on start and when it grows well past the live keys.
 * Namespaces: `webhook` (webhookId -> its Rankr event, done), `written` (kind:id -> hash and
 * updatedAt of the body last PUT to Rankr), `fulfillment` (Rankr eventId -> baseline, done), `meta`.
 */
class State {
  constructor(dir) {
    fs.mkdirSync(dir, { recursive: true });
    this.dir = dir;
    this.file = path.join(dir, 'state.jsonl');
    this.data = new Map();
    this.lines = 0;
    if (fs.existsSync(this.file)) {
      for (const line of fs.readFileSync(this.file, 'utf8').split('\n')) {
        if (!line) continue;
        let entry;
        try {
          entry = JSON.parse(line);
        } catch {
          continue; // a torn write from a crash: it was never acknowledged
        }
        const key = `${entry.ns}\u0000${entry.key}`;
        if (entry.deleted) this.data.delete(key);
        else this.data.set(key, entry.value);
      }
    }
    this.compact();
  }

  get(ns, key) {
    const value = this.data.get(`${ns}\u0000${key}`);
    return value === undefined ? null : structuredClone(value);
  }

  put(ns, key, value, { durable = true } = {}) {
    this.data.set(`${ns}\u0000${key}`, structuredClone(value));
    this.append({ ns, key, value }, durable);
  }

  delete(ns, key) {
    this.data.delete(`${ns}\u0000${key}`);
    this.append({ ns, key, deleted: true }, true);
  }

  append(entry, durable) {
    // Synchronous on purpose: the line is in the kernel (and on disk when durable) before we answer.
    fs.writeSync(this.fd, JSON.stringify(entry) + '\n');
    if (durable) fs.fsyncSync(this.fd);
    this.lines += 1;
    if (this.lines > 2 * this.data.size + 1000) this.compact();
  }

  compact() {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    const tmp = `${this.file}.tmp`;
    const lines = [];
    for (const [joined, value] of this.data) {
      const [ns, key] = joined.split('\u0000');
      lines.push(JSON.stringify({ ns, key, value }));
    }
    const fd = fs.openSync(tmp, 'w');
    fs.writeSync(fd, lines.length ? lines.join('\n') + '\n' : '');
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fs.renameSync(tmp, this.file);
    const dirFd = fs.openSync(this.dir, 'r');
    fs.fsyncSync(dirFd); // the rename itself is durable
    fs.closeSync(dirFd);
    this.fd = fs.openSync(this.file, 'a');
    this.lines = lines.length;
  }

  close() {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

// ---- locks -----------------------------------------------------------------------------------

/** One holder per key at a time; others queue in order. */
class KeyedLock {
  constructor() {
    this.tails = new Map();
  }

  async run(key, fn) {
    const previous = this.tails.get(key) || Promise.resolve();
    let release;
    const mine = new Promise((resolve) => { release = resolve; });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

// ---- GHL rate limits -------------------------------------------------------------------------

/**
 * Shared by everything that calls GHL: one call at a time (so a 429 stops every call after it),
 * within the burst budget that `X-RateLimit-Remaining` reports. When the budget is spent we wait
 * until the server's window is surely over (`X-RateLimit-Interval-Milliseconds` after it started);
 * after a 429, that interval from the 429. When the budget is unknown, one call probes it.
 */
class RateLimiter {
  constructor() {
    this.busy = false;
    this.remaining = null;
    this.windowStart = 0;
    this.blockedUntil = 0;
    this.intervalMs = 10000;
    this.max = 100;
    this.waiters = new Set();
  }

  /** ms to wait before calling: 0 to go now, null until the call in flight ends. */
  waitFor(t) {
    if (this.busy) return null;
    if (this.blockedUntil > t) return this.blockedUntil - t;
    if (this.remaining !== null && this.remaining <= 0) {
      const windowEnd = this.windowStart + this.intervalMs + 100;
      if (t < windowEnd) return windowEnd - t;
      this.remaining = null; // that window is over: probe the next one
    }
    return 0;
  }

  wake() {
    for (const resolve of this.waiters) resolve();
    this.waiters.clear();
  }

  pause(ms) {
    return new Promise((resolve) => {
      let timer;
      const done = () => { clearTimeout(timer); this.waiters.delete(done); resolve(); };
      if (Number.isFinite(ms)) timer = setTimeout(done, Math.max(0, ms));
      this.waiters.add(done);
    });
  }

  async acquire(deadline) {
    for (;;) {
      const t = now();
      const wait = this.waitFor(t);
      if (wait === 0) break;
      if (deadline !== undefined && t + (wait || 0) >= deadline) {
        throw new Unavailable('GHL rate limit: no budget before the deadline', 'GHL');
      }
      await this.pause(wait === null ? (deadline === undefined ? Infinity : deadline - t) : wait);
    }
    this.busy = true;
    if (this.remaining !== null) this.remaining -= 1;
  }

  /** `rateLimit`: the parsed X-RateLimit-* of the answer (or undefined); `limited`: it was a 429. */
  release(rateLimit, limited = false) {
    this.busy = false;
    const t = now();
    if (rateLimit) {
      if (rateLimit.intervalMs > 0) this.intervalMs = rateLimit.intervalMs;
      if (rateLimit.max > 0) this.max = rateLimit.max;
      if (Number.isFinite(rateLimit.remaining)) {
        if (this.remaining === null || rateLimit.remaining > this.remaining) this.windowStart = t; // a new window
        this.remaining = rateLimit.remaining;
      }
    }
    if (limited) {
      this.blockedUntil = Math.max(this.blockedUntil, t + this.intervalMs);
      this.remaining = null;
    }
    this.wake();
  }

  async waitUnblocked(deadline) {
    for (;;) {
      const left = this.blockedUntil - now();
      if (left <= 0) return;
      if (deadline !== undefined && now() + left > deadline) {
        throw new Unavailable('GHL rate limit: no budget before the deadline', 'GHL');
      }
      await this.pause(left);
    }
  }
}

function readRateLimit(headers) {
  const num = (name) => {
    const raw = typeof headers?.get === 'function' ? headers.get(name) : headers?.[name];
    const value = Number(Array.isArray(raw) ? raw[0] : raw);
    return raw === undefined || raw === null || raw === '' || !Number.isFinite(value) ? undefined : value;
  };
  return {
    intervalMs: num('x-ratelimit-interval-milliseconds'),
    max: num('x-ratelimit-max'),
    remaining: num('x-ratelimit-remaining'),
  };
}

// ---- the service -----------------------------------------------------------------------------

class SyncService {
  constructor(cfg) {
    this.cfg = cfg;
    this.stopping = false;
    this.state = new State(cfg.dataDir);
    this.limiter = new RateLimiter();
    this.webhookLocks = new KeyedLock();
    this.recordLocks = new KeyedLock();
    this.fulfillmentLock = new KeyedLock();
    this.ghlCalls = 0;
    this.failedSyncs = 0;
    this.lastRateLimit = undefined;
    this.stopWaiters = new Set();
    this.log = log;
    // Acuity payments, and GHL transactions and order contacts, into Rankr payments and customers.
    this.acuity = cfg.acuity ? new AcuitySync(this, cfg.acuity) : null;
    // GHL workflow deliveries and polled transactions into Rankr payments (the Acuity part writes those too).
    this.workflow = cfg.workflowSecret ? new WorkflowSync(this, cfg.workflowSecret) : null;
    // Paid orders to Rankr providers (a no-op while the account has none).
    this.routing = new Routing(this);

    this.ghl = new HighLevel({
      clientId: cfg.clientId,
      clientSecret: cfg.clientSecret,
      locationAccessToken: cfg.locationToken,
      apiVersion: cfg.apiVersion,
      webhookPublicKey: cfg.webhookPublicKey,
      // The SDK logs every failed call with its whole request; we log what matters ourselves.
      logLevel: cfg.sdkLogLevel,
    });
    // The SDK has no base-URL option; its axios instance is public (sandbox, proxy, staging).
    this.ghl.getHttpClient().defaults.baseURL = cfg.apiUrl;
    // SDK methods return the body only: read the rate-limit headers of every answer here. GHL calls
    // are one at a time (see RateLimiter), so the latest answer is the one of the call in flight.
    this.ghl.addResponseInterceptor({
      onFulfilled: (response) => {
        this.lastRateLimit = readRateLimit(response.headers);
        return response;
      },
    });
  }

  // ---- HTTP discipline -------------------------------------------------------------------------

  /** Resolves after `ms`, or early (with `true`) when the service is stopping. */
  waitOrStop(ms) {
    if (this.stopping) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (stopped) => { clearTimeout(timer); this.stopWaiters.delete(done); resolve(stopped); };
      const timer = setTimeout(() => done(false), ms);
      this.stopWaiters.add(done);
    });
  }

  async pauseWithin(ms, deadline) {
    if (deadline !== undefined && now() + ms > deadline) throw new Unavailable('retry budget spent');
    if (await this.waitOrStop(ms)) throw new Unavailable('shutting down');
  }

  /**
   * One GHL call through the SDK: `call(options)` gets the per-call axios options (timeout). Reads
   * are retried (backoff + jitter) on 5xx, 429 and no answer; a write is tried once (the caller
   * decides how to retry it).
   */
  async ghlCall(what, call, { deadline, write = false, attempts = 5 } = {}) {
    if (write) attempts = 1;
    let error = '';
    let limited = false;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt) {
        if (limited) await this.limiter.waitUnblocked(deadline); // the advertised interval, then the backoff
        await this.pauseWithin(backoff(attempt - 1), deadline);
      }
      await this.limiter.acquire(deadline);
      this.lastRateLimit = undefined;
      let rateLimit;
      limited = false;
      try {
        this.ghlCalls += 1;
        const data = await call({ timeout: callTimeout(deadline) });
        rateLimit = this.lastRateLimit;
        return data;
      } catch (err) {
        const status = err instanceof GHLError ? err.statusCode : undefined;
        if (status === 429) {
          limited = true;
          rateLimit = err.rateLimit;
        } else if (status !== undefined && status < 500) {
          throw new Refused(`GHL ${what} -> ${status} ${err.message}`, 'GHL');
        } else if (!(err instanceof GHLError)) {
          throw err; // a bug of ours, not GHL's
        }
        error = status ? `${status} ${err.message}` : err.message;
      } finally {
        this.limiter.release(rateLimit, limited);
      }
    }
    throw new Unavailable(`GHL ${what}: ${error}`, 'GHL');
  }

  alt() {
    return { altId: this.cfg.locationId, altType: 'location' };
  }

  /**
   * One Rankr call. PUTs are idempotent and POSTs carry an Idempotency-Key, so both are retried.
   */
  async rankr(method, urlPath, body, { key, deadline, attempts = 4 } = {}) {
    const headers = { Authorization: `Bearer ${this.cfg.rankrToken}`, 'Content-Type': 'application/json' };
    if (key) headers['Idempotency-Key'] = key;
    let error = '';
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (attempt) await this.pauseWithin(backoff(attempt - 1), deadline);
      let response;
      let text;
      try {
        response = await fetch(this.cfg.rankrUrl + urlPath, {
          method, headers, body: JSON.stringify(body), signal: AbortSignal.timeout(callTimeout(deadline)),
        });
        text = await response.text();
      } catch (err) {
        // fetch rejects with a TypeError when the connection fails, a TimeoutError on our timeout.
        if (!['TypeError', 'TimeoutError', 'AbortError'].includes(err.name)) throw err;
        error = `${err.name}: ${err.cause?.code || err.message}`;
        continue;
      }
      if (response.status === 429 || response.status >= 500) {
        error = `${response.status} ${text.slice(0, 200)}`;
        const retryAfter = Number(response.headers.get('retry-after'));
        if (retryAfter > 0) await this.pauseWithin(Math.min(retryAfter * 1000, BACKOFF_CAP_MS), deadline);
        continue;
      }
      // 409: this key was used before, with an earlier delivery's body: it is recorded.
      if (response.status === 409 && key) return null;
      if (response.status >= 400) {
        throw new Refused(`Rankr ${method} ${urlPath} -> ${response.status} ${text.slice(0, 300)}`, 'Rankr',
          response.status);
      }
      return text ? JSON.parse(text) : null;
    }
    throw new Unavailable(`Rankr ${method} ${urlPath}: ${error}`, 'Rankr');
  }

  // ---- GHL reads -------------------------------------------------------------------------------

  /** Every item of a GHL list, paging with limit/offset until totalCount. */
  async listAll(what, method, params, deadline) {
    const items = [];
    for (;;) {
      const page = await this.ghlCall(what, (options) => method({ ...params, limit: PAGE_SIZE, offset: items.length },
        options), { deadline });
      const data = Array.isArray(page?.data) ? page.data : [];
      items.push(...data);
      if (!data.length || items.length >= Number(page?.totalCount || 0)) return items;
    }
  }

  listOrders(deadline) {
    return this.listAll('list orders', (p, o) => this.ghl.payments.listOrders(p, o),
      { altId: this.cfg.locationId }, deadline);
  }

  listTransactions(extra, deadline) {
    return this.listAll('list transactions', (p, o) => this.ghl.payments.listTransactions(p, o),
      { ...this.alt(), ...extra }, deadline);
  }

  listSubscriptions(deadline) {
    return this.listAll('list subscriptions', (p, o) => this.ghl.payments.listSubscriptions(p, o),
      this.alt(), deadline);
  }

  getOrder(orderId, deadline) {
    // The live API requires altType=location here and the SDK has no parameter for it. Axios `params`
    // in the options replace the SDK's query string rather than adding to it: pass altId again.
    return this.ghlCall(`get order ${orderId}`, (options) => this.ghl.payments.getOrderById(
      { orderId, altId: this.cfg.locationId }, { ...options, params: this.alt() }), { deadline });
  }

  async listFulfillments(orderId, deadline) {
    const answer = await this.ghlCall(`list fulfillments of ${orderId}`, (options) =>
      this.ghl.payments.listOrderFulfillment({ ...this.alt(), orderId }, options), { deadline });
    return Array.isArray(answer?.data) ? answer.data : [];
  }

  // ---- Rankr writes ----------------------------------------------------------------------------

  static rankrBody(kind, r) {
    if (kind === 'orders') {
      return {
        orderId: r._id, source: 'ghl', status: r.status || '', fulfillmentStatus: r.fulfillmentStatus || '',
        amount: r.amount ?? 0, currency: r.currency || '', contactId: r.contactId || '', updatedAt: r.updatedAt || '',
      };
    }
    if (kind === 'transactions') {
      return {
        transactionId: r._id, orderId: r.entityId || '', status: r.status || '', amount: r.amount ?? 0,
        amountRefunded: r.amountRefunded || 0, currency: r.currency || '', updatedAt: r.updatedAt || '',
      };
    }
    return {
      subscriptionId: r._id, status: r.status || '', amount: r.amount ?? 0, currency: r.currency || '',
      updatedAt: r.updatedAt || '',
    };
  }

  /** PUT the record unless Rankr already has this body, or a newer one (out-of-order safety). */
  async upsert(kind, record, deadline) {
    const body = SyncService.rankrBody(kind, record);
    const key = `${kind}:${record._id}`;
    const digest = crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex');
    return this.recordLocks.run(key, async () => {
      const last = this.state.get('written', key);
      if (last && (last.hash === digest || body.updatedAt < last.updatedAt)) return false;
      await this.rankr('PUT', `/v1/${kind}/${encodeURIComponent(record._id)}`, body, { deadline });
      // Not fsynced: losing this cache only costs an idempotent PUT again.
      this.state.put('written', key, { hash: digest, updatedAt: body.updatedAt }, { durable: false });
      return true;
    });
  }

  /** The fresh order from GHL and its transactions (GHL sends no webhooks for those: poll them); the order. */
  async syncOrder(orderId, deadline) {
    const order = await this.getOrder(orderId, deadline);
    await this.upsert('orders', order, deadline);
    if (this.acuity) await this.acuity.ghlOrder(order, deadline);
    for (const txn of await this.listTransactions({ entityId: orderId }, deadline)) {
      await this.upsert('transactions', txn, deadline);
      if (this.acuity) await this.acuity.ghlTransaction(txn, deadline);
      else if (this.workflow) await this.workflow.transaction(txn, deadline);
    }
    return order;
  }

  alert(severity, message, key, orderId, deadline) {
    const body = { severity, message, ...(orderId ? { orderId } : {}) };
    return this.rankr('POST', '/v1/alerts', body, { key, deadline });
  }

  // ---- GHL webhooks ----------------------------------------------------------------------------

  eventFor(webhookId, payload) {
    // Kept durably from the first attempt so a retry (whose timestamp differs) reuses the same body
    // under the same Idempotency-Key.
    const entry = this.state.get('webhook', webhookId);
    if (entry) return entry.event;
    const orderId = ORDER_EVENTS.has(payload.type) ? payload._id : payload.entityId;
    const event = {
      eventId: webhookId, eventType: String(payload.type || ''), orderId: String(orderId || ''), source: 'ghl',
      timestamp: String(payload.timestamp),
    };
    this.state.put('webhook', webhookId, { event, done: false });
    return event;
  }

  /** Runs after the SDK's middleware (`ghl.webhooks.subscribe()`) has checked the signature and appId. */
  async handleGhlWebhook(req) {
    // The middleware never answers: it flags. An appId that is not ours leaves the flags unset,
    // a missing signature or key sets skippedSignatureVerification: all of them are refused, except a
    // delivery without x-ghl-signature whose legacy x-wh-signature verifies with WEBHOOK_PUBLIC_KEY.
    if (req.isSignatureValid !== true && !(req.skippedSignatureVerification === true && this.legacyRsaVerifies(req))) {
      log('warn', `webhook refused: ${req.skippedSignatureVerification ? 'no x-ghl-signature (or no key)'
        : req.isSignatureValid === false ? 'bad signature' : 'not our appId'}`);
      return 401;
    }
    const payload = req.body;
    if (!payload || typeof payload !== 'object' || typeof payload.webhookId !== 'string') return 400;
    const at = Date.parse(payload.timestamp);
    if (!Number.isFinite(at) || Math.abs(Date.now() - at) > REPLAY_WINDOW_MS) return 401; // a replay
    if (payload.appId !== this.cfg.appId) return 401;
    if (payload.locationId !== this.cfg.locationId) return 403;
    const webhookId = payload.webhookId;
    const deadline = now() + HANDLER_BUDGET_MS;
    return this.webhookLocks.run(webhookId, async () => {
      const seen = this.state.get('webhook', webhookId);
      if (seen && seen.done) return 200;
      let event;
      let order = null;
      try {
        if (ORDER_EVENTS.has(payload.type) && typeof payload._id === 'string') {
          order = await this.syncOrder(payload._id, deadline);
        }
        event = this.eventFor(webhookId, payload);
        await this.rankr('POST', '/v1/events', event, { key: webhookId, deadline });
      } catch (err) {
        if (!(err instanceof Unavailable || err instanceof Refused)) throw err;
        log('warn', `webhook ${webhookId} not synced: ${err.message}`);
        return 429; // GHL retries only a 429; reconciliation repairs the rest
      }
      this.state.put('webhook', webhookId, { event, done: true });
      if (order) await this.routing.afterSync(order, deadline); // best effort: reconciliation repairs it
      return 200;
    });
  }

  // ---- Rankr fulfillment.requested -------------------------------------------------------------

  /** The legacy RSA-SHA256 (PKCS#1 v1.5) x-wh-signature over the raw body, only for a delivery without
   * x-ghl-signature and only when WEBHOOK_PUBLIC_KEY is set (GHL sends x-ghl-signature only since 2026). */
  legacyRsaVerifies(req) {
    const signature = req.get('x-wh-signature');
    if (req.get('x-ghl-signature') || !signature || !this.cfg.webhookRsaPublicKey || !Buffer.isBuffer(req.ghlRawBody)) {
      return false;
    }
    try {
      return crypto.verify('sha256', req.ghlRawBody, this.cfg.webhookRsaPublicKey, Buffer.from(signature, 'base64'));
    } catch {
      return false;
    }
  }

  verifyRankrSignature(raw, header) {
    const expected = Buffer.from('sha256=' + crypto.createHmac('sha256', this.cfg.rankrSigningSecret)
      .update(raw).digest('hex'));
    const given = Buffer.from(String(header || '').trim());
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  }

  static quantities(items, idKey) {
    const out = new Map();
    for (const item of Array.isArray(items) ? items : []) {
      const id = String(item?.[idKey] || item?.price?._id);
      out.set(id, (out.get(id) || 0) + (Number(item?.qty) || 0));
    }
    return out;
  }

  static sameQuantities(a, b) {
    if (a.size !== b.size) return false;
    for (const [id, qty] of a) if (b.get(id) !== qty) return false;
    return true;
  }

  /** Did an earlier attempt, whose answer was lost, create it? A fulfillment that was not there
   * before our first attempt and has exactly the requested items. */
  static fulfillmentHappened(record, wanted, fulfillments) {
    const baseline = new Set(record.baseline || []);
    return fulfillments.some((f) => !baseline.has(f._id)
      && SyncService.sameQuantities(SyncService.quantities(f.items, '_id'), wanted));
  }

  async handleRankrEvent(raw, signature) {
    if (!this.verifyRankrSignature(raw, signature)) return 401;
    let event;
    try {
      event = JSON.parse(raw.toString('utf8'));
    } catch {
      return 400;
    }
    if (!event || typeof event !== 'object' || typeof event.eventId !== 'string') return 400;
    if (PROVIDER_EVENTS.has(event.eventType)) return this.routing.handleEvent(event, now() + HANDLER_BUDGET_MS);
    if (event.eventType !== 'fulfillment.requested') return 200; // nothing to do for other event types
    if (!/^[0-9a-f]{24}$/.test(String(event.orderId)) || !Array.isArray(event.items)) return 400;
    const deadline = now() + HANDLER_BUDGET_MS;
    // One fulfillment at a time: the baseline and the check-before-retry must not interleave.
    return this.fulfillmentLock.run('all', async () => {
      try {
        await this.fulfill(event, deadline);
      } catch (err) {
        if (!(err instanceof Unavailable || err instanceof Refused)) throw err;
        log('warn', `fulfillment ${event.eventId} not done: ${err.message}`);
        return 503;
      }
      return 200;
    });
  }

  async fulfill(event, deadline) {
    const { eventId, orderId } = event;
    const wanted = SyncService.quantities(event.items, 'priceId');
    let record = this.state.get('fulfillment', eventId);
    if (record && record.done) return;
    const existing = await this.listFulfillments(orderId, deadline);
    if (record === null) {
      record = { baseline: existing.map((f) => f._id), done: false };
      this.state.put('fulfillment', eventId, record); // durable before the first POST
    } else if (SyncService.fulfillmentHappened(record, wanted, existing)) {
      this.markFulfilled(eventId, record);
      return;
    }
    const problem = await this.fulfillmentProblem(orderId, wanted, existing, deadline);
    if (problem) { // GHL would refuse it (400): do not send it, tell Rankr instead
      await this.alert('warning', `fulfillment.requested ${eventId} for order ${orderId} not possible: ${problem}`,
        `fulfillment-refused-${eventId}`, orderId);
      this.markFulfilled(eventId, record);
      return;
    }
    const body = {
      ...this.alt(),
      items: [...wanted].map(([priceId, qty]) => ({ priceId, qty })),
      trackings: Array.isArray(event.trackings) ? event.trackings : [],
      notifyCustomer: Boolean(event.notifyCustomer),
    };
    for (let attempt = 0; ; attempt++) {
      if (attempt >= 4) throw new Unavailable(`could not create the fulfillment for ${eventId}`, 'GHL');
      if (attempt) await this.pauseWithin(backoff(attempt - 1), deadline);
      try {
        await this.ghlCall(`create fulfillment for ${orderId}`, (options) =>
          this.ghl.payments.createOrderFulfillment({ orderId }, body, options), { deadline, write: true });
        break;
      } catch (err) {
        if (!(err instanceof Unavailable)) throw err;
        // No answer, 5xx or 429: it may or may not have been created. Look before posting again.
        if (SyncService.fulfillmentHappened(record, wanted, await this.listFulfillments(orderId, deadline))) break;
      }
    }
    this.markFulfilled(eventId, record);
  }

  async fulfillmentProblem(orderId, wanted, existing, deadline) {
    const ordered = SyncService.quantities((await this.getOrder(orderId, deadline))?.items, 'priceId');
    const done = new Map();
    for (const f of existing) {
      for (const [id, qty] of SyncService.quantities(f.items, '_id')) done.set(id, (done.get(id) || 0) + qty);
    }
    for (const [priceId, qty] of wanted) {
      const left = (ordered.get(priceId) || 0) - (done.get(priceId) || 0);
      if (qty <= 0 || left < qty) return `${qty} x ${priceId} requested, ${Math.max(0, left)} unfulfilled`;
    }
    return wanted.size ? '' : 'no items';
  }

  markFulfilled(eventId, record) {
    this.state.put('fulfillment', eventId, { ...record, done: true });
  }

  // ---- reconciliation --------------------------------------------------------------------------

  /** Page every list to the end; PUT whatever differs from what Rankr last got from us. */
  async reconcileOnce() {
    let changed = 0;
    const orders = await this.listOrders();
    for (const order of orders) {
      changed += await this.upsert('orders', order);
      if (this.acuity) await this.acuity.ghlOrder(order);
    }
    for (const txn of await this.listTransactions({})) {
      changed += await this.upsert('transactions', txn);
      if (this.acuity) await this.acuity.ghlTransaction(txn);
      else if (this.workflow) changed += await this.workflow.transaction(txn);
    }
    for (const sub of await this.listSubscriptions()) changed += await this.upsert('subscriptions', sub);
    return changed + await this.routing.reconcile(orders);
  }

  async reconcileLoop() {
    while (!this.stopping) {
      const calls = this.ghlCalls;
      try {
        const changed = await this.reconcileOnce();
        if (changed) log('info', `reconciled: ${changed} record(s) written`);
        this.ghlRecovered();
      } catch (err) {
        if (err instanceof Unavailable || err instanceof Refused) {
          log('warn', `reconciliation failed: ${err.message}`);
          if (err.service === 'GHL' && !this.stopping) await this.ghlFailing(err);
        } else {
          log('error', `reconciliation crashed: ${err.stack || err}`);
        }
      }
      // Never use more than half the burst budget on polling, whatever the interval.
      const spent = Math.max(0, this.ghlCalls - calls) * this.limiter.intervalMs / Math.max(1, Math.floor(this.limiter.max / 2));
      await this.waitOrStop(Math.max(this.cfg.syncIntervalMs, spent));
    }
  }

  /** After 5 failed reconciliations in a row, or failures for over 3 intervals: ONE critical alert
   * per outage (the key names the outage's start, kept durably), and keep retrying. */
  async ghlFailing(err) {
    this.failedSyncs += 1;
    let outage = this.state.get('meta', 'outage');
    if (outage === null) {
      outage = { start: new Date().toISOString(), alerted: false };
      this.state.put('meta', 'outage', outage);
    }
    if (outage.alerted) return;
    const age = Date.now() - Date.parse(outage.start);
    if (this.failedSyncs >= 5 || (this.failedSyncs >= 2 && age > 3 * this.cfg.syncIntervalMs)) {
      try {
        await this.alert('critical', `GHL has been failing since ${outage.start}: ${err.message}`.slice(0, 500),
          `ghl-down-${outage.start}`);
      } catch (alertErr) {
        log('warn', `could not post the alert: ${alertErr.message}`);
        return;
      }
      this.state.put('meta', 'outage', { ...outage, alerted: true });
    }
  }

  ghlRecovered() {
    this.failedSyncs = 0;
    if (this.state.get('meta', 'outage') !== null) this.state.delete('meta', 'outage');
  }

  // ---- HTTP server -----------------------------------------------------------------------------

  buildApp() {
    const app = express();
    app.disable('x-powered-by');
    let active = 0;
    this.activeRequests = () => active;
    app.use((req, res, next) => {
      active += 1;
      res.on('close', () => { active -= 1; });
      next();
    });

    app.get(this.cfg.routes.health, (req, res) => res.json({ ok: true }));

    // Rankr signs the raw body (HMAC): keep the bytes for this route, before the JSON parser.
    app.post(this.cfg.routes.rankrEvents, express.raw({ type: () => true, limit: '1mb' }), (req, res, next) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      this.handleRankrEvent(raw, req.get('x-rankr-signature'))
        .then((status) => res.status(status).json({ status }), next);
    });

    // Acuity signs the raw form-encoded body: the bytes as received, never a re-encoded form.
    if (this.acuity) {
      app.post(this.cfg.routes.acuityWebhook, express.raw({ type: () => true, limit: '1mb' }), (req, res, next) => {
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        this.acuity.handleWebhook(raw, req.get('x-acuity-signature'))
          .then((status) => res.status(status).json({ status }), next);
      });
    }

    // GHL workflow deliveries: unsigned JSON with the shared secret in X-Workflow-Secret.
    if (this.workflow) {
      app.post(this.cfg.routes.workflowWebhook, express.raw({ type: () => true, limit: '1mb' }), (req, res, next) => {
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        this.workflow.handle(raw, req.headers).then((status) => res.status(status).json({ status }), next);
      });
    }

    // The raw bytes are kept under a name the SDK does not read (it verifies x-ghl-signature over
    // JSON.stringify(req.body), which the sandbox's bytes equal): only the legacy RSA check uses them.
    app.use(express.json({ limit: '1mb', verify: (req, _res, buf) => { req.ghlRawBody = buf; } }));

    // The SDK's middleware verifies x-ghl-signature and the appId, and flags the request.
    app.use(this.cfg.routes.ghlWebhooks, this.ghl.webhooks.subscribe());
    app.post(this.cfg.routes.ghlWebhooks, (req, res, next) => {
      this.handleGhlWebhook(req).then((status) => res.status(status).json({ status }), next);
    });

    app.use((req, res) => res.status(404).json({ status: 404 }));
    // eslint-disable-next-line no-unused-vars
    app.use((err, req, res, next) => {
      const status = err.status || err.statusCode || 500;
      if (status >= 500) log('error', `${req.method} ${req.path} failed: ${err.stack || err}`);
      res.status(status >= 400 && status < 600 ? status : 500).json({ status });
    });
    return app;
  }

  start() {
    const app = this.buildApp();
    return new Promise((resolve, reject) => {
      this.server = app.listen(this.cfg.port, this.cfg.host, () => {
        log('info', `listening on ${this.cfg.host}:${this.cfg.port} (GHL ${this.cfg.apiUrl}, location ${this.cfg.locationId}`
          + `${this.acuity ? `, Acuity ${this.cfg.acuity.baseUrl}` : ''})`);
        this.reconciling = this.reconcileLoop();
        this.acuityReconciling = this.acuity ? this.acuity.reconcileLoop(this.cfg.syncIntervalMs) : Promise.resolve();
        resolve();
      });
      this.server.on('error', reject);
    });
  }

  async stop() {
    if (this.stopping) return;
    this.stopping = true;
    log('info', 'shutting down');
    for (const done of this.stopWaiters) done(true);
    this.server.close(); // no new connections; idle keep-alive ones are closed
    const deadline = now() + 2000; // the supervisor sends SIGKILL 5 s after SIGTERM
    while (this.activeRequests() > 0 && now() < deadline) await sleep(50);
    await Promise.race([Promise.all([this.reconciling, this.acuityReconciling]), sleep(Math.max(0, deadline - now()))]);
    this.state.close();
  }
}

async function main() {
  let cfg;
  try {
    cfg = loadConfig();
  } catch (err) {
    console.error(`ghl-rankr-sync: ${err.message} (see README.md)`);
    process.exit(2);
  }
  logThreshold = LEVELS[cfg.logLevel] || LEVELS.info;
  const service = new SyncService(cfg);
  const shutdown = () => service.stop().then(() => process.exit(0), (err) => {
    log('error', `shutdown failed: ${err.stack || err}`);
    process.exit(1);
  });
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  try {
    await service.start();
  } catch (err) {
    console.error(`ghl-rankr-sync: cannot listen on ${cfg.host}:${cfg.port}: ${err.message}`);
    process.exit(1);
  }
}

if (require.main === module) main();

module.exports = { SyncService, State, KeyedLock, RateLimiter, loadConfig };
