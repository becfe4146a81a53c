'use strict';
/** What index.js and acuity.js share: the two failure kinds, monotonic time, backoff. */

const { performance } = require('node:perf_hooks');

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 5000;
const CALL_TIMEOUT_MS = 10000;

/** A service failed (5xx, 429, no answer, budget spent): try again later. */
class Unavailable extends Error {
  constructor(message, service = '') {
    super(message);
    this.service = service;
  }
}

/** A non-retryable 4xx answer (`status` when there was one). */
class Refused extends Error {
  constructor(message, service = '', status = undefined) {
    super(message);
    this.service = service;
    this.status = status;
  }
}

const now = () => performance.now(); // monotonic milliseconds
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** 200 ms, 400 ms, 800 ms ... capped at 5 s, with up to +50% jitter (the gaps still grow). */
function backoff(attempt, base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS) {
  return Math.min(cap, base * 2 ** attempt * (1 + Math.random() * 0.5));
}

function callTimeout(deadline) {
  return deadline === undefined ? CALL_TIMEOUT_MS
    : Math.max(100, Math.min(CALL_TIMEOUT_MS, Math.floor(deadline - now())));
}

module.exports = { Unavailable, Refused, now, sleep, backoff, callTimeout, BACKOFF_CAP_MS };
