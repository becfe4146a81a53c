// Every list of GHL's official Payments spec paged through the official Node SDK (@gohighlevel/api-client),
// pointed at the sandbox, and every listed order, transaction, subscription and coupon fetched by id
// (tests/test_sdk_paging.py validates what this prints).
// Env: SANDBOX_URL, GHL_TOKEN (a private integration token), LOCATION_ID, PAGE_SIZES (JSON: list operation ->
// page size), ORDER_IDS (JSON: orders whose fulfilments and notes to read). Prints one JSON object:
// {pages: {op: [{limit, offset, body}]}, fulfillments: {orderId: body}, notes: {orderId: body}, byId: {op: [body]}}.
'use strict';
const { HighLevel } = require('@gohighlevel/api-client');

const env = process.env;
const ghl = new HighLevel({ privateIntegrationToken: env.GHL_TOKEN, logLevel: 'none' });
ghl.getHttpClient().defaults.baseURL = env.SANDBOX_URL;
const p = ghl.payments;
const loc = { altId: env.LOCATION_ID, altType: 'location' };

const lists = {
  'list-orders': (limit, offset) => p.listOrders({ altId: env.LOCATION_ID, limit, offset }),
  'list-transactions': (limit, offset) => p.listTransactions({ ...loc, limit, offset }),
  'list-subscriptions': (limit, offset) => p.listSubscriptions({ ...loc, limit, offset }),
  'list-coupons': (limit, offset) => p.listCoupons({ ...loc, limit, offset }),
  'list-integration-providers': (limit, offset) => p.listIntegrationProviders({ ...loc, limit, offset }),
};

const byId = {
  // The live API wants altType on get-order-by-id and the SDK has no parameter for it: axios options'
  // `params` replace the SDK's query, so altId goes in again.
  'get-order-by-id': ['list-orders', (r) => p.getOrderById({ orderId: r._id, altId: env.LOCATION_ID },
    { params: { altId: env.LOCATION_ID, altType: 'location' } })],
  'get-transaction-by-id': ['list-transactions', (r) => p.getTransactionById({ transactionId: r._id, ...loc })],
  'get-subscription-by-id': ['list-subscriptions', (r) => p.getSubscriptionById({ subscriptionId: r._id, ...loc })],
  'get-coupon': ['list-coupons', (r) => p.getCoupon({ ...loc, id: r._id, code: r.code })],
};

// A fixed number of calls in flight at once.
async function inBatches(rows, call, width = 16) {
  const out = [];
  for (let i = 0; i < rows.length; i += width) {
    out.push(...await Promise.all(rows.slice(i, i + width).map(call)));
  }
  return out;
}

async function main() {
  const sizes = JSON.parse(env.PAGE_SIZES);
  const out = { pages: {}, fulfillments: {}, notes: {}, byId: {} };
  for (const [op, call] of Object.entries(lists)) {
    const pages = [];
    const limit = sizes[op];
    let offset = 0;
    while (pages.length < 200) { // on until totalCount is reached (the providers list has none: a short page)
      const body = await call(limit, offset);
      pages.push({ limit, offset, body });
      const rows = body.data || body.providers || [];
      offset += rows.length;
      if (rows.length === 0 || ('totalCount' in body && offset >= body.totalCount) || rows.length < limit) break;
    }
    out.pages[op] = pages;
  }
  for (const orderId of JSON.parse(env.ORDER_IDS)) {
    out.fulfillments[orderId] = await p.listOrderFulfillment({ orderId, ...loc });
    out.notes[orderId] = await p.listOrderNotes({ orderId, ...loc });
  }
  for (const [op, [listOp, call]] of Object.entries(byId)) {
    const rows = out.pages[listOp].flatMap((page) => page.body.data);
    out.byId[op] = await inBatches(rows, call);
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err.statusCode, JSON.stringify(err.response), err.stack);
  process.exit(1);
});
