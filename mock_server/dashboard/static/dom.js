// ghl-sandbox dashboard: the DOM and control-plane helpers every panel script shares (app.js, workflows.js,
// reports.js), loaded first. Vanilla JS, no build step: they hang off one global, `SandboxDom`.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // An element with props (class, text, value, title, on<event> handlers, dataset, else attributes) and children.
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k === "value") node.value = v;
      else if (k === "title") node.title = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function errorText(err) {
    return err && err.message ? err.message : String(err);
  }

  // A control-plane call; a non-2xx answer throws an Error carrying `status` and the parsed body (`data`).
  async function api(method, path, body) {
    const opts = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") {
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-Sandbox-Dashboard"] = "1"; // the admin guard wants it on cookie-authenticated writes
      opts.body = JSON.stringify(body || {});
    }
    const response = await fetch(path, opts);
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = text; }
    if (!response.ok) {
      let message = response.statusText;
      if (data && data.message) message = Array.isArray(data.message) ? data.message.join("; ") : String(data.message);
      const err = new Error(response.status + " " + message);
      err.status = response.status;
      err.data = data;
      throw err;
    }
    return data;
  }

  window.SandboxDom = { $, $$, el, errorText, api };
})();
