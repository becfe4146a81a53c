// ghl-sandbox dashboard: the Workflows panel (vanilla JS, no build step, no dependencies).
// Everything it shows and changes goes through the workflows control plane (/_sandbox/workflows…);
// the runs are the webhook deliveries of service `workflows` (/_sandbox/webhooks/deliveries).
// It hears the page's location (event `sandbox:location`) and live feed (event `sandbox:event`) from app.js.
"use strict";

(function () {
  const BASE = "/_sandbox/workflows";
  const RUNS_SHOWN = 5;
  const METHODS = ["POST", "GET", "PUT", "DELETE"];
  const CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain"];
  const AUTH_FIELDS = {
    none: [],
    basic: [["username", "Username"], ["password", "Password"]],
    bearer: [["token", "Token"]],
    api_key: [["keyName", "Header name"], ["keyValue", "Value"]],
    oauth2: [["tokenName", "Managed token"]],
  };
  const AUTH_LABELS = { none: "None", basic: "Basic", bearer: "Bearer token", api_key: "API key (header)", oauth2: "OAuth2 (managed token)" };
  const IS = ["is", "is_not"];
  const NUMERIC = ["gt", "lt", "eq"];
  // Each trigger's filters (mock_server/workflows/triggers.py TRIGGERS; the browser test holds them equal):
  // operators, and the values a field takes (none: free text).
  const TRIGGERS = {
    payment_received: {
      label: "Payment Received",
      hint: "{{payment.transaction_id}} {{payment.total_amount}} {{payment.currency_code}} {{payment.payment_status}} {{payment.customer.email}}",
      filters: {
        paymentSource: { ops: IS, values: ["calendar", "external", "form", "funnel", "invoice", "manual_payment", "memberships", "website", "survey"] },
        subSource: { ops: IS },
        transactionType: { ops: IS, values: ["customer_present", "customer_not_present"] },
        product: { ops: IS, placeholder: "product id" },
        price: { ops: IS, placeholder: "price id" },
        paymentStatus: { ops: IS, values: ["success", "failed"] },
      },
    },
    order_submitted: {
      label: "Order Submitted",
      hint: "{{order.id}} {{order.total}} {{order.currency_code}} {{order.customer.email}}",
      filters: {
        product: { ops: IS, placeholder: "product id" },
        price: { ops: IS, placeholder: "price id" },
        orderSource: { ops: IS, values: ["external", "form", "membership", "order_form", "payment_link", "store", "survey"] },
        subSource: { ops: IS },
        funnel: { ops: IS, placeholder: "source id" },
        page: { ops: IS },
        submissionType: { ops: IS, values: ["primary", "bump", "upsell"] },
        paymentMode: { ops: IS, values: ["stripe", "paypal"] },
      },
    },
    order_form_submission: {
      label: "Order Form Submission",
      hint: "{{order.id}} {{order.total}} {{order.customer.email}}",
      filters: {
        funnel: { ops: IS, placeholder: "source id" },
        page: { ops: IS },
        product: { ops: IS, placeholder: "product id" },
        submissionType: { ops: IS, values: ["bump", "opt_in", "sale", "upsell"] },
      },
    },
    invoice: {
      label: "Invoice",
      hint: "{{invoice.number}} {{invoice.total_amount}} {{invoice.customer.email}}",
      filters: {
        invoiceStatus: { ops: IS, values: ["paid", "partially_paid", "sent", "void"] },
        hasTag: { ops: IS, placeholder: "a tag" },
      },
    },
    subscription: {
      label: "Subscription",
      hint: "{{subscription.id}} {{subscription.status}} {{subscription.amount}} {{subscription.product_name}}",
      filters: {
        product: { ops: ["is", "is_not", "empty", "not_empty"], placeholder: "product id" },
        status: { ops: IS, values: ["active", "canceled", "expired", "failed", "incomplete", "overdue", "scheduled", "trial", "unpaid"] },
      },
    },
    refund: {
      label: "Refund",
      hint: "{{refund.amount}} {{refund.currency_code}} {{refund.transaction_id}} {{refund.order_id}}",
      filters: {
        status: { ops: IS, values: ["successful", "failed"] },
        amount: { ops: NUMERIC, number: true, placeholder: "major units" },
        source: { ops: IS, values: ["calendar", "communities", "external", "form", "funnel", "invoice", "manual", "membership", "payment_link", "website"] },
        type: { ops: IS, values: ["full", "partial"] },
      },
    },
    inbound_webhook: {
      label: "Inbound Webhook",
      hint: "{{inboundWebhookRequest.body.<key>}} {{inboundWebhookRequest.query.<key>}} {{inboundWebhookRequest.headers.<name>}}",
      filters: {},
    },
  };
  const ALWAYS_HINT = "{{contact.email}} {{location.id}} {{custom_values.<key>}} {{right_now.iso}} {{workflow.name}}";

  const DELETE_ARMED_MS = 4000;  // how long a first click on Delete waits for the confirming one
  const W = {
    armedDelete: null, // {id, until}: the workflow whose Delete was clicked once
    location: "",
    available: null, // null: not asked yet; false: the control plane has no workflows service
    workflows: [],
    runs: new Map(), // workflowId -> deliveries, newest first
    actionNames: new Map(), // targetId -> {workflowId, actionId}
    templates: [],
    customValues: {},
    suggested: {}, // template values the sandbox knows (the location's Rankr account)
    tokens: [],
    editing: null, // the document being edited (null: a new one)
    loadSeq: 0,
  };

  // ---- small helpers (the same conventions as app.js) ----------------------------------------------

  const { $, $$, el, errorText, api } = window.SandboxDom; // dom.js

  function options(values, chosen, labels) {
    return values.map((v) => el("option", { value: v, text: labels ? labels[v] || v : v, selected: v === chosen }));
  }

  function q(params) {
    const parts = Object.entries(params).filter(([, v]) => v).map(([k, v]) => `${k}=${encodeURIComponent(v)}`);
    return parts.length ? "?" + parts.join("&") : "";
  }

  function when(iso) {
    if (!iso) return "";
    return String(iso).replace("T", " ").replace(/\.\d+Z$/, "Z");
  }

  function say(ok, ...parts) {
    const box = $("#wf-result");
    box.className = "result " + (ok ? "ok" : "err");
    box.replaceChildren(...parts.flat().map((p) => (p instanceof Node ? p : document.createTextNode(String(p)))));
  }

  async function busy(button, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (err) {
      say(false, errorText(err));
    } finally {
      if (button) button.disabled = false;
    }
  }

  function copy(text) {
    if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  }

  // ---- the panel's frame ----------------------------------------------------------------------------

  function build() {
    const panel = $("#workflows-panel");
    panel.replaceChildren(
      el("div", { class: "panel-head" },
        el("h2", { text: "Workflows" }),
        el("span", { class: "muted", id: "wf-where" }),
        el("div", { class: "toolbar" },
          el("button", { type: "button", class: "small", id: "wf-refresh", text: "Refresh", onclick: (e) => busy(e.currentTarget, loadAll) }))),
      el("p", { class: "hint", text: "This location's workflows: a payment or order trigger (or an inbound webhook) with filters, and " +
        "Webhook / Custom Webhook actions that the sandbox sends like GHL does: unsigned, rendered from merge fields. " +
        "Each action's deliveries are its runs; they appear in the timeline under the service “workflows”." }),
      el("div", { class: "wf-columns" },
        el("div", { class: "wf-list", id: "wf-list", "data-testid": "wf-list" }),
        el("div", { class: "wf-side" },
          el("nav", { class: "tabs", id: "wf-tabs" },
            el("button", { type: "button", dataset: { wfTab: "editor" }, class: "active", id: "wf-tab-editor", "data-testid": "wf-tab-editor", text: "New workflow" }),
            el("button", { type: "button", dataset: { wfTab: "templates" }, "data-testid": "wf-tab-templates", text: "Templates" }),
            el("button", { type: "button", dataset: { wfTab: "values" }, "data-testid": "wf-tab-values", text: "Custom values" })),
          el("div", { dataset: { wfBody: "editor" } }, editorForm()),
          el("div", { dataset: { wfBody: "templates" }, hidden: true }, el("div", { id: "wf-templates", "data-testid": "wf-templates" })),
          el("div", { dataset: { wfBody: "values" }, hidden: true }, valuesForm()),
          el("div", { id: "wf-result", class: "result", "data-testid": "wf-result", "aria-live": "polite" }))));
    $("#wf-tabs").addEventListener("click", (e) => {
      const b = e.target.closest("button");
      if (b) showTab(b.dataset.wfTab);
    });
  }

  function showTab(name) {
    for (const b of $$("#wf-tabs button")) b.classList.toggle("active", b.dataset.wfTab === name);
    for (const body of $$("#workflows-panel [data-wf-body]")) body.hidden = body.dataset.wfBody !== name;
  }

  // ---- loading ---------------------------------------------------------------------------------------

  async function loadAll() {
    if (!W.location) return;
    const seq = ++W.loadSeq;
    const location = W.location;
    let listed;
    try {
      listed = await api("GET", `${BASE}${q({ locationId: location })}`);
    } catch (err) {
      if (seq !== W.loadSeq) return;
      if (err.status === 404 && /Cannot GET/.test(errorText(err))) { // no such route: no workflows service
        W.available = false;
        $("#workflows-panel .wf-side").hidden = true;
        $("#wf-list").replaceChildren(el("p", { class: "muted", text: "This sandbox serves no workflows (no /_sandbox/workflows)." }));
        return;
      }
      throw err;
    }
    const [values, templates, tokens, locations] = await Promise.all([
      api("GET", `${BASE}/custom-values${q({ locationId: location })}`).catch(() => null),
      W.templates.length ? Promise.resolve(null) : api("GET", `${BASE}/templates`).catch(() => null),
      api("GET", `${BASE}/tokens`).catch(() => null),
      api("GET", "/_sandbox/locations").catch(() => null),
    ]);
    if (seq !== W.loadSeq || location !== W.location) return;
    W.available = true;
    $("#workflows-panel .wf-side").hidden = false;
    W.workflows = (listed && listed.workflows) || [];
    W.customValues = valuesOf(values);
    W.suggested = suggestions((Array.isArray(locations) ? locations : []).find((l) => l.locationId === location));
    if (templates) W.templates = Array.isArray(templates) ? templates : templates.templates || [];
    if (tokens) W.tokens = (Array.isArray(tokens) ? tokens : tokens.tokens || []).map((t) => t.name).filter(Boolean);
    await loadRuns(seq, W.workflows);
    if (seq !== W.loadSeq) return;
    renderList();
    renderTemplates();
    renderValues();
    renderTokenList();
  }

  function valuesOf(answer) {
    if (!answer) return {};
    const v = answer.values !== undefined ? answer.values : answer.customValues !== undefined ? answer.customValues : answer;
    if (Array.isArray(v)) return Object.fromEntries(v.map((x) => [x.key, x.value]));
    return v && typeof v === "object" ? { ...v } : {};
  }

  // What `ghl-sandbox workflows load` fills in when a template needs it and the location has no such
  // custom value: the location's own Rankr account on this sandbox.
  function suggestions(loc) {
    const rankr = (loc && loc.rankr) || {};
    const out = { rankr_base_url: window.location.origin + (rankr.basePath || "/rankr") };
    if (rankr.apiKey) out.rankr_api_key = rankr.apiKey;
    return out;
  }

  // Runs: each action is a webhook target of service `workflows` (options workflowId, actionId);
  // its deliveries are the action's runs.
  // A workflow's view names its actions' targets (`targetIds`: action id -> target id); without it, the
  // targets' own options say whose they are.
  async function loadRuns(seq, listed) {
    const shown = listed || W.workflows;
    const named = shown.every((w) => w.targetIds);
    const [targets, deliveries] = await Promise.all([
      named ? Promise.resolve([]) : api("GET", "/_sandbox/webhooks/targets"),
      api("GET", `/_sandbox/webhooks/deliveries${q({ service: "workflows", locationId: W.location })}`),
    ]);
    if (seq !== undefined && seq !== W.loadSeq) return;
    W.actionNames = new Map();
    for (const w of shown) {
      for (const [actionId, targetId] of Object.entries(w.targetIds || {})) W.actionNames.set(targetId, { workflowId: w.id, actionId });
    }
    for (const t of targets || []) {
      const o = t.options || {};
      if (o.workflowId && !W.actionNames.has(t.id)) W.actionNames.set(t.id, { workflowId: o.workflowId, actionId: o.actionId });
    }
    W.runs = new Map();
    const list = (deliveries && deliveries.deliveries) || [];
    for (const d of list.slice().sort((a, b) => String(b.createdAt).localeCompare(String(a.createdAt)) || b.seq - a.seq)) {
      const owner = W.actionNames.get(d.targetId);
      if (!owner) continue;
      if (!W.runs.has(owner.workflowId)) W.runs.set(owner.workflowId, []);
      W.runs.get(owner.workflowId).push({ ...d, actionId: owner.actionId });
    }
  }

  // The list again (workflows loaded by the CLI or a project file, runs cleared by a reset), every few
  // seconds while the page is visible; the forms are left alone.
  async function refreshList() {
    if (!W.available || !W.location || document.hidden) return;
    const seq = W.loadSeq;
    const location = W.location;
    const listed = await api("GET", `${BASE}${q({ locationId: location })}`);
    const found = (listed && listed.workflows) || [];
    await loadRuns(seq, found);
    if (seq !== W.loadSeq || location !== W.location) return;
    W.workflows = found;
    renderList();
  }

  let runsTimer = null;

  function refreshRunsSoon() {
    if (runsTimer || !W.available) return;
    runsTimer = setTimeout(() => {
      runsTimer = null;
      const seq = W.loadSeq;
      loadRuns(seq).then(() => { if (seq === W.loadSeq) renderList(); }).catch(() => {});
    }, 600);
  }

  // ---- the list ----------------------------------------------------------------------------------------

  function filterText(f) {
    if (f.operator === "empty" || f.operator === "not_empty") return `${f.field} ${f.operator.replace("_", " ")}`;
    const op = { is: "is", is_not: "is not", gt: ">", lt: "<", eq: "=" }[f.operator] || f.operator;
    return `${f.field} ${op} ${f.value}`;
  }

  function triggerLabel(type) {
    return (TRIGGERS[type] && TRIGGERS[type].label) || type;
  }

  function renderList() {
    const box = $("#wf-list");
    const n = W.workflows.length;
    $("#wf-where").textContent = `${n} workflow${n === 1 ? "" : "s"}`;
    if (!n) {
      box.replaceChildren(el("div", { class: "empty", text: "No workflows in this location: create one, or load a template." }));
      return;
    }
    box.replaceChildren(...W.workflows.map(card));
  }

  function card(w) {
    const published = w.status === "published";
    const trigger = w.trigger || {};
    const filters = trigger.filters || [];
    const runs = W.runs.get(w.id) || [];
    const actionName = (id) => {
      const i = (w.actions || []).findIndex((a) => a.id === id);
      return i < 0 ? "" : (w.actions[i].name || `action ${i + 1}`);
    };
    const deleteButton = el("button", { type: "button", class: "small danger-small", "data-testid": "wf-delete", text: "Delete" });
    // The first click arms the button for DELETE_ARMED_MS; the list is rendered again every few seconds
    // (and on each run), so which card is armed, and until when, lives in W, not in the button.
    const armed = () => W.armedDelete && W.armedDelete.id === w.id && W.armedDelete.until > Date.now();
    if (armed()) {
      deleteButton.dataset.armed = "1";
      deleteButton.textContent = "Really delete?";
    }
    deleteButton.addEventListener("click", () => {
      if (!armed()) {
        W.armedDelete = { id: w.id, until: Date.now() + DELETE_ARMED_MS };
        deleteButton.dataset.armed = "1";
        deleteButton.textContent = "Really delete?";
        setTimeout(() => {
          if (armed()) return;  // armed again meanwhile
          const shown = `[data-testid=wf-card][data-workflow-id="${CSS.escape(w.id)}"] [data-testid=wf-delete][data-armed]`;
          for (const b of document.querySelectorAll(shown)) {  // this card's button, as rendered now
            delete b.dataset.armed;
            b.textContent = "Delete";
          }
        }, DELETE_ARMED_MS + 50);
        return;
      }
      W.armedDelete = null;
      busy(deleteButton, async () => {
        await api("DELETE", `${BASE}/${encodeURIComponent(w.id)}`);
        say(true, `Workflow “${w.name}” deleted.`);
        if (W.editing && W.editing.id === w.id) resetEditor();
        await loadAll();
      });
    });
    return el("div", { class: "wf-card" + (published ? "" : " draft"), dataset: { workflowId: w.id, status: w.status }, "data-testid": "wf-card" },
      el("div", { class: "wf-card-head" },
        el("b", { class: "wf-name", text: w.name }),
        el("span", { class: "pill " + (published ? "good" : "mid"), "data-testid": "wf-status", text: w.status }),
        el("span", { class: "spacer" }),
        el("button", { type: "button", class: "small", "data-testid": "wf-status-toggle", title: published ? "Stop it firing" : "Let it fire",
          text: published ? "Set to draft" : "Publish", onclick: (e) => busy(e.currentTarget, () => setStatus(w, published ? "draft" : "published")) }),
        el("button", { type: "button", class: "small", "data-testid": "wf-edit", text: "Edit", onclick: () => editWorkflow(w) }),
        deleteButton),
      el("div", { class: "wf-line" },
        el("span", { class: "wf-k", text: "Trigger" }), el("span", { class: "tag", "data-testid": "wf-trigger", text: triggerLabel(trigger.type) }),
        filters.length ? el("span", { class: "muted", "data-testid": "wf-filters", text: " where " + filters.map(filterText).join(" and ") })
          : trigger.type === "inbound_webhook" ? "" : el("span", { class: "muted", text: " (no filters: every one)" })),
      trigger.inboundUrl ? el("div", { class: "wf-line" },
        el("span", { class: "wf-k", text: "Inbound URL" }),
        el("code", { class: "wf-url", "data-testid": "wf-inbound-url", text: trigger.inboundUrl }),
        el("button", { type: "button", class: "small", text: "Copy", onclick: () => copy(trigger.inboundUrl) })) : "",
      ...(w.actions || []).map((a, i) => el("div", { class: "wf-line wf-action", dataset: { actionId: a.id || "" } },
        el("span", { class: "wf-k", text: i ? "" : "Actions" }),
        el("span", { class: "tag", text: a.type === "custom_webhook" ? "Custom Webhook" : "Webhook" }),
        el("b", { class: "wf-method", text: a.method || "POST" }), " ",
        el("code", { class: "wf-url", "data-testid": "wf-action-url", text: a.url }),
        a.name ? el("span", { class: "muted", text: ` · ${a.name}` }) : "",
        a.type === "custom_webhook" && a.auth && a.auth.type && a.auth.type !== "none" ? el("span", { class: "muted", text: ` · auth ${a.auth.type}` }) : "")),
      el("div", { class: "wf-runs", "data-testid": "wf-runs" },
        el("span", { class: "wf-k", text: "Last runs" }),
        runs.length ? el("div", { class: "wf-run-list" }, ...runs.slice(0, RUNS_SHOWN).map((d) => runRow(d, actionName(d.actionId))))
          : el("span", { class: "muted", text: published ? "none yet" : "none (a draft never fires)" }),
        runs.length > RUNS_SHOWN ? el("span", { class: "muted", text: `… ${runs.length - RUNS_SHOWN} more` }) : ""));
  }

  function runRow(d, actionName) {
    const ok = d.status === "delivered";
    const cls = ok ? "s-ok" : d.status === "queued" || d.status === "in_flight" ? "s-warn" : d.status === "dropped" ? "s-grey" : "s-bad";
    return el("div", { class: "wf-run", dataset: { deliveryId: d.id, status: d.status }, title: d.lastError || "" },
      el("span", { class: "mono muted", text: when(d.createdAt) }), " ",
      el("span", { text: d.event }),
      actionName ? el("span", { class: "muted", text: ` → ${actionName}` }) : "",
      el("span", { class: "mono " + cls, text: ` ${d.lastStatus || ""} ${d.status}` }),
      d.attemptCount > 1 ? el("span", { class: "muted", text: ` (${d.attemptCount} attempts)` }) : "");
  }

  // The document the control plane takes back (its view adds read-only parts: targetIds, inboundUrl, times).
  function documentOf(w) {
    const trigger = { type: w.trigger.type, filters: w.trigger.filters || [] };
    return { id: w.id, locationId: w.locationId, name: w.name, status: w.status, trigger, actions: w.actions || [] };
  }

  async function setStatus(w, status) {
    const doc = { ...documentOf(w), status };
    const saved = await api("PUT", `${BASE}/${encodeURIComponent(w.id)}`, doc);
    say(true, `Workflow “${saved.name}” is now ${saved.status}.`);
    await loadAll();
  }

  // ---- the editor: a workflow document from a form -----------------------------------------------

  function field(label, control, path, extra) {
    control.dataset.path = path;
    return el("label", { class: "wf-field" + (extra ? " " + extra : ""), dataset: { field: path } }, label, control);
  }

  function editorForm() {
    const form = el("form", { id: "wf-form", class: "form wf-form", novalidate: true, "data-testid": "wf-form" },
      el("h3", { id: "wf-form-title", text: "New workflow" }),
      el("div", { id: "wf-problems", class: "wf-problems", "data-testid": "wf-problems" }),
      el("div", { class: "row" },
        field("Name", el("input", { name: "name", required: true, placeholder: "e.g. Payment Received to Rankr", "data-testid": "wf-name" }), "name", "grow"),
        field("Status", el("select", { name: "status", "data-testid": "wf-status-select" }, options(["published", "draft"], "published")), "status")),
      el("div", { class: "row" },
        field("Trigger", el("select", { name: "triggerType", "data-testid": "wf-trigger-type" },
          options(Object.keys(TRIGGERS), "payment_received", Object.fromEntries(Object.entries(TRIGGERS).map(([k, v]) => [k, v.label])))), "trigger.type", "grow")),
      el("div", { id: "wf-inbound", class: "hint" }),
      el("fieldset", { class: "wf-set", dataset: { path: "trigger.filters" } },
        el("legend", { text: "Filters (all must match)" }),
        el("div", { id: "wf-filters", class: "wf-rows" }),
        el("button", { type: "button", class: "small", id: "wf-add-filter", "data-testid": "wf-add-filter", text: "+ filter" })),
      el("div", { id: "wf-actions" }),
      el("div", { class: "buttons" },
        el("button", { type: "button", class: "small", "data-testid": "wf-add-webhook", text: "+ Webhook action", onclick: () => addAction({ type: "webhook" }) }),
        el("button", { type: "button", class: "small", "data-testid": "wf-add-custom", text: "+ Custom Webhook action", onclick: () => addAction({ type: "custom_webhook" }) })),
      el("p", { class: "hint", id: "wf-merge-hint" }),
      el("div", { class: "buttons" },
        el("button", { type: "submit", id: "wf-save", "data-testid": "wf-save", text: "Create workflow" }),
        el("button", { type: "button", class: "secondary", id: "wf-cancel", text: "Clear", onclick: () => resetEditor() })));
    form.triggerType.addEventListener("change", () => {
      $("#wf-filters").replaceChildren();
      triggerChanged();
    });
    form.querySelector("#wf-add-filter").addEventListener("click", () => addFilter());
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy($("#wf-save"), save);
    });
    return form;
  }

  function triggerChanged() {
    const form = $("#wf-form");
    const type = form.triggerType.value;
    const spec = TRIGGERS[type] || { filters: {} };
    const hasFilters = Object.keys(spec.filters).length > 0;
    $("#wf-add-filter").hidden = !hasFilters;
    $("#wf-add-filter").closest("fieldset").hidden = !hasFilters;
    $("#wf-merge-hint").textContent = `Merge fields: ${spec.hint || ""} ${ALWAYS_HINT}`;
    const inbound = $("#wf-inbound");
    const url = W.editing && W.editing.trigger && W.editing.trigger.type === type ? W.editing.trigger.inboundUrl : "";
    if (type !== "inbound_webhook") inbound.replaceChildren();
    else if (url) inbound.replaceChildren("Inbound URL: ", el("code", { "data-testid": "wf-form-inbound-url", text: url }), " (POST, GET or PUT a JSON object to it)");
    else inbound.replaceChildren("The inbound URL is assigned when the workflow is saved.");
  }

  function addFilter(f) {
    const type = $("#wf-form").triggerType.value;
    const specs = TRIGGERS[type].filters;
    const names = Object.keys(specs);
    if (!names.length) return;
    const row = el("div", { class: "wf-row wf-filter" });
    const fieldSel = el("select", { "aria-label": "Filter field", dataset: { part: "field" } }, options(names, f ? f.field : names[0]));
    const opSel = el("select", { "aria-label": "Operator", dataset: { part: "operator" } });
    const valueBox = el("span", { class: "wf-value" });
    const refresh = (keep) => {
      const spec = specs[fieldSel.value] || { ops: IS };
      const op = keep && keep.operator && spec.ops.includes(keep.operator) ? keep.operator : spec.ops[0];
      opSel.replaceChildren(...options(spec.ops, op));
      const value = keep && keep.value !== undefined && keep.value !== null ? String(keep.value) : "";
      const input = spec.values
        ? el("select", { "aria-label": "Value", dataset: { part: "value" } }, options(spec.values, value || spec.values[0]))
        : el("input", { "aria-label": "Value", dataset: { part: "value" }, type: spec.number ? "number" : "text", step: spec.number ? "0.01" : null,
          placeholder: spec.placeholder || "", value });
      valueBox.replaceChildren(input);
      input.disabled = op === "empty" || op === "not_empty";
    };
    fieldSel.addEventListener("change", () => refresh(null));
    opSel.addEventListener("change", () => {
      const input = valueBox.firstChild;
      if (input) input.disabled = opSel.value === "empty" || opSel.value === "not_empty";
    });
    refresh(f);
    row.append(fieldSel, opSel, valueBox, el("button", { type: "button", class: "link", title: "Remove this filter", text: "✕", onclick: () => { row.remove(); renumber(); } }));
    $("#wf-filters").append(row);
    renumber();
  }

  function kvRows(title, kind, rows, placeholders) {
    const box = el("div", { class: "wf-rows", dataset: { kv: kind } });
    const add = (kv) => {
      const row = el("div", { class: "wf-row wf-kv" },
        el("input", { "aria-label": `${title} key`, placeholder: placeholders[0], dataset: { part: "key" }, value: kv ? kv.key : "" }),
        el("input", { class: "grow", "aria-label": `${title} value`, placeholder: placeholders[1], dataset: { part: "value" }, value: kv ? kv.value : "" }),
        el("button", { type: "button", class: "link", title: "Remove this row", text: "✕", onclick: () => { row.remove(); renumber(); } }));
      box.append(row);
      renumber();
      return row;
    };
    for (const kv of rows || []) add(kv);
    const fs = el("fieldset", { class: "wf-set", dataset: { kvSet: kind } }, el("legend", { text: title }), box,
      el("button", { type: "button", class: "small", dataset: { add: kind }, text: "+ row", onclick: () => add(null) }));
    return fs;
  }

  function addAction(a) {
    const custom = a.type === "custom_webhook";
    const block = el("fieldset", { class: "wf-set wf-action-form", dataset: { type: a.type, actionId: a.id || "" }, "data-testid": "wf-action-form" });
    const method = el("select", { dataset: { part: "method" }, "aria-label": "Method", "data-testid": "wf-method" }, options(METHODS, a.method || "POST"));
    const url = el("input", { dataset: { part: "url" }, placeholder: custom ? "https://…/{{payment.transaction_id}}" : "https://hooks.zapier.com/…", value: a.url || "", "data-testid": "wf-url" });
    const name = el("input", { dataset: { part: "name" }, placeholder: custom ? "e.g. PUT to Rankr" : "e.g. To my Zap", value: a.name || "", "data-testid": "wf-action-name" });
    block.append(
      el("legend", {}, el("span", { class: "wf-action-title" }), el("button", { type: "button", class: "link", title: "Remove this action", text: "✕",
        onclick: () => { block.remove(); renumber(); } })),
      el("div", { class: "row" },
        el("label", { class: "wf-field", dataset: { part: "method" } }, "Method", method),
        el("label", { class: "wf-field grow", dataset: { part: "url" } }, "URL", url)),
      el("label", { class: "wf-field", dataset: { part: "name" } }, "Action name", name));
    if (!custom) {
      block.append(kvRows("Custom Data", "customData", a.customData, ["key", "value, e.g. {{contact.email}}"]));
    } else {
      const auth = a.auth || { type: "none" };
      const authSel = el("select", { dataset: { part: "authType" }, "aria-label": "Authorization", "data-testid": "wf-auth-type" }, options(Object.keys(AUTH_FIELDS), auth.type || "none", AUTH_LABELS));
      const authFields = el("div", { class: "row wf-auth-fields" });
      const drawAuth = (values) => {
        authFields.replaceChildren(...AUTH_FIELDS[authSel.value].map(([key, label]) => el("label", { class: "wf-field grow", dataset: { part: "auth." + key } }, label,
          el("input", { dataset: { part: "auth." + key }, value: values[key] || "", "data-testid": "wf-auth-" + key,
            list: key === "tokenName" ? "wf-token-names" : null, type: key === "password" ? "password" : "text",
            placeholder: key === "token" || key === "keyValue" || key === "password" ? "{{custom_values.…}} or a literal" : "" }))));
        renumber();
      };
      authSel.addEventListener("change", () => drawAuth({}));
      const contentType = el("select", { dataset: { part: "contentType" }, "aria-label": "Content type", "data-testid": "wf-content-type" }, options(CONTENT_TYPES, a.contentType || "application/json"));
      const body = el("textarea", { dataset: { part: "body" }, rows: 6, spellcheck: "false", "data-testid": "wf-body",
        placeholder: '{"amount": {{payment.total_amount}}, "status": "{{payment.payment_status}}"}' });
      body.value = a.body || "";
      block.append(
        el("div", { class: "row" }, el("label", { class: "wf-field", dataset: { part: "auth" } }, "Authorization", authSel)),
        authFields,
        kvRows("Headers", "headers", a.headers, ["header name", "value"]),
        kvRows("Query parameters", "query", a.query, ["name", "value"]),
        el("div", { class: "row" }, el("label", { class: "wf-field", dataset: { part: "contentType" } }, "Content type", contentType)),
        el("label", { class: "wf-field", dataset: { part: "body" } }, "Body", body));
      drawAuth(auth);
    }
    $("#wf-actions").append(block);
    renumber();
    return block;
  }

  // Every control carries the document path it fills (`actions[1].headers[0].value`), so the control
  // plane's 422 problems land next to their field; rows and actions are renumbered as they come and go.
  function renumber() {
    $$("#wf-filters .wf-filter").forEach((row, i) => {
      row.dataset.path = `trigger.filters[${i}]`;
      for (const c of $$("[data-part]", row)) c.dataset.path = `trigger.filters[${i}].${c.dataset.part}`;
    });
    $$("#wf-actions .wf-action-form").forEach((block, i) => {
      const base = `actions[${i}]`;
      block.dataset.path = base;
      $(".wf-action-title", block).textContent = `Action ${i + 1}: ${block.dataset.type === "custom_webhook" ? "Custom Webhook" : "Webhook"}`;
      for (const c of $$("label[data-part], input[data-part], select[data-part], textarea[data-part]", block)) {
        if (c.closest(".wf-kv")) continue;
        const part = c.dataset.part === "authType" ? "auth.type" : c.dataset.part;
        c.dataset.path = `${base}.${part}`;
      }
      for (const set of $$("[data-kv-set]", block)) {
        const kind = set.dataset.kvSet;
        set.dataset.path = `${base}.${kind}`;
        $$(".wf-kv", set).forEach((row, j) => {
          row.dataset.path = `${base}.${kind}[${j}]`;
          for (const c of $$("[data-part]", row)) c.dataset.path = `${base}.${kind}[${j}].${c.dataset.part}`;
        });
      }
    });
  }

  function prune() {
    for (const row of $$("#wf-form .wf-kv")) {
      if ($$("input", row).every((i) => !i.value.trim())) row.remove();
    }
    renumber();
  }

  function collect() {
    prune();
    const form = $("#wf-form");
    const type = form.triggerType.value;
    const specs = TRIGGERS[type].filters;
    const filters = $$("#wf-filters .wf-filter").map((row) => {
      const f = { field: $("[data-part=field]", row).value, operator: $("[data-part=operator]", row).value };
      const input = $("[data-part=value]", row);
      const spec = specs[f.field] || {};
      if (f.operator === "empty" || f.operator === "not_empty") f.value = "";
      else f.value = spec.number && input.value.trim() !== "" && !isNaN(Number(input.value)) ? Number(input.value) : input.value.trim();
      return f;
    });
    const actions = $$("#wf-actions .wf-action-form").map((block) => {
      const part = (p) => $(`[data-part="${p}"]:not(label)`, block);
      const kv = (kind) => $$(`[data-kv-set="${kind}"] .wf-kv`, block).map((row) => ({
        key: $("[data-part=key]", row).value.trim(), value: $("[data-part=value]", row).value }));
      const a = { type: block.dataset.type, name: part("name").value.trim(), method: part("method").value, url: part("url").value.trim() };
      if (block.dataset.actionId) a.id = block.dataset.actionId;
      if (a.type === "webhook") {
        a.customData = kv("customData");
      } else {
        const authType = part("authType").value;
        a.auth = { type: authType };
        for (const [key] of AUTH_FIELDS[authType]) a.auth[key] = part("auth." + key).value;
        a.headers = kv("headers");
        a.query = kv("query");
        a.contentType = part("contentType").value;
        a.body = part("body").value;
      }
      return a;
    });
    const doc = { locationId: W.location, name: form.name.value.trim(), status: form.status.value, trigger: { type, filters }, actions };
    if (W.editing) doc.id = W.editing.id;
    return doc;
  }

  async function save() {
    clearProblems();
    const doc = collect();
    let saved;
    try {
      saved = W.editing
        ? await api("PUT", `${BASE}/${encodeURIComponent(W.editing.id)}`, doc)
        : await api("POST", BASE, doc);
    } catch (err) {
      if (err.status === 422 || err.status === 400) {
        const n = showProblems(err.data);
        say(false, `Not saved: ${n} problem${n === 1 ? "" : "s"} (shown next to the fields).`);
        return;
      }
      throw err;
    }
    const unset = unsetValues(doc);
    say(true, `Workflow “${saved.name}” ${W.editing ? "saved" : "created"} (${saved.status}).`,
      saved.trigger && saved.trigger.inboundUrl ? [" Inbound URL: ", el("code", { text: saved.trigger.inboundUrl })] : "",
      unset.length ? el("div", { class: "s-warn", "data-testid": "wf-unset", text: `Not set in this location (they render empty): ${unset.map((k) => `custom_values.${k}`).join(", ")}.` }) : "");
    resetEditor();
    await loadAll();
  }

  // The custom values a document names that the location does not have.
  function unsetValues(doc) {
    const keys = new Set();
    for (const m of JSON.stringify(doc.actions).matchAll(/\{\{\s*custom_values\.([A-Za-z0-9_.-]+?)\s*\}\}/g)) keys.add(m[1]);
    return Array.from(keys).filter((k) => W.customValues[k] === undefined || W.customValues[k] === null || W.customValues[k] === "").sort();
  }

  // ---- problems next to their fields ------------------------------------------------------------------

  const PATH_RE = /^\s*((?:[A-Za-z_][\w]*)(?:\[\d+\])*(?:\.[A-Za-z_][\w]*(?:\[\d+\])*)*)\s*(?::|\s[-—]\s)\s*(.*)$/s;
  const TOP = ["name", "status", "trigger", "actions", "locationId"];

  // The control plane's 422: GHL-style `message` (a list of strings, each naming its path first, e.g.
  // `actions[0].body: …`), or `problems: [{path, message}]` when it gives them apart.
  function problemsOf(data) {
    if (data && Array.isArray(data.problems)) return data.problems.map((p) => ({ path: p.path || "", message: p.message || String(p) }));
    const messages = data && data.message !== undefined ? (Array.isArray(data.message) ? data.message : [data.message]) : [String(data || "invalid")];
    return messages.map((m) => {
      const text = String(m);
      const match = PATH_RE.exec(text);
      if (match && (match[1].includes(".") || match[1].includes("[") || TOP.includes(match[1]))) return { path: match[1], message: text };
      const inside = /\b((?:trigger|actions)(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)+)/.exec(text);
      return { path: inside ? inside[1] : "", message: text };
    });
  }

  function anchorFor(path) {
    let p = path;
    while (p) {
      const node = $(`#wf-form [data-path="${CSS.escape(p)}"]`);
      if (node) return node;
      const cut = Math.max(p.lastIndexOf("."), p.lastIndexOf("["));
      p = cut > 0 ? p.slice(0, cut) : "";
    }
    return null;
  }

  function showProblems(data) {
    const problems = problemsOf(data);
    const loose = [];
    for (const p of problems) {
      const anchor = p.path ? anchorFor(p.path) : null;
      if (!anchor) {
        loose.push(p);
        continue;
      }
      const holder = anchor.matches("input, select, textarea") ? anchor.closest("label, .wf-row") || anchor : anchor;
      const note = el("div", { class: "wf-problem", "data-testid": "wf-problem", dataset: { path: p.path }, text: p.message });
      if (holder.matches("fieldset")) {
        holder.append(note);
      } else {
        // Under the field; for a field in a row of fields, under the row (after its other problems).
        let after = holder.parentElement && holder.parentElement.classList.contains("row") ? holder.parentElement : holder;
        while (after.nextElementSibling && after.nextElementSibling.classList.contains("wf-problem")) after = after.nextElementSibling;
        after.after(note);
      }
      for (const c of (anchor.matches("input, select, textarea") ? [anchor] : $$("input, select, textarea", anchor))) c.classList.add("invalid");
    }
    $("#wf-problems").replaceChildren(...loose.map((p) => el("div", { class: "wf-problem", "data-testid": "wf-problem", dataset: { path: p.path }, text: p.message })));
    const first = $("#wf-form .wf-problem");
    if (first) first.scrollIntoView({ block: "nearest" });
    return problems.length;
  }

  function clearProblems() {
    for (const n of $$("#wf-form .wf-problem")) n.remove();
    for (const n of $$("#wf-form .invalid")) n.classList.remove("invalid");
  }

  function resetEditor(doc) {
    W.editing = doc || null;
    const form = $("#wf-form");
    clearProblems();
    form.name.value = doc ? doc.name : "";
    form.status.value = doc ? doc.status : "published";
    form.triggerType.value = doc && doc.trigger ? doc.trigger.type : "payment_received";
    $("#wf-filters").replaceChildren();
    $("#wf-actions").replaceChildren();
    triggerChanged();
    for (const f of (doc && doc.trigger && doc.trigger.filters) || []) addFilter(f);
    for (const a of (doc && doc.actions) || []) addAction(a);
    if (!doc) addAction({ type: "custom_webhook" });
    $("#wf-form-title").textContent = doc ? `Edit “${doc.name}”` : "New workflow";
    $("#wf-tab-editor").textContent = doc ? "Edit workflow" : "New workflow";
    $("#wf-save").textContent = doc ? "Save workflow" : "Create workflow";
    $("#wf-cancel").textContent = doc ? "Cancel" : "Clear";
  }

  function editWorkflow(w) {
    resetEditor(w);
    showTab("editor");
    $("#wf-form").scrollIntoView({ block: "nearest" });
  }

  // ---- templates ---------------------------------------------------------------------------------------

  function renderTemplates() {
    const box = $("#wf-templates");
    if (!W.templates.length) {
      box.replaceChildren(el("p", { class: "muted", text: "No shipped templates." }));
      return;
    }
    box.replaceChildren(el("p", { class: "hint", text: "A template becomes a workflow of this location; it reads the custom values it needs (set here first)." }),
      ...W.templates.map((t) => {
        const needs = t.needs || [];
        const current = (key) => W.customValues[key] !== undefined && W.customValues[key] !== null ? String(W.customValues[key])
          : (W.suggested || {})[key] || "";
        const inputs = needs.map((key) => el("label", { class: "wf-field grow" }, el("span", { class: "mono", text: `custom_values.${key}` }),
          el("input", { name: key, value: current(key), placeholder: "required", "data-testid": "wf-template-value" })));
        const form = el("form", { class: "form wf-template", dataset: { template: t.name }, "data-testid": "wf-template" },
          el("h3", {}, t.title || t.name, " ", el("span", { class: "tag", text: triggerLabel(t.trigger && t.trigger.type ? t.trigger.type : t.trigger) })),
          t.description ? el("p", { class: "hint", text: t.description }) : "",
          el("div", { class: "muted mono", text: t.name }),
          ...inputs,
          el("div", { class: "buttons" }, el("button", { type: "submit", "data-testid": "wf-template-load", text: "Load template" })));
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          const customValues = {};
          for (const key of needs) {
            const v = form.elements[key].value.trim();
            if (v) customValues[key] = v;
          }
          busy(e.submitter || form.querySelector("button"), async () => {
            let created;
            try {
              created = await api("POST", `${BASE}/templates/${encodeURIComponent(t.name)}`, { locationId: W.location, customValues });
            } catch (err) {
              if (err.status === 422) {
                say(false, `Template ${t.name} not loaded: `, problemsOf(err.data).map((p) => p.message).join("; "));
                return;
              }
              throw err;
            }
            say(true, `Template ${t.name} loaded: workflow “${created.name}” (${created.status}).`);
            await loadAll();
          });
        });
        return form;
      }));
  }

  // ---- custom values -------------------------------------------------------------------------------

  function valuesForm() {
    const form = el("form", { id: "wf-values", class: "form", "data-testid": "wf-values" },
      el("h3", { text: "Custom values of this location" }),
      el("p", { class: "hint", text: "Referenced as {{custom_values.<key>}} in URLs, headers, bodies and Custom Data. Clearing a key deletes it." }),
      el("div", { id: "wf-values-rows", class: "wf-rows" }),
      el("div", { class: "buttons" },
        el("button", { type: "button", class: "small", text: "+ value", "data-testid": "wf-value-add", onclick: () => valueRow("", "") }),
        el("button", { type: "submit", "data-testid": "wf-values-save", text: "Save values" })));
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(e.submitter, saveValues);
    });
    return form;
  }

  function valueRow(key, value) {
    const row = el("div", { class: "wf-row wf-kv", dataset: { original: key } },
      el("input", { "aria-label": "Key", placeholder: "key", value: key, dataset: { part: "key" }, "data-testid": "wf-value-key" }),
      el("input", { class: "grow", "aria-label": "Value", placeholder: "value", value: value, dataset: { part: "value" }, "data-testid": "wf-value-value" }),
      el("button", { type: "button", class: "link", title: "Delete this value", text: "✕", onclick: () => { row.hidden = true; row.dataset.deleted = "1"; } }));
    $("#wf-values-rows").append(row);
    return row;
  }

  function renderValues() {
    const box = $("#wf-values-rows");
    if (box.contains(document.activeElement)) return; // never under the user's cursor
    box.replaceChildren();
    for (const [k, v] of Object.entries(W.customValues).sort(([a], [b]) => a.localeCompare(b))) valueRow(k, v === null || v === undefined ? "" : String(v));
    if (!Object.keys(W.customValues).length) valueRow("", "");
  }

  async function saveValues() {
    const values = {};
    for (const row of $$("#wf-values-rows .wf-kv")) {
      const original = row.dataset.original;
      const key = $("[data-part=key]", row).value.trim();
      const value = $("[data-part=value]", row).value;
      if (row.dataset.deleted || (!value && original)) {
        if (original) values[original] = null;
        continue;
      }
      if (original && original !== key) values[original] = null;
      if (key && value !== "") values[key] = value;
    }
    const answer = await api("PUT", `${BASE}/custom-values${q({ locationId: W.location })}`, { values });
    W.customValues = valuesOf(answer);
    const n = Object.keys(values).length;
    say(true, `${n} custom value change${n === 1 ? "" : "s"} saved.`);
    $("#wf-values-rows").replaceChildren();
    renderValues();
    renderTemplates();
  }

  function renderTokenList() {
    let list = $("#wf-token-names");
    if (!list) {
      list = el("datalist", { id: "wf-token-names" });
      $("#workflows-panel").append(list);
    }
    list.replaceChildren(...W.tokens.map((n) => el("option", { value: n })));
  }

  // ---- wiring ------------------------------------------------------------------------------------------

  function onLocation(id) {
    if (!id || id === W.location) return;
    W.location = id;
    W.workflows = [];
    W.runs = new Map();
    if (W.editing && W.editing.locationId !== id) resetEditor();
    loadAll().catch((err) => say(false, errorText(err)));
  }

  function onEvent(ev) {
    if (!ev || !W.available) return;
    if (ev.kind === "delivery" && ev.data && ev.data.service === "workflows") refreshRunsSoon();
  }

  function main() {
    if (!$("#workflows-panel")) return;
    build();
    resetEditor();
    document.addEventListener("sandbox:location", (e) => onLocation(e.detail));
    document.addEventListener("sandbox:event", (e) => onEvent(e.detail));
    const select = $("#location");
    if (select && select.value) onLocation(select.value);
    setInterval(() => refreshList().catch(() => {}), 10000);
  }

  document.addEventListener("DOMContentLoaded", main);
})();
