// ghl-sandbox dashboard: the Reports panel. Vanilla JS, charts drawn as inline SVG by this file (no library).
// Data: GET /_sandbox/reports/{name}?locationId=&from=&to= (JSON); each card links its CSV (&format=csv).
// It follows the page's location picker (#location) and refreshes when app.js says data changed
// (the `sandbox:refresh` event on document), or with its own button.
"use strict";

(function () {
  const NAMES = ["revenue-by-day", "revenue-by-source", "payment-rates", "subscriptions", "sync-health", "sync-lag",
    "webhook-delivery", "routing-load"];
  const COLORS = { ghl: "#2563eb", acuity: "#0d9488", net: "#b45309", ok: "#16a34a", bad: "#dc2626", warn: "#d97706",
    grey: "#94a3b8", violet: "#7c3aed" };
  const SVG = "http://www.w3.org/2000/svg";
  const W = 560;
  const H = 190;
  const R = { loading: false, timer: null, data: {} };

  const { $, el: h } = window.SandboxDom; // dom.js

  function s(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function location() {
    const sel = $("#location");
    return sel ? sel.value : "";
  }

  function query(name, extra) {
    const p = new URLSearchParams();
    if (location()) p.set("locationId", location());
    const from = $("#reports-from").value;
    const to = $("#reports-to").value;
    if (from) p.set("from", from);
    if (to) p.set("to", to);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return `/_sandbox/reports/${name}?${p.toString()}`;
  }

  async function fetchReport(name) {
    const r = await fetch(query(name), { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = await r.json().catch(() => null);
    if (!r.ok) {
      const msg = data && data.message ? (Array.isArray(data.message) ? data.message.join("; ") : data.message) : r.statusText;
      throw new Error(`${r.status} ${msg}`);
    }
    return data;
  }

  // ---- number formatting ----------------------------------------------------------------------

  function fmtMoney(v, cur) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(2) + (cur ? " " + cur : "");
  }

  function fmtRate(v) {
    return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%";
  }

  function fmtSeconds(v) {
    return v === null || v === undefined ? "–" : Number(v).toFixed(3) + " s";
  }

  function niceMax(v) {
    const raw = Math.max(v, 1e-9) / 4;
    const pow = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * pow >= raw) return m * pow * 4;
    return 40 * pow;
  }

  // ---- chart pieces -------------------------------------------------------------------------------

  function frame(name, box, yMax, fmt) {
    const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, class: "report-chart", "data-chart": name, role: "img" });
    for (let i = 0; i <= 4; i++) {
      const y = box.y + box.h - (box.h * i) / 4;
      svg.append(s("line", { x1: box.x, x2: box.x + box.w, y1: y, y2: y, stroke: "#e3e7ee" }),
        s("text", { x: box.x - 4, y: y + 3, "text-anchor": "end", class: "axis" }, fmt((yMax * i) / 4)));
    }
    return svg;
  }

  function legend(items) {
    return h("div", { class: "legend" }, ...items.map(([label, color]) => {
      const sw = h("span", { class: "sw" });
      sw.style.background = color;
      return [sw, label];
    }));
  }

  function empty(name, text) {
    const svg = s("svg", { viewBox: `0 0 ${W} 60`, class: "report-chart", "data-chart": name, role: "img" });
    svg.append(s("text", { x: W / 2, y: 34, "text-anchor": "middle", class: "axis" }, text));
    return svg;
  }

  // Vertical stacked bars: `points` [{key, label, parts: [{series, value, color}], line?}], optional line series.
  function stackedColumns(name, points, fmt, line, minMax) {
    const box = { x: 52, y: 8, w: W - 60, h: H - 30 };
    const peak = Math.max(0, ...points.map((p) => p.parts.reduce((a, x) => a + Math.max(0, x.value), 0)),
      ...(line ? points.map((p) => p.line || 0) : []));
    const yMax = niceMax(Math.max(peak, minMax || 0) || 1);
    const svg = frame(name, box, yMax, fmt);
    const bw = box.w / Math.max(points.length, 1);
    const y = (v) => box.y + box.h - (box.h * v) / yMax;
    points.forEach((p, i) => {
      let base = 0;
      for (const part of p.parts) {
        const v = Math.max(0, part.value);
        const rect = s("rect", { x: box.x + i * bw + Math.min(1, bw * 0.15), y: y(base + v), width: Math.max(0.6, bw - Math.min(2, bw * 0.3)),
          height: Math.max(0, y(base) - y(base + v)), fill: part.color, "data-key": p.key, "data-series": part.series, "data-value": part.value });
        rect.append(s("title", {}, `${p.label} ${part.series}: ${fmt(part.value)}`));
        svg.append(rect);
        base += v;
      }
    });
    if (line) {
      const pts = points.map((p, i) => `${(box.x + (i + 0.5) * bw).toFixed(1)},${y(Math.max(0, p.line || 0)).toFixed(1)}`);
      svg.append(s("polyline", { points: pts.join(" "), fill: "none", stroke: line.color, "stroke-width": 1.2, "stroke-opacity": 0.75,
        "data-series": line.series }));
    }
    const every = Math.max(1, Math.ceil(points.length / 6));
    points.forEach((p, i) => {
      if (i % every && i !== points.length - 1) return;
      svg.append(s("text", { x: box.x + (i + 0.5) * bw, y: H - 6, "text-anchor": "middle", class: "axis" }, p.label));
    });
    return svg;
  }

  // Horizontal bars, one group per row: rows [{key, label, bars: [{series, value, color, text}], mark?}]
  function horizontalBars(name, rows, max, fmt) {
    const bh = 14;
    const gap = 6;
    const perRow = Math.max(1, ...rows.map((r) => r.bars.length));
    const rowH = perRow * (bh + 2) + gap;
    const height = Math.max(40, rows.length * rowH + 10);
    const labelW = 170;
    const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "report-chart", "data-chart": name, role: "img" });
    const scale = (v) => ((W - labelW - 90) * Math.max(0, v)) / (max || 1);
    rows.forEach((r, i) => {
      const top = 5 + i * rowH;
      svg.append(s("text", { x: labelW - 6, y: top + bh - 3, "text-anchor": "end", class: "label" }, r.label));
      r.bars.forEach((b, j) => {
        const y0 = top + j * (bh + 2);
        const rect = s("rect", { x: labelW, y: y0, width: Math.max(b.value > 0 ? 1 : 0, scale(b.value)), height: bh, fill: b.color,
          "data-key": r.key, "data-series": b.series, "data-value": b.value });
        rect.append(s("title", {}, `${r.label} ${b.series}: ${b.text || fmt(b.value)}`));
        svg.append(rect, s("text", { x: labelW + scale(b.value) + 4, y: y0 + bh - 3, class: "axis" }, b.text || fmt(b.value)));
      });
      if (r.mark !== undefined && r.mark !== null) {
        const x = labelW + scale(r.mark);
        svg.append(s("line", { x1: x, x2: x, y1: top - 2, y2: top + perRow * (bh + 2), stroke: COLORS.bad, "stroke-dasharray": "3 2",
          "data-key": r.key, "data-series": "capacity", "data-value": r.mark }));
      }
    });
    return svg;
  }

  // Stacked horizontal bars (parts of one whole per row).
  function stackedRows(name, rows) {
    const bh = 16;
    const labelW = 170;
    const height = Math.max(40, rows.length * (bh + 8) + 10);
    const svg = s("svg", { viewBox: `0 0 ${W} ${height}`, class: "report-chart", "data-chart": name, role: "img" });
    const max = Math.max(1, ...rows.map((r) => r.parts.reduce((a, p) => a + p.value, 0)));
    const scale = (v) => ((W - labelW - 110) * v) / max;
    rows.forEach((r, i) => {
      const top = 5 + i * (bh + 8);
      svg.append(s("text", { x: labelW - 6, y: top + bh - 4, "text-anchor": "end", class: "label" }, r.label));
      let x = labelW;
      for (const p of r.parts) {
        const rect = s("rect", { x, y: top, width: scale(p.value), height: bh, fill: p.color, "data-key": r.key,
          "data-series": p.series, "data-value": p.value });
        rect.append(s("title", {}, `${r.label} ${p.series}: ${p.value}`));
        svg.append(rect);
        x += scale(p.value);
      }
      svg.append(s("text", { x: x + 4, y: top + bh - 4, class: "axis" }, r.total));
    });
    return svg;
  }

  // ---- one card per report ---------------------------------------------------------------------------

  function table(report, keys, limit) {
    const cols = report.columns.filter((c) => !keys || keys.includes(c.key));
    const rows = report.rows.slice(0, limit || 12);
    const cell = (c, r) => {
      const v = r[c.key];
      if (c.type === "money") return fmtMoney(v, "");
      if (c.type === "rate") return fmtRate(v);
      if (Array.isArray(v)) return v.join(", ");
      return v === null || v === undefined ? "" : String(v);
    };
    return h("div", { class: "table-wrap short" }, h("table", { class: "report-table", "data-table": report.report },
      h("thead", {}, h("tr", {}, cols.map((c) => h("th", { text: c.label })))),
      h("tbody", {}, rows.map((r) => h("tr", {}, cols.map((c) => h("td", { class: ["money", "num", "rate", "seconds"].includes(c.type) ? "num" : "", text: cell(c, r) })))))),
    report.rows.length > rows.length ? h("p", { class: "hint", text: `${rows.length} of ${report.rows.length} rows shown; the CSV has them all.` }) : "");
  }

  function figures(items) {
    return h("div", { class: "report-figures" }, items.map(([label, value, key]) =>
      h("span", { class: "figure" }, h("span", { class: "muted", text: label + " " }), h("b", { "data-figure": key || label, text: value }))));
  }

  const RENDER = {
    "revenue-by-day": (r) => {
      const cur = r.summary.currencies && r.summary.currencies[0];
      if (!cur) return [empty(r.report, "No payments in this window.")];
      const rows = r.rows.filter((x) => x.currency === cur.currency);
      const points = rows.map((x) => ({ key: x.date, label: x.date.slice(5), line: x.net,
        parts: [{ series: "ghl", value: x.ghl, color: COLORS.ghl }, { series: "acuity", value: x.acuity, color: COLORS.acuity }] }));
      return [figures([["gross", fmtMoney(cur.gross, cur.currency), "gross"], ["refunds", fmtMoney(cur.refunds, cur.currency), "refunds"],
        ["net", fmtMoney(cur.net, cur.currency), "net"], ["payments", String(cur.payments), "payments"]]),
      stackedColumns(r.report, points, (v) => v.toFixed(0), { series: "net", color: COLORS.net }),
      legend([["GHL", COLORS.ghl], ["Acuity", COLORS.acuity], ["net", COLORS.net]])];
    },
    "revenue-by-source": (r) => {
      if (!r.rows.length) return [empty(r.report, "No payments in this window.")];
      const cur = r.rows[0].currency;
      const rows = r.rows.filter((x) => x.currency === cur);
      const max = niceMax(Math.max(1, ...rows.map((x) => x.gross)));
      return [horizontalBars(r.report, rows.map((x) => ({ key: x.label, label: x.label, bars: [
        { series: "gross", value: x.gross, color: x.source === "acuity" ? COLORS.acuity : COLORS.ghl, text: `${fmtMoney(x.gross, cur)} (${fmtRate(x.share)})` },
        { series: "refunds", value: x.refunds, color: COLORS.bad, text: fmtMoney(x.refunds, cur) }] })), max, (v) => fmtMoney(v, cur)),
      legend([["gross", COLORS.ghl], ["refunds", COLORS.bad]]), table(r, ["label", "payments", "gross", "refunds", "net", "share"])];
    },
    "payment-rates": (r) => {
      if (!r.rows.length) return [empty(r.report, "No payments in this window.")];
      const rows = r.rows.map((x) => ({ key: x.source, label: `${x.source} (${x.attempts} tries)`, bars: [
        { series: "successRate", value: x.successRate || 0, color: COLORS.ok, text: "success " + fmtRate(x.successRate) },
        { series: "failureRate", value: x.failureRate || 0, color: COLORS.bad, text: "failure " + fmtRate(x.failureRate) },
        { series: "refundRate", value: x.refundRate || 0, color: COLORS.warn, text: "refund " + fmtRate(x.refundRate) }] }));
      return [horizontalBars(r.report, rows, 1, fmtRate), table(r, ["source", "attempts", "succeeded", "failed", "pending", "refunded", "captured", "refundedAmount"])];
    },
    subscriptions: (r) => {
      const cur = r.summary.currencies && r.summary.currencies[0];
      if (!cur) return [empty(r.report, "No subscriptions.")];
      const rows = r.rows.filter((x) => x.currency === cur.currency);
      const points = rows.map((x) => ({ key: x.date, label: x.date.slice(5), line: x.mrr,
        parts: [{ series: "mrr", value: x.mrr, color: "#c7d2fe" }] }));
      return [figures([["MRR", fmtMoney(cur.mrrEnd, cur.currency), "mrrEnd"], ["live", String(cur.activeAtEnd), "activeAtEnd"],
        ["churn", fmtRate(cur.churnRate), "churnRate"], ["new", String(cur.new), "new"], ["canceled", String(cur.canceled), "canceled"]]),
      stackedColumns(r.report, points, (v) => v.toFixed(0), { series: "mrr-line", color: COLORS.violet }),
      legend([["MRR at the day's end", COLORS.violet]])];
    },
    "sync-health": (r) => {
      const c = r.summary.collections;
      const parts = [["inSync", COLORS.ok], ["differs", COLORS.warn], ["missing", COLORS.bad], ["duplicated", COLORS.violet], ["extra", COLORS.grey]];
      const rows = Object.entries(c).map(([name, st]) => ({ key: name, label: name + (st.compared ? "" : " (not compared)"),
        total: `${st.inSync} of ${st.sources} in sync`, parts: parts.map(([k, color]) => ({ series: k, value: st[k], color })) }));
      return [figures([["in sync", String(r.summary.total.inSync), "inSync"], ["differ", String(r.summary.total.differs), "differs"],
        ["missing", String(r.summary.total.missing), "missing"], ["extra", String(r.summary.total.extra), "extra"]]),
      stackedRows(r.report, rows), legend(parts.map(([k, color]) => [k, color])),
      table(r, ["collection", "recordId", "state", "fields", "detail"], 30)];
    },
    "sync-lag": (r) => {
      const sm = r.summary;
      const out = [figures([["pairs", String(sm.pairs), "pairs"], ["p50", fmtSeconds(sm.p50), "p50"], ["p95", fmtSeconds(sm.p95), "p95"],
        ["max", fmtSeconds(sm.max), "max"], ["events without a copy", String(sm.eventsWithoutCopy), "eventsWithoutCopy"]])];
      if (!sm.pairs) return [...out, empty(r.report, "No event has a destination write after it yet.")];
      const lags = r.rows.map((x) => x.lagSeconds);
      const top = Math.max(...lags) || 1;
      const bins = 12;
      const counts = new Array(bins).fill(0);
      for (const v of lags) counts[Math.min(bins - 1, Math.floor((v / top) * bins))] += 1;
      const digits = top < 1 ? 2 : top < 10 ? 1 : 0;
      const points = counts.map((n, i) => ({ key: String(i), label: ((top * i) / bins).toFixed(digits) + "s",
        parts: [{ series: "pairs", value: n, color: COLORS.ghl }] }));
      const svg = stackedColumns(r.report, points, (v) => (Number.isInteger(v) ? String(v) : v.toFixed(1)), null, 4);
      for (const [label, v, color] of [["p50", sm.p50, COLORS.ok], ["p95", sm.p95, COLORS.bad]]) {
        const x = 52 + (W - 60) * Math.min(1, v / top) - 1;
        svg.append(s("line", { x1: x, x2: x, y1: 8, y2: H - 22, stroke: color, "stroke-dasharray": "4 3", "data-series": label, "data-value": v }),
          s("text", { x: x + 3, y: 18, class: "axis" }, label));
      }
      return [...out, svg, legend([["pairs per lag bin", COLORS.ghl], ["p50", COLORS.ok], ["p95", COLORS.bad]])];
    },
    "webhook-delivery": (r) => {
      if (!r.rows.length) return [empty(r.report, "No deliveries of this location's events.")];
      const parts = [["delivered", COLORS.ok], ["failed", COLORS.bad], ["dropped", COLORS.grey], ["pending", COLORS.warn]];
      return [stackedRows(r.report, r.rows.map((x) => ({ key: x.targetId, label: x.url.replace(/^https?:\/\//, "").slice(0, 26),
        total: `${fmtRate(x.successRate)} of ${x.deliveries}`, parts: parts.map(([k, color]) => ({ series: k, value: x[k], color })) }))),
      legend(parts), table(r, ["url", "deliveries", "delivered", "failed", "dropped", "pending", "attempts", "successRate", "p50LatencyMs"])];
    },
    "routing-load": (r) => {
      if (!r.rows.length) return [empty(r.report, "No providers: routing does nothing.")];
      const max = Math.max(1, ...r.rows.map((x) => Math.max(x.assignedToday, x.dailyCapacity || 0)));
      return [horizontalBars(r.report, r.rows.map((x) => ({ key: x.providerId, label: x.name || x.providerId, mark: x.dailyCapacity,
        bars: [{ series: "assignedToday", value: x.assignedToday, color: COLORS.ghl, text: `${x.assignedToday} of ${x.dailyCapacity ?? "?"} today` }] })), max, String),
      legend([["assigned today", COLORS.ghl], ["daily capacity", COLORS.bad]]), table(r, ["name", "dailyCapacity", "assignedToday", "assigned", "peakDay", "peakDayCount"])];
    },
  };

  function card(name, report, error) {
    const body = error ? [h("div", { class: "result err", text: error })] : RENDER[name](report);
    return h("figure", { class: "report-card", "data-report": name },
      h("figcaption", {}, h("span", { class: "title", text: report ? report.title : name }),
        h("a", { class: "csv", href: query(name, { format: "csv" }), download: `${name}.csv`, "data-csv": name, text: "CSV" })),
      ...body,
      report && report.notes.length ? h("p", { class: "hint", text: report.notes.join(" · ") }) : "");
  }

  async function load() {
    const box = $("#reports");
    if (!box || !location() || R.loading) return;
    R.loading = true;
    try {
      const results = await Promise.all(NAMES.map((n) => fetchReport(n).then((d) => [n, d, null], (e) => [n, null, e.message])));
      box.replaceChildren(...results.map(([n, d, e]) => card(n, d, e)));
      R.data = Object.fromEntries(results.map(([n, d]) => [n, d]));
      box.dataset.loaded = String(Date.now());
      box.dataset.location = location();
      const first = results.find(([, d]) => d);
      $("#reports-stamp").textContent = first ? `computed ${first[1].generatedAt.replace("T", " ").slice(0, 19)} (sandbox clock)` : "";
    } finally {
      R.loading = false;
    }
  }

  function later() {
    if (R.timer) return;
    R.timer = setTimeout(() => { R.timer = null; load(); }, 1500);
  }

  function start() {
    if (!$("#reports")) return;
    $("#reports-refresh").addEventListener("click", () => load());
    $("#reports-from").addEventListener("change", () => load());
    $("#reports-to").addEventListener("change", () => load());
    const sel = $("#location");
    if (sel) sel.addEventListener("change", () => load());
    document.addEventListener("sandbox:refresh", later);
    // The picker is filled by app.js once the overview arrived.
    const wait = setInterval(() => { if (location()) { clearInterval(wait); load(); } }, 200);
  }

  document.addEventListener("DOMContentLoaded", start);
})();
