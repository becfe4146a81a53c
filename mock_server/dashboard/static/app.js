// ghl-sandbox dashboard: vanilla JS, no build step, no dependencies.
// Live feed: GET /_sandbox/stream (server-sent events); everything else: the control plane's JSON.
"use strict";

(function () {
  const MAX_ROWS = 400;
  const MAX_TABLE_ROWS = 300;
  const OUTCOME_COLORS = { delivered: "#16a34a", retry: "#d97706", failed: "#dc2626", dropped: "#94a3b8" };

  const S = {
    overview: null,
    location: localStorage.getItem("ghl-sandbox.location") || "",
    names: {},
    state: null,
    stateKind: "ghl:orders",
    customerQuery: "",
    actionServices: {},
    dataVersion: null,
    stateLoadedVersion: null,
    metrics: null,
    events: [],
    paused: false,
    queuedWhilePaused: [],
    lastEventId: 0,
    drawerUse: null,
    overviewAt: 0,
    overviewEventId: -1,
  };

  // ---- small helpers ------------------------------------------------------------------------------

  const { $, $$, el, errorText, api } = window.SandboxDom; // dom.js

  function shortId(id) {
    return id && id.length > 12 ? id.slice(0, 6) + "…" + id.slice(-4) : id || "";
  }

  function clockTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }

  function money(amount, currency) {
    if (amount === undefined || amount === null) return "";
    return Number(amount).toFixed(2) + (currency ? " " + currency : "");
  }

  function locationName(id) {
    if (!id) return "";
    return S.names[id] || shortId(id);
  }

  // ---- result line under the action forms --------------------------------------------------------

  function showResult(ok, ...parts) {
    const box = $("#action-result");
    box.className = "result " + (ok ? "ok" : "err");
    box.replaceChildren(...parts.flat().map((p) => (p instanceof Node ? p : document.createTextNode(String(p)))));
  }

  async function run(button, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (err) {
      showResult(false, errorText(err));
    } finally {
      if (button) button.disabled = false;
    }
  }

  // ---- overview: locations, targets, faults, chaos, clock --------------------------------------

  async function loadOverview() {
    const o = await api("GET", "/_sandbox/dashboard/overview");
    S.overview = o;
    S.overviewAt = Date.now();
    S.overviewEventId = o.lastEventId;
    S.names = {};
    for (const loc of o.locations) S.names[loc.locationId] = loc.name;
    S.actionServices = o.actionServices || {};
    const serviceSel = $("#timeline-service");
    const services = o.services || [];
    if (Array.from(serviceSel.options).slice(1).map((x) => x.value).join(",") !== services.join(",")) {
      const chosen = serviceSel.value;
      serviceSel.replaceChildren(el("option", { value: "", text: "all services" }), ...services.map((n) => el("option", { value: n, text: n })));
      serviceSel.value = services.includes(chosen) ? chosen : "";
    }
    const select = $("#location");
    const known = o.locations.map((l) => l.locationId);
    if (!known.includes(S.location)) S.location = known[0] || "";
    const current = Array.from(select.options).map((opt) => opt.value).join(",");
    if (current !== known.join(",")) {
      select.replaceChildren(...o.locations.map((l) => el("option", { value: l.locationId, title: l.locationId, text: l.name })));
    }
    select.value = S.location;
    select.title = S.location;
    announceLocation();
    $("#seed").textContent = o.health.seed;
    renderClock(o.health.clock);
    renderRateLimit(o.health.rateLimit);
    renderDeliveryCounts(o.deliveryCounts);
    renderFaults(o.faults);
    renderTargets(o.targets);
    renderChaos(o.chaos, o.targets);
    const p = o.policy;
    $("#policy").textContent = `Retry policy: ${p.name}, up to ${p.maxRetries} retries, ${p.retryIntervalS} s apart (sandbox clock), ${p.timeoutS} s timeout per attempt.`;
    return o;
  }

  // Other panels (static/workflows.js) hear the chosen location and the live feed as DOM events.
  let announcedLocation = null;
  function announceLocation() {
    if (S.location === announcedLocation) return;
    announcedLocation = S.location;
    document.dispatchEvent(new CustomEvent("sandbox:location", { detail: S.location }));
  }

  function maybeRefreshOverview(lastEventId) {
    if (Date.now() - S.overviewAt < 3000) return;
    if (lastEventId === S.overviewEventId) return;
    loadOverview().catch(() => {});
  }

  function renderClock(clock) {
    if (!clock) return;
    const node = $("#clock");
    node.textContent = clock.now.replace("T", " ").replace(/\.\d+Z$/, "Z") + (clock.frozen ? " (frozen)" : "");
    node.title = `offset ${clock.offsetSeconds} s from real time`;
    $("#freeze").textContent = clock.frozen ? "Unfreeze" : "Freeze";
    $("#freeze").dataset.frozen = clock.frozen ? "1" : "";
  }

  function renderRateLimit(rl) {
    if (!rl) return;
    $("#ratelimit").textContent = `${rl.profile}: ${rl.burst} / ${rl.intervalMs / 1000} s` + (rl.enforced ? "" : " (not enforced)");
  }

  function renderDeliveryCounts(c) {
    if (!c) return;
    $("#delivery-counts").textContent = `${c.delivered} ok · ${c.queued + c.in_flight} pending · ${c.failed} failed · ${c.dropped} dropped`;
  }

  function renderFaults(rules) {
    const list = $("#fault-list");
    if (!rules.length) {
      list.replaceChildren(el("div", { class: "empty", text: "No fault rules." }));
      return;
    }
    list.replaceChildren(...rules.map((r) => {
      const m = r.match || {};
      const effect = Object.entries(r.effect).map(([k, v]) => (v === true ? k : `${k} ${v}`)).join(", ");
      const limits = [r.times ? `times ${r.times}` : "", r.after ? `after ${r.after}` : "", r.probability !== null && r.probability !== undefined ? `p ${r.probability}` : ""].filter(Boolean).join(", ");
      return el("div", { class: "item", dataset: { rule: r.id } },
        el("span", { class: "grow" },
          el("b", { text: `${m.method || "any"} ${m.path || "*"}` }),
          m.locationId ? ` @ ${locationName(m.locationId)}` : "",
          " → ", el("span", { class: "tag fault", text: effect }),
          limits ? el("span", { class: "muted", text: ` (${limits})` }) : "",
          el("span", { class: "muted", text: ` · hits ${r.applied}/${r.matched}` + (r.exhausted ? " · exhausted" : "") })),
        el("button", { type: "button", class: "link", title: "Remove this rule", text: "✕",
          onclick: (e) => run(e.currentTarget, async () => {
            await api("DELETE", `/_sandbox/faults/${encodeURIComponent(r.id)}`);
            showResult(true, `Fault rule ${r.id} removed.`);
            await loadOverview();
          }) }));
    }));
  }

  function renderTargets(targets) {
    const list = $("#target-list");
    if (!targets.length) {
      list.replaceChildren(el("div", { class: "empty", text: "No webhook targets: register one to see deliveries." }));
    } else {
      list.replaceChildren(...targets.map((t) => el("div", { class: "item" },
        el("span", { class: "grow" },
          serviceTag(t.service), el("b", { class: "mono", text: t.url }),
          el("span", { class: "muted", text: ` · ${t.events ? t.events.join(", ") : "all events"}` +
            (t.locationId ? ` · ${locationName(t.locationId)}` : " · all locations") }),
          t.chaos ? el("span", { class: "tag chaos", text: "chaos " + chaosText(t.chaos) }) : ""),
        el("button", { type: "button", class: "link", title: "Remove this target", text: "✕",
          onclick: (e) => run(e.currentTarget, async () => {
            await api("DELETE", `/_sandbox/webhooks/targets/${encodeURIComponent(t.id)}`);
            showResult(true, `Webhook target ${t.url} removed.`);
            await loadOverview();
          }) }))));
    }
  }

  function chaosText(c) {
    const parts = [];
    if (c.drop) parts.push(`drop ${c.drop}`);
    if (c.duplicate) parts.push(`duplicate ${c.duplicate}×${c.duplicateCount}`);
    if (c.delayMs) parts.push(`delay ${c.delayMs} ms`);
    if (c.reorderWindow > 1) parts.push(`reorder ${c.reorderWindow}`);
    return parts.join(", ") || "none";
  }

  function renderChaos(chaos, targets) {
    const select = $("#chaos-target");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "", text: "every target without its own (global)" }),
      ...targets.map((t) => el("option", { value: t.id, text: t.url })));
    if (targets.some((t) => t.id === chosen)) select.value = chosen;
    $("#chaos-now").textContent = "Global chaos now: " + chaosText(chaos) + ".";
  }

  // ---- the live timeline ---------------------------------------------------------------------------

  function serviceOf(ev) {
    if (ev.kind === "action") return S.actionServices[ev.data.action] || "";
    return ev.data.service || "";
  }

  function serviceTag(service) {
    return service ? el("span", { class: "svc svc-" + service, text: service }) : "";
  }

  function statusClass(code) {
    if (!code) return "s-bad";
    if (code < 300) return "s-ok";
    if (code === 429 || code < 500) return "s-warn";
    return "s-bad";
  }

  function isProblem(ev) {
    const d = ev.data;
    if (ev.kind === "request") return Boolean(d.fault) || !d.status || d.status >= 400;
    if (ev.kind === "delivery") return d.outcome !== "delivered";
    return ev.kind === "gap";
  }

  function rowFor(ev) {
    const d = ev.data;
    let main;
    let status;
    let cls = "ev " + ev.kind;
    let badge = ev.kind === "request" ? "API" : ev.kind === "delivery" ? "WEBHOOK" : ev.kind === "action" ? "ACTION" : "GAP";
    if (ev.kind === "request") {
      const query = d.query ? "?" + d.query : "";
      main = el("div", { class: "main" },
        serviceTag(d.service), el("b", { text: d.method }), " ", el("span", { class: "mono", text: d.path }),
        el("span", { class: "muted mono", text: query.length > 90 ? query.slice(0, 90) + "…" : query }),
        d.fault ? el("span", { class: "tag fault", "data-testid": "fault-mark", text: "fault: " + d.fault }) : "",
        el("div", { class: "sub" },
          `${d.latencyMs} ms`,
          d.locationId ? ` · ${locationName(d.locationId)}` : d.fault ? " · (fault injected before auth)" : " · no location",
          d.committedStatus ? ` · committed ${d.committedStatus} before the drop` : ""));
      status = el("span", { class: "st " + statusClass(d.status), text: d.status || "dropped" });
      if (d.fault) cls += " fault";
    } else if (ev.kind === "delivery") {
      const sigs = Object.entries(d.signatures || {}).map(([k, v]) => `${k}: ${v}`).join("  ");
      const form = d.form ? Object.entries(d.form).map(([k, v]) => `${k}=${v}`).join("&") : "";
      main = el("div", { class: "main" },
        serviceTag(d.service), el("b", { text: d.event }), " → ",
        d.method && d.method !== "POST" ? el("b", { class: "method", text: d.method + " " }) : "",
        el("span", { class: "mono", text: d.url || d.targetId }),
        d.attempt ? el("span", { class: "tag", text: `attempt ${d.attempt}` }) : "",
        d.chaos ? el("span", { class: "tag chaos", text: d.chaos }) : "",
        el("div", { class: "sub" },
          d.outcome === "dropped" ? "dropped by delivery chaos: never sent" :
            `${d.latencyMs} ms` + (d.error ? ` · ${d.error}` : "") +
            (d.nextAttemptAt ? ` · next retry ${d.nextAttemptAt}` : ""),
          d.locationId ? ` · ${locationName(d.locationId)}` : "",
          ` · webhookId ${shortId(d.webhookId)}`),
        form ? el("div", { class: "sub mono form", text: form }) : "",
        sigs ? el("div", { class: "sub mono", text: sigs }) : "");
      const label = d.outcome === "delivered" ? String(d.status) : d.outcome === "dropped" ? "dropped" : `${d.status || "—"} ${d.outcome}`;
      status = el("span", { class: "st " + (d.outcome === "delivered" ? "s-ok" : d.outcome === "retry" ? "s-warn" : d.outcome === "dropped" ? "s-grey" : "s-bad"), text: label });
    } else if (ev.kind === "action") {
      const res = (d.resources || []).map((r) => `${r.type} ${shortId(r.id)}` + (r.status ? ` ${r.status}` : "") +
        (r.paymentStatus ? `/${r.paymentStatus}` : "") + (r.fulfillmentStatus ? `/${r.fulfillmentStatus}` : ""));
      const hooks = (d.webhooks || []).map((w) => w.event);
      main = el("div", { class: "main" },
        serviceTag(serviceOf(ev)), el("b", { text: d.action }), el("span", { class: "muted", text: " · " + locationName(d.locationId) }),
        el("div", { class: "sub", text: res.join(" · ") }),
        hooks.length ? el("div", { class: "sub", text: "webhooks queued: " + hooks.join(", ") }) : "");
      status = el("span", { class: "st s-ok", text: "ok" });
    } else {
      cls = "ev gap";
      badge = "GAP";
      main = el("div", { class: "main", text: `${d.dropped} event(s) not shown (${d.reason}).` });
      status = el("span", { class: "st" });
    }
    const row = el("div", { class: cls, dataset: { kind: ev.kind, id: ev.id || "" } },
      el("span", { class: "time", text: clockTime(d.time) || clockTime(new Date().toISOString()) }),
      el("span", { class: "badge " + ev.kind, text: badge }), main, status);
    if (ev.kind !== "gap") {
      row.addEventListener("click", () => openDrawer(`${badge.toLowerCase()} ${ev.id}`, d));
    }
    if (ev.kind === "delivery") row.dataset.event = d.event;
    if (ev.kind === "delivery") row.dataset.outcome = d.outcome;
    if (ev.kind === "delivery" && d.form && d.form.action) row.dataset.action = d.form.action;
    if (ev.kind !== "gap") row.dataset.service = serviceOf(ev);
    return row;
  }

  function visible(ev) {
    if (ev.kind !== "gap" && !$("#show-" + ev.kind).checked) return false;
    if ($("#only-problems").checked && !isProblem(ev)) return false;
    if ($("#only-location").checked && ev.data.locationId && ev.data.locationId !== S.location) return false;
    const service = $("#timeline-service").value;
    if (service && ev.kind !== "gap" && serviceOf(ev) !== service) return false;
    const q = $("#timeline-filter").value.trim().toLowerCase();
    if (q && !JSON.stringify(ev.data).toLowerCase().includes(q)) return false;
    return true;
  }

  function addEvents(events) {
    if (!events.length) return;
    if (S.paused) {
      S.queuedWhilePaused.push(...events);
      $("#pause").textContent = `Resume (${S.queuedWhilePaused.length})`;
      return;
    }
    S.events.push(...events);
    if (S.events.length > MAX_ROWS) S.events.splice(0, S.events.length - MAX_ROWS);
    const box = $("#timeline");
    const empty = $("#timeline-empty");
    if (empty) empty.remove();
    const frag = document.createDocumentFragment();
    for (const ev of events.slice().reverse()) if (visible(ev)) frag.append(rowFor(ev));
    box.prepend(frag);
    while (box.children.length > MAX_ROWS) box.lastElementChild.remove();
  }

  function rerenderTimeline() {
    const box = $("#timeline");
    const rows = S.events.filter(visible).reverse().map(rowFor);
    if (rows.length) box.replaceChildren(...rows);
    else box.replaceChildren(el("div", { class: "empty", id: "timeline-empty", text: S.events.length ? "Nothing matches the filters." : "Waiting for activity." }));
  }

  // ---- the stream --------------------------------------------------------------------------------

  let pending = [];
  let flushTimer = null;

  function queueEvent(ev) {
    pending.push(ev);
    if (!flushTimer) {
      flushTimer = setTimeout(() => {
        flushTimer = null;
        const batch = pending;
        pending = [];
        addEvents(batch);
      }, 80);
    }
  }

  function connect() {
    const live = $("#live");
    const source = new EventSource("/_sandbox/stream?backlog=200");
    source.addEventListener("open", () => { live.className = "live on"; live.textContent = "live"; });
    source.addEventListener("error", () => {
      live.className = "live off";
      live.textContent = source.readyState === EventSource.CLOSED ? "disconnected: reload the page" : "reconnecting…";
    });
    for (const kind of ["request", "delivery", "action"]) {
      source.addEventListener(kind, (e) => {
        const id = Number(e.lastEventId) || 0;
        if (id && id <= S.lastEventId) return;
        S.lastEventId = Math.max(S.lastEventId, id);
        const data = JSON.parse(e.data);
        queueEvent({ id, kind, data });
        document.dispatchEvent(new CustomEvent("sandbox:event", { detail: { id, kind, data } }));
        if (kind === "action" || (kind === "request" && data.method !== "GET")) scheduleStateRefresh();
      });
    }
    source.addEventListener("gap", (e) => queueEvent({ id: 0, kind: "gap", data: JSON.parse(e.data) }));
    source.addEventListener("hello", (e) => {
      const h = JSON.parse(e.data);
      renderClock(h.clock);
      renderRateLimit(h.rateLimit);
      $("#seed").textContent = h.seed;
    });
    source.addEventListener("metrics", (e) => onMetrics(JSON.parse(e.data)));
  }

  function onMetrics(m) {
    S.metrics = m;
    renderClock(m.clock);
    renderRateLimit(m.rateLimit);
    drawCharts();
    if (S.dataVersion !== m.dataVersion) {
      S.dataVersion = m.dataVersion;
      scheduleStateRefresh();
    }
    maybeRefreshOverview(m.lastEventId);
  }

  // ---- charts (hand-drawn canvas) -----------------------------------------------------------------

  function setupCanvas(canvas) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 300;
    const h = canvas.clientHeight || 170;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    return { ctx, w, h };
  }

  function niceMax(v) {
    // A maximum that four gridlines divide into round numbers: 4, 8, 20, 40, 100, 200, ...
    const raw = Math.max(v, 1) / 4;
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return Math.max(4, m * pow * 4);
    return 40 * pow;
  }

  function axes(ctx, box, yMax, yLabel, xLabels) {
    ctx.strokeStyle = "#e3e7ee";
    ctx.fillStyle = "#667085";
    ctx.font = "11px system-ui, sans-serif";
    ctx.lineWidth = 1;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      const y = box.y + box.h - (box.h * i) / 4;
      ctx.beginPath();
      ctx.moveTo(box.x, Math.round(y) + 0.5);
      ctx.lineTo(box.x + box.w, Math.round(y) + 0.5);
      ctx.stroke();
      ctx.fillText(Number.isInteger(v) ? String(v) : v.toFixed(1), box.x - 5, y);
    }
    ctx.save();
    ctx.translate(10, box.y + box.h / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.fillText(yLabel, 0, 0);
    ctx.restore();
    ctx.textBaseline = "top";
    for (const [x, label] of xLabels) {
      ctx.textAlign = x > box.x + box.w - 12 ? "right" : x < box.x + 12 ? "left" : "center";
      ctx.fillText(label, x, box.y + box.h + 4);
    }
  }

  function drawRate() {
    const m = S.metrics;
    const canvas = $("#chart-rate");
    const { ctx, w, h } = setupCanvas(canvas);
    if (!m) return;
    const windowS = m.requests.windowS;
    const now = Math.floor(m.now);
    const scope = $("#rate-scope").value;
    const counts = new Map();
    for (const b of m.requests.seconds) {
      let total = b.total;
      let limited = b.limited;
      if (scope === "location") {
        const per = b.byLocation[S.location] || [0, 0];
        total = per[0];
        limited = per[1];
      }
      counts.set(b.t, [total, limited]);
    }
    const series = [];
    for (let t = now - windowS + 1; t <= now; t++) series.push(counts.get(t) || [0, 0]);
    const rl = m.rateLimit;
    const intervalS = rl.intervalMs / 1000;
    const limitPerS = rl.burst / intervalS;
    const avg = series.map((_, i) => {
      let sum = 0;
      for (let j = Math.max(0, i - intervalS + 1); j <= i; j++) sum += series[j][0];
      return sum / intervalS;
    });
    const peak = Math.max(0, ...series.map((s) => s[0]));
    const yMax = niceMax(Math.max(peak, limitPerS * 1.25, 1));
    const box = { x: 40, y: 8, w: w - 48, h: h - 28 };
    const xLabels = [];
    for (let s = windowS; s >= 0; s -= 60) xLabels.push([box.x + box.w * (1 - s / windowS), s ? `-${s / 60}m` : "now"]);
    axes(ctx, box, yMax, "req/s", xLabels);
    const bw = box.w / windowS;
    const y = (v) => box.y + box.h - (box.h * v) / yMax;
    series.forEach(([total, limited], i) => {
      if (!total) return;
      const x = box.x + i * bw;
      ctx.fillStyle = "#0e7490";
      ctx.fillRect(x, y(total), Math.max(1, bw - 0.5), box.y + box.h - y(total));
      if (limited) {
        ctx.fillStyle = "#dc2626";
        ctx.fillRect(x, y(limited), Math.max(1, bw - 0.5), box.y + box.h - y(limited));
      }
    });
    ctx.strokeStyle = "#2563eb";
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    avg.forEach((v, i) => {
      const x = box.x + (i + 0.5) * bw;
      if (i === 0) ctx.moveTo(x, y(v));
      else ctx.lineTo(x, y(v));
    });
    ctx.stroke();
    ctx.strokeStyle = "#dc2626";
    ctx.setLineDash([5, 4]);
    ctx.lineWidth = 1.2;
    ctx.beginPath();
    ctx.moveTo(box.x, y(limitPerS));
    ctx.lineTo(box.x + box.w, y(limitPerS));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = "#dc2626";
    ctx.textAlign = "left";
    ctx.textBaseline = "bottom";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(`limit ${rl.burst} / ${intervalS} s`, box.x + 4, y(limitPerS) - 2);
    const last = series.slice(-intervalS).reduce((a, s) => a + s[0], 0);
    const limited = series.reduce((a, s) => a + s[1], 0);
    const legend = $("#rate-legend");
    legend.replaceChildren(
      el("span", { class: "sw", title: "requests per second" }), `last ${intervalS} s: ${last} of ${rl.burst}`,
      el("span", { class: "sw" }), `429s (5 min): ${limited}`);
    legend.children[0].style.background = "#0e7490";
    legend.children[1].style.background = "#dc2626";
  }

  function drawDeliveries() {
    const m = S.metrics;
    const canvas = $("#chart-deliveries");
    const { ctx, w, h } = setupCanvas(canvas);
    if (!m) return;
    const d = m.deliveries;
    const n = d.windowS / d.bucketS;
    const end = Math.floor(m.now / d.bucketS) * d.bucketS;
    const byT = new Map(d.buckets.map((b) => [b.t, b]));
    const buckets = [];
    for (let i = n - 1; i >= 0; i--) buckets.push(byT.get(end - i * d.bucketS) || {});
    const totals = Object.fromEntries(d.outcomes.map((o) => [o, 0]));
    let peak = 0;
    for (const b of buckets) {
      let sum = 0;
      for (const o of d.outcomes) { sum += b[o] || 0; totals[o] += b[o] || 0; }
      peak = Math.max(peak, sum);
    }
    const yMax = niceMax(Math.max(peak, 1));
    const box = { x: 40, y: 8, w: w - 48, h: h - 28 };
    const xLabels = [];
    for (let s = d.windowS; s >= 0; s -= 120) xLabels.push([box.x + box.w * (1 - s / d.windowS), s ? `-${s / 60}m` : "now"]);
    axes(ctx, box, yMax, "attempts", xLabels);
    const bw = box.w / n;
    buckets.forEach((b, i) => {
      let base = 0;
      for (const o of d.outcomes) {
        const v = b[o] || 0;
        if (!v) continue;
        const y0 = box.y + box.h - (box.h * base) / yMax;
        const y1 = box.y + box.h - (box.h * (base + v)) / yMax;
        ctx.fillStyle = OUTCOME_COLORS[o] || "#64748b";
        ctx.fillRect(box.x + i * bw + 1, y1, Math.max(1, bw - 2), y0 - y1);
        base += v;
      }
    });
    const legend = $("#delivery-legend");
    const parts = [];
    for (const o of d.outcomes) {
      const sw = el("span", { class: "sw" });
      sw.style.background = OUTCOME_COLORS[o];
      parts.push(sw, `${o} ${totals[o]}`);
    }
    legend.replaceChildren(...parts);
  }

  function drawCharts() {
    drawRate();
    drawDeliveries();
  }

  // ---- state tables (every service's, from GET /_sandbox/dashboard/tables) ------------------------

  function pill(value) {
    const good = ["completed", "paid", "succeeded", "fulfilled", "active", "trialing", "delivered", "scheduled", "charge"];
    const mid = ["pending", "partially_paid", "partially_fulfilled", "partially_refunded", "past_due", "unpaid", "incomplete",
      "unfulfilled", "deposit", "certificate"];
    const bad = ["failed", "refunded", "cancelled", "canceled", "incomplete_expired", "no-show", "refund"];
    const cls = good.includes(value) ? "good" : bad.includes(value) ? "bad" : mid.includes(value) ? "mid" : "";
    return el("span", { class: "pill " + cls, text: value });
  }

  function tableKey(t) {
    return `${t.service}:${t.kind}`;
  }

  function cell(column, row) {
    const v = row[column.key];
    if (column.type === "pill") return el("td", {}, v ? pill(String(v)) : "");
    if (column.type === "money") return el("td", { class: "num", text: v === undefined || v === null || v === "" ? "" : money(v, row.currency) });
    if (column.type === "num") return el("td", { class: "num", text: v ?? "" });
    if (column.type === "id") return el("td", { class: "id", title: v ?? "", text: v ?? "" });
    if (column.type === "time") return el("td", { text: String(v || "").replace("T", " ").slice(0, 19) });
    return el("td", { text: v ?? "" });
  }

  // One table (head and rows) into `table`; clicking a row opens its record.
  function fillTable(table, t, rows) {
    table.tHead.replaceChildren(el("tr", {}, ...t.columns.map((c) => el("th", { text: c.label }))));
    table.tBodies[0].replaceChildren(...rows.map((r) => {
      const tr = el("tr", { dataset: { id: r[t.idKey] ?? "" } }, ...t.columns.map((c) => cell(c, r)));
      tr.addEventListener("click", () => openRow(t, r));
      return tr;
    }));
  }

  let stateTimer = null;
  let stateLoading = false;

  function scheduleStateRefresh() {
    if (stateTimer) return;
    stateTimer = setTimeout(() => {
      stateTimer = null;
      loadState().catch(() => {});
      if (S.customerQuery) loadCustomer(S.customerQuery, true).catch(() => {});
      document.dispatchEvent(new CustomEvent("sandbox:refresh")); // reports.js (and other panels) reload
    }, 1200);
  }

  async function loadState() {
    if (!S.location || stateLoading) return;
    stateLoading = true;
    try {
      const location = S.location;
      const data = await api("GET", `/_sandbox/dashboard/tables?locationId=${encodeURIComponent(location)}`);
      if (location !== S.location) return;
      S.state = data;
      renderState();
    } finally {
      stateLoading = false;
    }
  }

  function renderStateTabs(tables) {
    const nav = $("#state-tabs");
    const wanted = tables.map(tableKey).join(",");
    if (Array.from(nav.children).map((b) => b.dataset.kind).join(",") !== wanted) {
      const services = new Set(tables.map((t) => t.service));
      nav.replaceChildren(...tables.map((t) => el("button", { type: "button", dataset: { kind: tableKey(t), service: t.service } },
        services.size > 1 ? el("span", { class: "svc svc-" + t.service, text: t.service }) : "", ` ${t.title} `,
        el("span", { class: "count" }))));
    }
    for (const b of nav.children) {
      const t = tables.find((x) => tableKey(x) === b.dataset.kind);
      b.classList.toggle("active", b.dataset.kind === S.stateKind);
      b.querySelector(".count").textContent = t ? `(${t.count})` : "";
    }
  }

  function renderState() {
    const data = S.state;
    if (!data) return;
    if (!data.tables.some((t) => tableKey(t) === S.stateKind)) S.stateKind = data.tables.length ? tableKey(data.tables[0]) : "";
    renderStateTabs(data.tables);
    const t = data.tables.find((x) => tableKey(x) === S.stateKind);
    const table = $("#state-table");
    if (!t) {
      table.tHead.replaceChildren();
      table.tBodies[0].replaceChildren();
      return;
    }
    const rows = t.rows;
    const statusSel = $("#state-status");
    const statuses = new Set();
    for (const r of rows) for (const f of t.statusFields) if (r[f]) statuses.add(String(r[f]));
    const chosen = statusSel.value;
    const wanted = ["", ...Array.from(statuses).sort()];
    if (Array.from(statusSel.options).map((o) => o.value).join(",") !== wanted.join(",")) {
      statusSel.replaceChildren(...wanted.map((v) => el("option", { value: v, text: v || "any status" })));
    }
    statusSel.value = statuses.has(chosen) ? chosen : "";
    statusSel.disabled = !t.statusFields.length;
    const q = $("#state-filter").value.trim().toLowerCase();
    const status = statusSel.value;
    const matching = rows.filter((r) =>
      (!status || t.statusFields.some((f) => String(r[f]) === status)) &&
      (!q || JSON.stringify(r).toLowerCase().includes(q)));
    table.dataset.table = tableKey(t);
    fillTable(table, t, matching.slice(0, MAX_TABLE_ROWS));
    $("#state-shown").textContent = matching.length > MAX_TABLE_ROWS
      ? `showing ${MAX_TABLE_ROWS} of ${matching.length}`
      : `${matching.length} of ${rows.length}`;
  }

  // A row's full record: read from the service's resource path, or the row itself.
  async function openRow(t, row) {
    const id = row[t.idKey];
    pickAcuityAppointment(t, row);
    const title = `${t.service} ${t.kind.replace(/s$/, "")} ${id ?? ""}`;
    if (!t.resourcePath) {
      openDrawer(title, row, customerUse(row));
      return;
    }
    try {
      const path = t.resourcePath.replace("{locationId}", encodeURIComponent(S.location)).replace("{id}", encodeURIComponent(id));
      const data = await api("GET", path);
      let use = null;
      if (t.service === "ghl") {
        if (t.kind === "orders") use = () => { $("#order-id").value = id; selectTab("actions", "orders"); };
        if (t.kind === "subscriptions") use = () => { $("#subscription-id").value = id; selectTab("actions", "subscriptions"); };
        if (t.kind === "transactions" && data.entityId) use = () => { $("#order-id").value = data.entityId; selectTab("actions", "orders"); };
      }
      openDrawer(title, data, use);
    } catch (err) {
      showResult(false, errorText(err));
    }
  }

  // Picking an Acuity appointment (or one of its payments or ledger entries) fills the change form.
  function pickAcuityAppointment(t, row) {
    if (t.service !== "acuity") return;
    let appointmentId = null;
    if (t.kind === "appointments") appointmentId = row.id;
    else if (t.kind === "payments" && row.sourceKind === "appointment") appointmentId = row.parentId;
    else if (t.kind === "processor") appointmentId = row.appointmentID;
    if (appointmentId !== null && appointmentId !== undefined && appointmentId !== "") $("#acuity-appointment-id").value = appointmentId;
  }

  // A record with an email opens that person in the customer panel.
  function customerUse(row) {
    const email = row.email || row.customerEmail || row.contactEmail;
    if (!email) return null;
    return { label: "Show customer", run: () => showCustomer(email) };
  }

  // ---- the customer panel (GET /_sandbox/dashboard/customer) ---------------------------------------

  function showCustomer(q) {
    $("#customer-q").value = q;
    loadCustomer(q).catch((err) => showResult(false, errorText(err)));
    $("#customer-panel").scrollIntoView({ block: "start" });
  }

  let customerSeq = 0;

  async function loadCustomer(q, quiet) {
    if (!S.location || !q) return;
    const seq = ++customerSeq;
    const location = S.location;
    let data;
    try {
      data = await api("GET", `/_sandbox/dashboard/customer?locationId=${encodeURIComponent(location)}&q=${encodeURIComponent(q)}`);
    } catch (err) {
      if (!quiet) $("#customer-sections").replaceChildren(el("p", { class: "s-bad", text: errorText(err) }));
      throw err;
    }
    if (seq !== customerSeq || location !== S.location) return;
    S.customerQuery = q;
    renderCustomer(data);
  }

  function renderCustomer(data) {
    const people = data.people;
    const total = data.sections.reduce((n, t) => n + t.count, 0);
    $("#customer-summary").textContent = people.length
      ? `${people.length} ${people.length === 1 ? "person" : "people"} · ${total} record(s)`
      : data.byEmail ? `no source knows ${data.query}` : `nobody named “${data.query}”`;
    $("#customer-people").replaceChildren(...people.map((p) => el("div", {
      class: "person" + (data.byEmail ? " chosen" : ""), dataset: { email: p.email }, title: "Show only this person",
      onclick: () => showCustomer(p.email) },
      el("b", { text: p.names.join(" / ") || "(no name)" }), " ", el("span", { class: "mono", text: p.email }),
      p.phones.length ? el("span", { class: "muted", text: " · " + p.phones.join(", ") }) : "",
      ...Object.entries(p.services).map(([service, records]) => el("span", {
        class: "svc svc-" + service, title: records.map((r) => `${r.firstName} ${r.lastName} <${r.email}>`).join("\n"),
        text: `${service}${records.length > 1 ? " ×" + records.length : ""}` })))));
    const byService = new Map();
    for (const t of data.sections) {
      if (!byService.has(t.service)) byService.set(t.service, []);
      byService.get(t.service).push(t);
    }
    const blocks = [];
    for (const [service, tables] of byService) {
      const parts = [el("h3", {}, el("span", { class: "svc svc-" + service, text: service }))];
      for (const t of tables) {
        const head = el("h4", { text: `${t.title} (${t.count})` });
        if (!t.rows.length) {
          parts.push(el("div", { class: "customer-table empty", dataset: { table: tableKey(t) } }, head, el("span", { class: "muted", text: "none" })));
          continue;
        }
        const table = el("table", { dataset: { table: tableKey(t) } }, el("thead"), el("tbody"));
        fillTable(table, t, t.rows.slice(0, MAX_TABLE_ROWS));
        parts.push(el("div", { class: "customer-table", dataset: { table: tableKey(t) } }, head, el("div", { class: "table-wrap short" }, table)));
      }
      blocks.push(el("div", { class: "customer-service", dataset: { service } }, ...parts));
    }
    $("#customer-sections").replaceChildren(...blocks);
  }

  // ---- the JSON drawer ---------------------------------------------------------------------------

  function highlighted(value) {
    const text = JSON.stringify(value, null, 2);
    const frag = document.createDocumentFragment();
    const re = /("(?:\\.|[^"\\])*"(\s*:)?|\b(?:true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      if (m.index > last) frag.append(text.slice(last, m.index));
      const tok = m[0];
      const cls = tok.startsWith('"') ? (m[2] ? "k" : "s") : /true|false|null/.test(tok) ? "b" : "n";
      frag.append(el("span", { class: cls, text: tok }));
      last = m.index + tok.length;
    }
    frag.append(text.slice(last));
    return frag;
  }

  function openDrawer(title, data, use) {
    $("#drawer-title").textContent = title;
    $("#drawer-json").replaceChildren(highlighted(data));
    $("#drawer").dataset.json = JSON.stringify(data, null, 2);
    const action = typeof use === "function" ? { label: "Use in actions", run: use } : use;
    S.drawerUse = action ? action.run : null;
    $("#drawer-use").textContent = action ? action.label : "";
    $("#drawer-use").hidden = !action;
    $("#drawer").hidden = false;
  }

  function closeDrawer() {
    $("#drawer").hidden = true;
  }

  // ---- harness results ---------------------------------------------------------------------------

  async function loadHarness() {
    const box = $("#harness");
    let report;
    try {
      report = await api("GET", "/_sandbox/harness/latest");
    } catch (err) {
      if (err.status === 404) {
        box.replaceChildren(el("p", { class: "muted" },
          "No check run saved yet. Run ", el("code", { text: "ghl-sandbox check --client \"python examples/clients/reference_client.py\"" }),
          " and its report appears here", err.data && err.data.file ? ` (read from ${err.data.file}).` : "."));
        return;
      }
      box.replaceChildren(el("p", { class: "s-bad", text: errorText(err) }));
      return;
    }
    const scenarios = report.scenarios || [];
    const passed = scenarios.filter((s) => s.ok).length;
    const checks = [];
    for (const s of scenarios) for (const c of s.checks || []) if (!checks.includes(c.check)) checks.push(c.check);
    const summary = el("div", { class: "harness-summary" },
      el("span", { class: "verdict " + (report.passed ? "pass" : "fail"), text: report.passed ? "PASSED" : "FAILED" }),
      el("span", { text: `${passed} of ${scenarios.length} scenarios passed` }),
      report.savedAt ? el("span", { class: "muted", text: `saved ${report.savedAt}` }) : "",
      report.client ? el("span", { class: "muted" }, "client ", el("code", { text: report.client })) : "",
      report.seed !== undefined ? el("span", { class: "muted", text: `seed ${report.seed}` }) : "",
      el("span", { class: "muted" }, "file ", el("code", { text: report.file || "" })));
    const head = el("tr", {}, el("th", { text: "scenario" }), ...checks.map((c) => el("th", { text: c.replace(/_/g, " ") })), el("th", { text: "s" }));
    const rows = scenarios.map((s) => {
      const by = Object.fromEntries((s.checks || []).map((c) => [c.check, c]));
      return el("tr", { class: s.ok ? "" : "failed" },
        el("td", {}, s.name, s.error ? el("span", { class: "tag fault", text: "error" }) : ""),
        ...checks.map((c) => {
          const o = by[c];
          if (!o) return el("td", { class: "cell none", text: "–" });
          return el("td", { class: "cell " + (o.ok ? "pass" : "fail"), title: o.summary || "", text: o.ok ? "pass" : "FAIL" });
        }),
        el("td", { class: "num", text: (s.seconds || 0).toFixed(1) }));
    });
    const table = el("div", { class: "table-wrap" }, el("table", { class: "matrix" }, el("thead", {}, head), el("tbody", {}, rows)));
    const failures = scenarios.filter((s) => !s.ok).map((s) => el("div", { class: "failure" },
      el("h4", {}, `FAILED ${s.name} `, el("span", { class: "muted mono", text: s.path || "" })),
      s.error ? el("div", { class: "s-bad", text: "error: " + s.error }) : "",
      ...(s.checks || []).filter((c) => !c.ok).map((c) => el("div", { class: "check" },
        el("b", { class: "s-bad", text: c.check }), `: ${c.summary}`,
        c.evidence && c.evidence.length ? el("ul", {}, c.evidence.slice(0, 30).map((line) => el("li", { text: line }))) : "")),
      s.replayFile ? el("div", {}, "replay: ", el("code", { text: `ghl-sandbox check --client … --scenarios ${s.replayFile}` })) : ""));
    box.replaceChildren(summary, table, ...failures);
  }

  // ---- tabs and forms ----------------------------------------------------------------------------

  function selectTab(group, name) {
    const nav = $(`nav[data-tabs="${group}"]`);
    for (const b of $$("button", nav)) b.classList.toggle("active", b.dataset.tab === name);
    for (const body of $$("[data-tab-body]", nav.closest(".panel"))) body.hidden = body.dataset.tabBody !== name;
  }

  function parseItems(text) {
    const items = [];
    for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
      const [priceId, qty] = part.split(":");
      items.push({ priceId: priceId.trim(), qty: qty ? Number(qty) : 1 });
    }
    return items;
  }

  // A simulated resource's state in a few words: GHL's statuses, or what an Acuity resource says.
  function resourceState(r) {
    const d = r.data || {};
    if (r.type === "appointment") {
      const state = d.canceled ? (d.noShow ? "no-show" : "canceled") : "scheduled";
      return `${state}, paid ${d.amountPaid ?? "0.00"} of ${d.price ?? "?"}` + (d.paid === "yes" ? " ✓" : "");
    }
    if (r.type === "payment" || r.type === "refund") return [d.amount, d.processor].filter(Boolean).join(" via ");
    if (r.type === "order") return [d.title, d.total, d.status].filter(Boolean).join(", ");
    if (r.type === "certificate") return d.certificate ? `code ${d.certificate}` : "";
    return [d.status, d.paymentStatus, d.fulfillmentStatus].filter(Boolean).join("/");
  }

  function describeAction(result) {
    const parts = [el("b", { text: result.action }), " ✓ "];
    for (const r of result.resources) {
      const st = resourceState(r);
      parts.push(el("span", { class: "mono", text: `${r.type} ${r.id}` }), st ? ` (${st}) ` : " ");
    }
    const hooks = result.webhooks.map((w) => `${w.event} → ${w.deliveries.length} target(s)`);
    parts.push(hooks.length ? ` · webhooks: ${hooks.join(", ")}` : " · no webhook");
    return parts;
  }

  async function simulate(action, body) {
    const result = await api("POST", `/_sandbox/simulate/${action}`, { locationId: S.location, ...body });
    for (const r of result.resources) {
      if (r.type === "order" && (action === "order.create" || action === "subscription.create")) $("#order-id").value = r.id;
      if (r.type === "subscription" && action === "subscription.create") $("#subscription-id").value = r.id;
      if (r.type === "appointment" && action === "acuity.schedule") $("#acuity-appointment-id").value = r.id;
    }
    showResult(true, describeAction(result));
    scheduleStateRefresh();
    return result;
  }

  function submitter(event) {
    return event.submitter || event.target.querySelector("button[type=submit]");
  }

  function wireForms() {
    $("#form-order-create").addEventListener("submit", (e) => {
      e.preventDefault();
      const items = parseItems(e.target.items.value);
      run(submitter(e), () => simulate("order.create", items.length ? { items } : {}));
    });
    $("#form-order").addEventListener("submit", (e) => {
      e.preventDefault();
      const button = submitter(e);
      const action = button.dataset.action;
      const body = { orderId: e.target.orderId.value.trim() };
      const amount = e.target.amount.value.trim();
      if (amount && (action === "order.pay" || action === "order.refund" || action === "order.fail_payment"
                     || action === "order.record_payment")) body.amount = Number(amount);
      if (action === "order.record_payment") {
        body.mode = e.target.mode.value;
        const notes = e.target.notes.value.trim();
        if (notes) body.notes = notes;
      }
      run(button, () => simulate(action, body));
    });
    $("#form-sub-create").addEventListener("submit", (e) => {
      e.preventDefault();
      const priceId = e.target.priceId.value.trim();
      run(submitter(e), () => simulate("subscription.create", priceId ? { priceId } : {}));
    });
    $("#form-sub").addEventListener("submit", (e) => {
      e.preventDefault();
      const button = submitter(e);
      run(button, () => simulate(button.dataset.action, { subscriptionId: e.target.subscriptionId.value.trim() }));
    });

    // Acuity: only the fields filled in are sent; the control plane's defaults do the rest.
    $("#form-acuity-schedule").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target;
      const body = { pay: f.pay.value, processor: f.processor.value };
      if (f.email.value.trim()) body.email = f.email.value.trim();
      run(submitter(e), () => simulate("acuity.schedule", body));
    });
    $("#form-acuity-appointment").addEventListener("submit", (e) => {
      e.preventDefault();
      const button = submitter(e);
      const action = button.dataset.action;
      const body = { appointmentId: Number(e.target.appointmentId.value) };
      const amount = e.target.amount.value.trim();
      if (amount && (action === "acuity.pay" || action === "acuity.refund")) body.amount = Number(amount);
      if (action === "acuity.pay") body.kind = button.dataset.kind;
      if (action === "acuity.cancel" && button.dataset.noShow) body.noShow = true;
      run(button, () => simulate(action, body));
    });
    $("#form-acuity-order").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target;
      const body = { kind: f.kind.value };
      if (f.email.value.trim()) body.email = f.email.value.trim();
      run(submitter(e), () => simulate("acuity.order", body));
    });

    $("#form-fault").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target;
      const match = {};
      if (f.method.value) match.method = f.method.value;
      if (f.path.value.trim()) match.path = f.path.value.trim();
      if (f.thisLocation.checked) match.locationId = S.location;
      const effect = {};
      const kind = f.effect.value;
      if (kind === "status") effect.status = Number(f.value.value || 503);
      else if (kind === "delayMs") effect.delayMs = Number(f.value.value || 1000);
      else effect[kind] = true;
      const rule = { match, effect };
      if (f.times.value) rule.times = Number(f.times.value);
      if (f.probability.value) rule.probability = Number(f.probability.value);
      run(submitter(e), async () => {
        const r = await api("POST", "/_sandbox/faults", rule);
        showResult(true, `Fault rule ${r.id} added: `, el("span", { class: "mono", text: JSON.stringify({ match: r.match, effect: r.effect }) }));
        await loadOverview();
      });
    });
    $("#form-fault").effect.addEventListener("change", (e) => {
      const value = e.target.form.value;
      if (e.target.value === "status") value.value = "503";
      else if (e.target.value === "delayMs") value.value = "1500";
      else value.value = "";
      value.disabled = !(e.target.value === "status" || e.target.value === "delayMs");
    });
    $("#clear-faults").addEventListener("click", (e) => run(e.currentTarget, async () => {
      const r = await api("DELETE", "/_sandbox/faults");
      showResult(true, `${r.cleared} fault rule(s) cleared.`);
      await loadOverview();
    }));

    $("#form-chaos").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target;
      const chaos = {
        drop: Number(f.drop.value || 0), duplicate: Number(f.duplicate.value || 0),
        delayMs: Number(f.delayMs.value || 0), reorderWindow: Number(f.reorderWindow.value || 0),
      };
      run(submitter(e), async () => {
        if (f.target.value) await api("PUT", `/_sandbox/webhooks/targets/${encodeURIComponent(f.target.value)}/chaos`, chaos);
        else await api("PUT", "/_sandbox/webhooks/chaos", chaos);
        showResult(true, `Delivery chaos set${f.target.value ? " for that target" : " (global)"}: ${chaosText({ ...chaos, duplicateCount: 1 })}.`);
        await loadOverview();
      });
    });
    $("#clear-chaos").addEventListener("click", (e) => run(e.currentTarget, async () => {
      const target = $("#chaos-target").value;
      if (target) await api("PUT", `/_sandbox/webhooks/targets/${encodeURIComponent(target)}/chaos`, {});
      else await api("DELETE", "/_sandbox/webhooks/chaos");
      showResult(true, "Delivery chaos cleared.");
      await loadOverview();
    }));

    $("#form-target").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target;
      const events = ["OrderCreate", "OrderStatusUpdate"].filter((n) => f[n].checked);
      const body = { url: f.url.value.trim(), events };
      if (f.thisLocation.checked) body.locationId = S.location;
      run(submitter(e), async () => {
        const t = await api("POST", "/_sandbox/webhooks/targets", body);
        showResult(true, "Webhook target registered: ", el("span", { class: "mono", text: `${t.id} ${t.url}` }));
        await loadOverview();
      });
    });

    $("#form-clock").addEventListener("submit", (e) => {
      e.preventDefault();
      const advance = e.target.advance.value.trim();
      run(submitter(e), async () => {
        const c = await api("POST", "/_sandbox/clock", { advance: /^\d+(\.\d+)?$/.test(advance) ? Number(advance) : advance });
        renderClock(c);
        showResult(true, `Clock advanced by ${advance}: now ${c.now}.`);
      });
    });
    $("#freeze").addEventListener("click", (e) => run(e.currentTarget, async () => {
      const freeze = !e.currentTarget.dataset.frozen;
      const c = await api("POST", "/_sandbox/clock", { freeze });
      renderClock(c);
      showResult(true, freeze ? "Clock frozen." : "Clock running again.");
    }));
    $("#form-reset").addEventListener("submit", (e) => {
      e.preventDefault();
      const f = e.target;
      if (!window.confirm("Reset the sandbox to its seeded state?")) return;
      const body = {};
      if (f.seed.value) body.seed = Number(f.seed.value);
      if (f.orders.value) body.orders = Number(f.orders.value);
      run(submitter(e), async () => {
        const r = await api("POST", "/_sandbox/reset", body);
        showResult(true, `Reset to seed ${r.seed} with ${r.orders} orders in ${r.resetMs} ms.`);
        await loadOverview();
        await loadState();
      });
    });
  }

  function wireUi() {
    for (const nav of $$("nav[data-tabs]")) {
      nav.addEventListener("click", (e) => {
        const b = e.target.closest("button");
        if (!b) return;
        if (nav.dataset.tabs === "state") {
          S.stateKind = b.dataset.kind;
          for (const x of $$("button", nav)) x.classList.toggle("active", x === b);
          $("#state-status").value = "";
          renderState();
        } else {
          selectTab(nav.dataset.tabs, b.dataset.tab);
        }
      });
    }
    $("#location").addEventListener("change", (e) => {
      S.location = e.target.value;
      e.target.title = S.location;
      localStorage.setItem("ghl-sandbox.location", S.location);
      S.state = null;
      announceLocation();
      loadState().catch((err) => showResult(false, errorText(err)));
      if (S.customerQuery) loadCustomer(S.customerQuery).catch(() => {});
      drawCharts();
      rerenderTimeline();
    });
    $("#state-filter").addEventListener("input", renderState);
    $("#state-status").addEventListener("change", renderState);
    for (const id of ["#show-request", "#show-delivery", "#show-action", "#only-problems", "#only-location", "#timeline-service"]) {
      $(id).addEventListener("change", rerenderTimeline);
    }
    $("#timeline-filter").addEventListener("input", rerenderTimeline);
    $("#rate-scope").addEventListener("change", drawCharts);
    $("#pause").addEventListener("click", () => {
      S.paused = !S.paused;
      $("#pause").textContent = S.paused ? "Resume" : "Pause";
      if (!S.paused) {
        const queued = S.queuedWhilePaused;
        S.queuedWhilePaused = [];
        addEvents(queued);
      }
    });
    $("#clear-timeline").addEventListener("click", () => {
      S.events = [];
      rerenderTimeline();
    });
    $("#drawer-close").addEventListener("click", closeDrawer);
    document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeDrawer(); });
    $("#drawer-use").addEventListener("click", () => { if (S.drawerUse) S.drawerUse(); closeDrawer(); });
    $("#drawer-copy").addEventListener("click", () => {
      const text = $("#drawer").dataset.json || "";
      if (navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
    });
    $("#harness-refresh").addEventListener("click", () => loadHarness());
    $("#form-customer").addEventListener("submit", (e) => {
      e.preventDefault();
      const q = $("#customer-q").value.trim();
      if (q) run(submitter(e), () => loadCustomer(q));
    });
    window.addEventListener("resize", drawCharts);
  }

  async function main() {
    wireUi();
    wireForms();
    try {
      await loadOverview();
    } catch (err) {
      showResult(false, "Cannot reach the control plane: " + errorText(err));
    }
    connect();
    loadState().catch((err) => showResult(false, errorText(err)));
    loadHarness();
    setInterval(loadHarness, 15000);
    drawCharts();
  }

  document.addEventListener("DOMContentLoaded", main);
})();
