'use strict';
// A Company (agency) install through @gohighlevel/api-client's oauth service, against the sandbox, for
// tests/test_api_oauth_company.py: the code becomes a Company token (`getAccessToken`, user_type=Company),
// the Company token is refused by a payments endpoint, `getLocationAccessToken` (POST /oauth/locationToken)
// turns it into a location token that lists the location's orders, and another company is refused.
// Prints one JSON line with what happened.
//
// Environment: SANDBOX_URL, CLIENT_ID, CLIENT_SECRET, CODE (an authorization code minted with
// userType=Company), LOCATION.

const { HighLevel, LogLevel } = require('@gohighlevel/api-client');

async function attempt(call) {
  try {
    return { ok: true, data: await call() };
  } catch (err) {
    return { ok: false, name: err.constructor.name, status: err.statusCode, message: err.message,
             body: err.response };
  }
}

function client(extra) {
  const env = process.env;
  const ghl = new HighLevel({ clientId: env.CLIENT_ID, clientSecret: env.CLIENT_SECRET, logLevel: LogLevel.ERROR,
                              ...extra });
  ghl.httpClient.defaults.baseURL = env.SANDBOX_URL;
  return ghl;
}

async function main() {
  const env = process.env;
  const out = {};
  out.company = await attempt(() => client({}).oauth.getAccessToken({
    client_id: env.CLIENT_ID, client_secret: env.CLIENT_SECRET, grant_type: 'authorization_code', code: env.CODE,
    user_type: 'Company',
  }));
  if (!out.company.ok) {
    process.stdout.write(JSON.stringify(out) + '\n');
    return;
  }
  const agency = client({ agencyAccessToken: out.company.data.access_token });
  const companyId = out.company.data.companyId;
  out.refused = await attempt(() => agency.payments.listOrders({ altId: env.LOCATION, altType: 'location' }));
  out.location = await attempt(() => agency.oauth.getLocationAccessToken({ companyId, locationId: env.LOCATION }));
  if (out.location.ok) {
    const located = client({ locationAccessToken: out.location.data.access_token });
    out.orders = await attempt(() => located.payments.listOrders({ altId: env.LOCATION, altType: 'location',
                                                                    limit: 2 }));
  }
  out.otherCompany = await attempt(() => agency.oauth.getLocationAccessToken({ companyId: 'not-our-company',
                                                                               locationId: env.LOCATION }));
  out.missing = await attempt(() => agency.oauth.getLocationAccessToken({ companyId }));
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
