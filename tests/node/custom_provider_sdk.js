'use strict';
// Runs custom payment provider calls through @gohighlevel/api-client against the sandbox, for
// tests/test_api_custom_provider.py. Environment: BASE_URL (the sandbox), CLIENT_ID, CLIENT_SECRET and
// TOKEN (a location access token). argv[2]: a JSON list of steps `{op, params?, body?}`, where `op` is a
// method of `ghl.payments`; each step runs in order and its answer (or its error's status and body) is
// printed, one JSON list, on stdout.

const { HighLevel, LogLevel } = require('@gohighlevel/api-client');

HighLevel.BASE_URL = process.env.BASE_URL;
const ghl = new HighLevel({
  clientId: process.env.CLIENT_ID,
  clientSecret: process.env.CLIENT_SECRET,
  locationAccessToken: process.env.TOKEN,
  apiVersion: '2021-07-28',
  logLevel: LogLevel.ERROR,
});

async function main() {
  const steps = JSON.parse(process.argv[2]);
  const out = [];
  for (const step of steps) {
    const method = ghl.payments[step.op].bind(ghl.payments);
    const args = [];
    if (step.params !== undefined) args.push(step.params);
    if (step.body !== undefined) args.push(step.body);
    try {
      out.push({ ok: true, data: await method(...args) });
    } catch (err) {
      out.push({ ok: false, status: err.statusCode ?? null, body: err.response ?? null, message: err.message });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => { console.error(err); process.exit(1); });
