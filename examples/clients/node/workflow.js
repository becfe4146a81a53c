'use strict';
/**
 * GHL workflow deliveries (contracts/CLIENT_CONTRACT.md §7): a Payment Received workflow's Custom Webhook
 * posts each payment here. The delivery is unsigned and carries no event id: the shared secret in
 * `X-Workflow-Secret` is the only proof it is GHL's, and the transaction id is the dedupe key. On only when
 * GHL_WORKFLOW_SECRET is set.
 *
 * The body is whatever the workflow's author typed: it is a notification only. The transaction is read
 * back through GHL's SDK and written as one Rankr payment (`ghl:<transactionId>`, the same record the
 * Acuity part writes for a GHL transaction); reconciliation polls the transactions too, since a workflow
 * never redelivers a lost delivery.
 */

const crypto = require('node:crypto');
const { Unavailable, Refused, now } = require('./common');

const HANDLER_BUDGET_MS = 4000; // answer (5xx if need be) well before the workflow gives up on the attempt
const TRANSACTION_ID = /^[0-9A-Za-z_-]{1,64}$/;

/** Constant-time comparison of the secret the workflow sent with ours (hashes: equal lengths). */
function secretMatches(expected, given) {
  const a = crypto.createHash('sha256').update(String(given ?? '')).digest();
  const b = crypto.createHash('sha256').update(String(expected)).digest();
  return Boolean(expected) && crypto.timingSafeEqual(a, b);
}

/** A GHL transaction (a list item, or the detail with its `contactSnapshot`) as a Rankr payment. */
function paymentBody(txn) {
  const snap = txn.contactSnapshot || {};
  return {
    paymentKey: `ghl:${txn._id}`, source: 'ghl', sourceKind: 'transaction', sourceId: String(txn._id),
    parentId: String(txn.entityId || ''), amount: Number(txn.amount ?? 0), currency: String(txn.currency || ''),
    status: String(txn.status || ''), customerEmail: String(txn.contactEmail || snap.email || '').trim().toLowerCase(),
    paidAt: String(txn.createdAt || ''),
  };
}

class WorkflowSync {
  constructor(service, secret) {
    this.service = service;
    this.secret = secret;
    this.state = service.state;
  }

  /** PUT the transaction's payment unless Rankr already has this body (a lost cache costs one idempotent PUT). */
  async transaction(txn, deadline) {
    const body = paymentBody(txn);
    const key = `payments:${body.paymentKey}`;
    const hash = crypto.createHash('sha256').update(JSON.stringify(body)).digest('hex');
    return this.service.recordLocks.run(key, async () => {
      if (this.state.get('written', key)?.hash === hash) return false;
      await this.service.rankr('PUT', `/v1/payments/${encodeURIComponent(body.paymentKey)}`, body, { deadline });
      this.state.put('written', key, { hash }, { durable: false });
      return true;
    });
  }

  getTransaction(transactionId, deadline) {
    return this.service.ghlCall(`get transaction ${transactionId}`, (options) =>
      this.service.ghl.payments.getTransactionById({ transactionId, ...this.service.alt() }, options), { deadline });
  }

  /** 401 without the secret, 400 without a transaction id, 200 once the payment is in Rankr, 503 while GHL
   * or Rankr fail (the workflow retries 5xx), 404 when GHL has no such transaction. */
  async handle(raw, headers) {
    if (!secretMatches(this.secret, headers['x-workflow-secret'])) return 401;
    let payload;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      return 400;
    }
    const transactionId = payload && typeof payload === 'object' ? String(payload.transactionId ?? '') : '';
    if (!TRANSACTION_ID.test(transactionId)) return 400;
    const deadline = now() + HANDLER_BUDGET_MS;
    try {
      const txn = await this.getTransaction(transactionId, deadline);
      await this.transaction(txn?.data && txn.data._id ? txn.data : txn, deadline);
    } catch (err) {
      if (err instanceof Refused && err.service === 'GHL') {
        this.service.log('warn', `workflow delivery for transaction ${transactionId}: ${err.message}`);
        return 404;
      }
      if (err instanceof Unavailable || err instanceof Refused) {
        this.service.log('warn', `workflow delivery for transaction ${transactionId} not synced: ${err.message}`);
        return 503;
      }
      throw err;
    }
    return 200;
  }
}

module.exports = { WorkflowSync, paymentBody, secretMatches };
