'use strict';
// Records manual payments and lists order notes through @gohighlevel/api-client's payments service,
// against the sandbox, for tests/test_api_record_payment.py. Prints one JSON line with what happened.
//
// Environment: SANDBOX_URL, TOKEN (a private integration token), LOCATION, ORDER_ID (an unpaid order),
// AMOUNT (major units, less than its balance due).

const { HighLevel, LogLevel } = require('@gohighlevel/api-client');

async function attempt(call) {
  try {
    return { ok: true, data: await call() };
  } catch (err) {
    return { ok: false, name: err.constructor.name, status: err.statusCode, message: err.message,
             body: err.response };
  }
}

async function main() {
  const env = process.env;
  const ghl = new HighLevel({ privateIntegrationToken: env.TOKEN, logLevel: LogLevel.ERROR });
  ghl.httpClient.defaults.baseURL = env.SANDBOX_URL;
  const orderId = env.ORDER_ID;
  const base = { altId: env.LOCATION, altType: 'location' };
  const out = {};
  out.partial = await attempt(() => ghl.payments.recordOrderPayment({ orderId }, {
    ...base, mode: 'card', card: { type: 'mastercard', last4: '4444' }, amount: Number(env.AMOUNT),
    isPartialPayment: true, notes: 'npm: first half by card', meta: { by: 'npm' },
  }));
  out.overpay = await attempt(() => ghl.payments.recordOrderPayment({ orderId }, {
    ...base, mode: 'cash', amount: 1e8, isPartialPayment: true,
  }));
  out.invalid = await attempt(() => ghl.payments.recordOrderPayment({ orderId }, { ...base, mode: 'barter' }));
  out.rest = await attempt(() => ghl.payments.recordOrderPayment({ orderId }, {
    ...base, mode: 'cheque', cheque: { number: '129-129-129-912' }, notes: 'npm: the rest by cheque',
  }));
  out.notes = await attempt(() => ghl.payments.listOrderNotes({ ...base, orderId }));
  out.missing = await attempt(() => ghl.payments.recordOrderPayment({ orderId: '0123456789abcdef01234567' },
    { ...base, mode: 'cash' }));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
