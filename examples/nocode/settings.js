/**
 * Node-RED settings for the GHL workflow -> Rankr recipe (see README.md).
 *
 * Run: `node node_modules/node-red/red.js --settings settings.js` (or `npm start`) with
 *   PORT                 the port to serve on (127.0.0.1 only; default 1880)
 *   NODE_RED_USER_DIR    where Node-RED keeps its own files (default: ./data)
 *   GHL_WORKFLOW_SECRET  the shared secret the GHL workflow sends in X-Workflow-Secret
 *   RANKR_API_BASE_URL   Rankr's API base URL (ends in /rankr against the sandbox)
 *   RANKR_API_KEY        the Rankr API key (bearer)
 *
 * The editor and the admin API are off: the flow is flows.json beside this file, under version control,
 * and nobody can change it on a running instance.
 */
'use strict';

const path = require('node:path');

const port = Number(process.env.PORT || 1880);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  throw new Error(`PORT is not a port: ${process.env.PORT}`);
}

module.exports = {
  uiHost: '127.0.0.1',
  uiPort: port,
  userDir: process.env.NODE_RED_USER_DIR || path.join(__dirname, 'data'),
  flowFile: path.join(__dirname, 'flows.json'),
  flowFilePretty: true,
  credentialSecret: false, // the flow holds no credentials: every secret comes from the environment

  // No editor, no admin API: the flow is deployed from the repository only.
  disableEditor: true,
  httpAdminRoot: false,
  httpNodeRoot: '/',
  httpNodeMaxRequestSize: '1mb',
  httpRequestTimeout: 10000, // the http request node's timeout for Rankr calls, in ms

  functionExternalModules: false,
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  telemetry: { enabled: false, updateNotification: false },
  diagnostics: { enabled: false, ui: false },
  runtimeState: { enabled: false, ui: false },
  logging: { console: { level: process.env.NODE_RED_LOG_LEVEL || 'info', metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
