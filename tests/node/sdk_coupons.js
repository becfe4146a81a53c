// The coupon endpoints through GHL's official Node SDK (@gohighlevel/api-client), pointed at the sandbox.
// Env: SANDBOX_URL, GHL_TOKEN (a private integration token), LOCATION_ID, COUPON_CODE. Prints one JSON
// object with every answer (or the SDK error's status and body) to stdout.
'use strict';
const { HighLevel } = require('@gohighlevel/api-client');

async function attempt(call) {
  try {
    return { ok: true, body: await call() };
  } catch (err) {
    return { ok: false, status: err.statusCode, body: err.response };
  }
}

async function main() {
  const env = process.env;
  const ghl = new HighLevel({ privateIntegrationToken: env.GHL_TOKEN, logLevel: 'none' });
  ghl.getHttpClient().defaults.baseURL = env.SANDBOX_URL;
  const p = ghl.payments;
  const loc = { altId: env.LOCATION_ID, altType: 'location' };
  const out = {};
  out.created = await attempt(() => p.createCoupon({
    ...loc, name: 'Node Ten', code: env.COUPON_CODE, discountType: 'percentage', discountValue: 10,
    startDate: '2020-01-01T00:00:00.000Z', usageLimit: 5,
  }));
  const id = out.created.ok ? out.created.body._id : 'none';
  out.byId = await attempt(() => p.getCoupon({ ...loc, id }));
  out.byCode = await attempt(() => p.getCoupon({ ...loc, code: env.COUPON_CODE.toLowerCase() }));
  out.listed = await attempt(() => p.listCoupons({ ...loc, status: 'active', search: env.COUPON_CODE, limit: 10, offset: 0 }));
  out.updated = await attempt(() => p.updateCoupon({
    ...loc, id, name: 'Node Five', code: env.COUPON_CODE, discountType: 'amount', discountValue: 5,
    startDate: '2020-01-01T00:00:00.000Z', endDate: '2020-02-01T00:00:00.000Z',
  }));
  out.expired = await attempt(() => p.listCoupons({ ...loc, status: 'expired' }));
  out.invalid = await attempt(() => p.createCoupon({ ...loc, name: 'x', code: 'BAD', discountType: 'free', discountValue: 1,
    startDate: '2020-01-01T00:00:00.000Z' }));
  out.deleted = await attempt(() => p.deleteCoupon({ ...loc, id }));
  out.gone = await attempt(() => p.getCoupon({ ...loc, id }));
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
