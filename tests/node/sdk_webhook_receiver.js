'use strict';
// A webhook receiver built as @gohighlevel/api-client 3.1.0's docs and sample app show it: an express
// app, a JSON body parser, then `ghl.webhooks.subscribe()` on the webhook route. It records, per
// delivery, what the SDK decided and what a Node receiver can check, for tests/test_node_sdk_webhooks.py.
//
// Two routes, one per documented setup:
//   POST /webhooks/ghl          `app.use(express.json())` and nothing else (the sample app and the older
//                               README): no raw body, so the SDK verifies x-ghl-signature over
//                               JSON.stringify(req.body) (webhook-manager.js getSignedPayload).
//   POST /rawbody/webhooks/ghl  3.1.0's README: express.json({ verify }) keeps req.rawBody for the SDK.
// GET /records answers the records, DELETE /records clears them.
//
// Environment: PORT (0 picks one), CLIENT_ID and CLIENT_SECRET (the SDK checks a webhook's appId against
// CLIENT_ID up to its first '-'), WEBHOOK_SIGNATURE_PUBLIC_KEY (Ed25519, PEM, handed to the SDK as the
// README does) and WEBHOOK_PUBLIC_KEY (RSA, PEM: the SDK no longer reads it, as GHL no longer sends
// x-wh-signature; the sandbox sends it with --legacy-wh-signature, and we check it
// ourselves with Node's crypto). Prints `RECEIVER_READY <url>` once listening.

const crypto = require('node:crypto');
const express = require('express');
const { HighLevel, LogLevel } = require('@gohighlevel/api-client');

// The SDK reads only `req.rawBody` and `req.body` (getSignedPayload/parseBody): our own copy of the bytes
// goes under another name, so on the plain route the SDK still sees no raw body.
const TEED = 'sandboxTeedBody';
const RSA_KEY = process.env.WEBHOOK_PUBLIC_KEY || '';

const ghl = new HighLevel({
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
  webhookPublicKey: process.env.WEBHOOK_SIGNATURE_PUBLIC_KEY,
  logLevel: LogLevel.WARN,
});

const records = [];

function legacyRsaVerifies(payload, signature) {
  if (!signature || !RSA_KEY) return false;
  try {
    // RSA-SHA256 PKCS#1 v1.5 (createVerify's default padding for an RSA key), base64 signature.
    return crypto.createVerify('RSA-SHA256').update(payload, 'utf8').verify(RSA_KEY, signature, 'base64');
  } catch {
    return false;
  }
}

// The bytes are exactly what JSON.stringify writes for the value they hold (and are valid UTF-8).
function stringifyIdentity(raw) {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    return JSON.stringify(JSON.parse(text)) === text;
  } catch {
    return false;
  }
}

function header(req, name) {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function recorder(route) {
  return (req, res) => {
    const raw = req[TEED] || Buffer.alloc(0);
    const body = req.body;
    const accepted = req.isSignatureValid === true && req.skippedSignatureVerification === false;
    records.push({
      route,
      type: body && typeof body === 'object' ? body.type ?? null : null,
      webhookId: body && typeof body === 'object' ? body.webhookId ?? null : null,
      signatureHeaders: ['x-ghl-signature', 'x-wh-signature'].filter((h) => header(req, h)),
      // What the SDK's middleware set on the request; undefined (null here) means it passed the webhook
      // through unverified, e.g. on an appId that does not belong to CLIENT_ID.
      isSignatureValid: req.isSignatureValid ?? null,
      skippedSignatureVerification: req.skippedSignatureVerification ?? null,
      sdkAccepted: accepted,
      legacyRsaOverStringify: legacyRsaVerifies(JSON.stringify(req.body), header(req, 'x-wh-signature')),
      stringifyIdentity: stringifyIdentity(raw),
      rawLength: raw.length,
    });
    // As the README's handler: a webhook whose signature did not verify is refused.
    if (!accepted) return res.status(401).json({ success: false });
    return res.json({ success: true });
  };
}

const app = express();

// Tees the request stream into req[TEED]. Registered in the same tick as the body parser's own
// listeners, so both see every chunk; ours runs first on 'end', so the copy is complete by the handler.
app.use((req, _res, next) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => { req[TEED] = Buffer.concat(chunks); });
  next();
});

// 3.1.0's README: keep the raw body for the SDK. Mounted before the plain parser, which then skips
// the already-read request.
app.use('/rawbody/webhooks/ghl', express.json({ verify: (req, _res, buf) => { req.rawBody = buf; } }));

// The sample app's setup: a JSON body parser and the SDK middleware, nothing else.
app.use(express.json());
app.use('/webhooks/ghl', ghl.webhooks.subscribe());
app.post('/webhooks/ghl', recorder('plain'));

app.use('/rawbody/webhooks/ghl', ghl.webhooks.subscribe());
app.post('/rawbody/webhooks/ghl', recorder('rawbody'));

app.get('/records', (_req, res) => res.json(records));
app.delete('/records', (_req, res) => { records.length = 0; res.json({ cleared: true }); });

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`RECEIVER_READY http://127.0.0.1:${server.address().port}`);
});

function stop() { server.close(() => process.exit(0)); setTimeout(() => process.exit(0), 1000).unref(); }
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
