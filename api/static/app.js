// costlog dashboard. Every figure comes from the JSON API of the same origin; nothing here
// computes a cost. The view (project, period, time zone, dates, bar size) lives in the URL.
"use strict";
(() => {
  const REFRESH_MS = 30000;
  const PERIODS = { "24h": 864e5, "7d": 7 * 864e5, "30d": 30 * 864e5 };
  const PERIOD_LABELS = { "24h": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days",
    month: "this month", all: "all time", custom: "custom range" };
  const FAMILIES = ["opus", "sonnet", "haiku"]; // fixed colours; others get the palette
  const PALETTE = 6;
  const TOP = 10;

  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // The server's clock at page load: windows agree with the API's even when its clock is pinned.
  const serverNow = Date.parse($('meta[name="costlog-now"]').content) || Date.now();
  const loadedAt = performance.now();
  const now = () => new Date(serverNow + (performance.now() - loadedAt));

  // -- formats -------------------------------------------------------------------------------
  const usd = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
  const int = new Intl.NumberFormat("en-US");
  // Shortened counts, as `costlog report` writes them (costlog/domain/figures.py): one decimal
  // in a unit chosen after rounding (999, 5.0K, 409.8K, 1.0M, 6.8B), in integer arithmetic.
  const UNITS = [[1e9, "B"], [1e6, "M"], [1e3, "K"]];
  const compact = (x) => {
    const size = Math.abs(x);
    for (let i = 0; i < UNITS.length; i++) {
      if (size < UNITS[i][0]) continue;
      const tenthsIn = (unit) => Math.floor((size * 10 + unit / 2) / unit);
      const up = i > 0 && tenthsIn(UNITS[i][0]) >= 10000; // 999.95K reads 1.0M
      const [unit, name] = UNITS[up ? i - 1 : i];
      const tenths = tenthsIn(unit);
      return `${x < 0 ? "-" : ""}${Math.floor(tenths / 10)}.${tenths % 10}${name}`;
    }
    return String(x);
  };
  const num = (x) => typeof x === "number" && Number.isFinite(x);
  const money = (x) => (!num(x) ? "—" : x > 0 && x < 0.01 ? "<$0.01" : usd.format(x));
  const count = (x) => (num(x) ? int.format(x) : "—");
  const pct = (x) => (num(x) ? `${x.toFixed(1)}%` : "—");

  // -- state in the URL ------------------------------------------------------------------------
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const isInitiative = location.pathname.startsWith("/initiatives/");
  // The dashboard shows the last 30 days; an initiative's page, all its time.
  const DEFAULT_PERIOD = isInitiative ? "all" : "30d";
  const PERIOD_NAMES = ["24h", "7d", "30d", "month", "all", "custom"];
  const query = new URLSearchParams(location.search);
  const state = {
    project: query.get("project") || "",
    period: query.get("period") || DEFAULT_PERIOD,
    tz: query.get("tz") || browserZone,
    start: query.get("start") || "",
    end: query.get("end") || "",
    granularity: query.get("granularity") || "",
  };
  const viewQuery = (keys) => {
    const q = new URLSearchParams();
    for (const key of keys) if (state[key]) q.set(key, state[key]);
    return q.toString();
  };
  const withQuery = (path, keys) => { const q = viewQuery(keys); return q ? `${path}?${q}` : path; };
  // The query of this view: non-default choices, and always the zone (a link shared with
  // someone elsewhere shows the same buckets).
  const viewKeys = () => {
    const keys = ["project"];
    if (state.period !== DEFAULT_PERIOD) keys.push("period");
    if (state.period === "custom") keys.push("start", "end");
    return [...keys, "tz", ...(isInitiative ? [] : ["granularity"])];
  };
  // A time zone or period the address names but nobody knows: one message, then the default
  // (so no panel half loads and nothing throws on an unknown zone).
  const knownZone = (tz) => {
    try { new Intl.DateTimeFormat("en-US", { timeZone: tz }); return true; } catch { return false; }
  };
  function checkState() {
    const problems = [];
    if (!knownZone(state.tz)) {
      problems.push(`unknown time zone “${state.tz}”`);
      state.tz = browserZone;
    }
    const dates = dateOnly(state.start) && dateOnly(state.end) && state.start <= state.end;
    if (!PERIOD_NAMES.includes(state.period) || (state.period === "custom" && !dates)) {
      problems.push(state.period === "custom" ? `invalid custom dates “${state.start}” to “${state.end}”`
        : `unknown period “${state.period}”`);
      state.period = DEFAULT_PERIOD;
    }
    if (state.period !== "custom") { state.start = ""; state.end = ""; }
    const notice = $("[data-field=url-notice]");
    notice.hidden = !problems.length;
    notice.textContent = problems.length ? `The address has an ${problems.join(" and an ")}: showing ` +
      `${PERIOD_LABELS[state.period]} in ${state.tz} instead.` : "";
  }
  const saveState = () => {
    history.replaceState(null, "", withQuery(location.pathname, viewKeys()));
    for (const a of $$("a[data-keep-query]")) a.href = withQuery("/", ["project", "tz"]);
  };

  // -- the API ---------------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  let token = sessionStorage.getItem("costlog-token") || "";
  async function api(path, params = {}, init = {}) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const response = await fetch(url, init);
    let body = null;
    try { body = await response.json(); } catch { body = null; }
    if (!response.ok) {
      throw new ApiError(response.status, (body && body.error) || `HTTP ${response.status}`);
    }
    return body;
  }
  const readParams = (extra = {}) => ({ project: state.project, tz: state.tz, ...extra });

  // -- time ------------------------------------------------------------------------------------
  const zoneParts = (date, tz) => {
    const parts = {};
    for (const p of new Intl.DateTimeFormat("en-US", { timeZone: tz, hourCycle: "h23",
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit" }).formatToParts(date)) parts[p.type] = p.value;
    return parts;
  };
  const isoDate = (date, tz) => { const p = zoneParts(date, tz); return `${p.year}-${p.month}-${p.day}`; };
  // The instant of a wall-clock midnight in tz (two passes settle a DST change).
  const midnight = (y, m, d, tz) => {
    let guess = Date.UTC(y, m - 1, d);
    for (let i = 0; i < 2; i++) {
      const p = zoneParts(new Date(guess), tz);
      const wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
      guess += Date.UTC(y, m - 1, d) - wall;
    }
    return new Date(guess);
  };
  const dateOnly = (text) => /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(text));
  const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

  // The chosen period as instants: [start, end) and its length (null for "all").
  function window_() {
    const end = now();
    if (PERIODS[state.period]) return { start: new Date(end - PERIODS[state.period]), end };
    if (state.period === "month") {
      const p = zoneParts(end, state.tz);
      return { start: midnight(+p.year, +p.month, 1, state.tz), end };
    }
    if (state.period === "custom" && dateOnly(state.start) && dateOnly(state.end)) {
      const [y1, m1, d1] = state.start.split("-").map(Number);
      const [y2, m2, d2] = state.end.split("-").map(Number);
      const after = new Date(Date.UTC(y2, m2 - 1, d2 + 1));
      return { start: midnight(y1, m1, d1, state.tz),
        end: midnight(after.getUTCFullYear(), after.getUTCMonth() + 1, after.getUTCDate(), state.tz) };
    }
    return null;
  }
  // Breakdown parameters of the chosen period (custom: the dates, read in tz by the API).
  const periodParams = () => (state.period === "custom"
    ? { start: state.start, end: state.end } : { period: state.period });

  function autoGranularity(span) {
    if (state.period === "24h") return "hour";
    if (span === null || span <= 92 * 864e5) return "day";
    return span <= 731 * 864e5 ? "week" : "month";
  }

  // -- DOM helpers -----------------------------------------------------------------------------
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children);
    return node;
  };
  const svg = (tag, attrs = {}) => {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    return node;
  };
  const setMetric = (name, text, value) => {
    for (const node of $$(`[data-metric="${name}"]`)) {
      node.textContent = text;
      if (value !== undefined) node.dataset.value = String(value);
    }
  };
  const setField = (name, text) => { for (const node of $$(`[data-field="${name}"]`)) node.textContent = text; };

  const familyClasses = new Map();
  const familyClass = (key) => {
    if (key === "unknown" || key === "all" || FAMILIES.includes(key)) return `f-${key}`;
    if (!familyClasses.has(key)) familyClasses.set(key, `f-${familyClasses.size % PALETTE}`);
    return familyClasses.get(key);
  };
  const familyOrder = (a, b) => {
    const rank = (k) => (FAMILIES.includes(k) ? FAMILIES.indexOf(k) : k === "unknown" ? 99 : 50);
    return rank(a) - rank(b) || a.localeCompare(b);
  };

  const shareCell = (percent) => {
    const fill = el("div", { class: "fill" });
    fill.style.width = `${Math.max(0, Math.min(100, percent || 0))}%`;
    return el("td", {}, el("div", { class: "share" }, el("div", { class: "track" }, fill),
      el("span", { text: pct(percent) })));
  };
  const tokenCell = (value) => el("td", { class: "num tok", title: num(value) ? int.format(value) : "not reported",
    "data-value": num(value) ? value : "" }, num(value) ? compact(value) : "—");
  const costCell = (value) => el("td", { class: "num", "data-value": value }, money(value));

  // Rows of a table: [{key, label?: Node, cells: [td…], other?}], or a message when empty.
  function fillTable(table, rows, empty) {
    const body = $("tbody", table);
    const columns = $$("thead th", table).length;
    if (!rows.length) {
      body.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "empty", text: empty })));
      return;
    }
    body.replaceChildren(...rows.map((row) => el("tr",
      row.other ? { class: "other", "data-other": "" } : { "data-key": row.key },
      el("th", { scope: "row", title: row.key }, row.label || row.key), ...row.cells)));
  }
  const failTable = (table, error) => fillTable(table, [], `Not available: ${error.message}`);

  // -- dashboard sections ------------------------------------------------------------------------
  function renderBudget(b) {
    const card = $("[data-budget]");
    const limit = b.monthly_limit_usd;
    setMetric("month-spend", money(b.current_spent_usd), b.current_spent_usd);
    const monthDate = /^\d{4}-\d{2}$/.test(b.month || "") ? new Date(`${b.month}-15T00:00:00Z`) : null;
    const monthName = monthDate ? monthDate.toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" }) : "";
    setField("month", [monthName, b.timezone].filter(Boolean).join(" · "));
    setField("budget-scope", state.project ? `for ${state.project}` : "for all projects");
    const fill = $(".meter-fill", card);
    const mark = $(".meter-mark", card);
    const meter = $(".meter", card);
    if (limit > 0) {
      setMetric("budget-percent", pct(b.percent_used), b.percent_used);
      setField("budget-of", `of ${money(limit)} budget`);
      fill.style.width = `${Math.min(100, b.percent_used)}%`;
      mark.hidden = false;
      mark.style.left = `${Math.min(100, b.alert_threshold_percent)}%`;
      meter.setAttribute("aria-valuenow", String(Math.round(Math.min(100, b.percent_used))));
      setMetric("remaining", money(b.remaining_usd), b.remaining_usd);
    } else {
      setMetric("budget-percent", "No budget", 0);
      setField("budget-of", "set one below");
      fill.style.width = "0";
      mark.hidden = true;
      meter.setAttribute("aria-valuenow", "0");
      setMetric("remaining", "—");
    }
    setMetric("projected", money(b.projected_monthly), b.projected_monthly);
    setMetric("days-left", count(b.days_remaining), b.days_remaining);
    card.dataset.state = limit > 0 ? (b.over_budget ? "over" : b.at_alert_threshold ? "warn" : "ok") : "";
    const flags = [];
    if (limit > 0) {
      flags.push(b.on_track ? ["On track", ""] : ["Projected over budget", "warn"]);
      if (b.at_alert_threshold) flags.push([`Alert at ${b.alert_threshold_percent}% reached`, "warn"]);
      if (b.over_budget) flags.push(["Over budget", "bad"]);
      if (b.hard_limit) flags.push(["Hard limit", "info"]);
    }
    $("[data-field=flags]").replaceChildren(...flags.map(([text, cls]) => el("li", { class: cls, text })));
    fillBudgetForm(b);
  }

  function renderPeriod(current, previous) {
    setMetric("period-total", money(current.total_cost_usd), current.total_cost_usd);
    const tokens = Object.values(current.breakdown || {}).reduce((sum, e) => sum + (e.tokens || 0), 0);
    setMetric("period-tokens", count(tokens), tokens);
    setField("period-label", PERIOD_LABELS[state.period] || "");
    const change = $('[data-metric="period-change"]');
    delete change.dataset.trend;
    if (!previous) {
      setMetric("previous-total", "—");
      setMetric("period-change", state.period === "all" ? "All recorded spend" : "No comparison available");
      return;
    }
    const before = previous.total_cost_usd;
    const now_ = current.total_cost_usd;
    setMetric("previous-total", money(before), before);
    if (before > 0) {
      const delta = ((now_ - before) / before) * 100;
      change.dataset.trend = delta > 0 ? "up" : delta < 0 ? "down" : "";
      setMetric("period-change", `${delta > 0 ? "▲" : delta < 0 ? "▼" : "="} ${Math.abs(delta).toFixed(1)}% vs the previous period`, delta);
    } else {
      setMetric("period-change", now_ > 0 ? "No spend in the previous period" : "No spend in either period");
    }
  }

  function breakdownRows(body, tokenKinds, link) {
    const rows = Object.entries(body.breakdown || {}).map(([key, e]) => ({
      key,
      label: link ? link(key) : tokenKinds ? el("span", { class: "key" },
        el("span", { class: `sw ${familyClass(key)}`, "aria-hidden": "true" }), key) : null,
      cells: [costCell(e.cost), shareCell(e.percent), ...(tokenKinds
        ? [e.input_tokens, e.output_tokens, e.cache_creation_tokens, e.cache_read_tokens].map(tokenCell)
        : [tokenCell(e.tokens)])],
    }));
    if (body.other && body.other.count > 0) {
      const o = body.other;
      rows.push({ other: true, key: `${o.count} more`, cells: [costCell(o.cost), shareCell(o.percent), tokenCell(o.tokens)] });
    }
    return rows;
  }
  const initiativeLink = (id) => el("a", { href: withQuery(`/initiatives/${encodeURIComponent(id)}`, ["project", "tz"]) }, id);

  // The time series, stacked by model family when the API splits points (by=model).
  let lastSeries = null;
  function renderChart(series, granularity) {
    lastSeries = { series, granularity };
    const figure = $('[data-chart="timeseries"]');
    const box = $(".chart-box", figure);
    const points = series.series || [];
    const split = points.some((p) => p.breakdown);
    const keys = split ? [...new Set(points.flatMap((p) => Object.keys(p.breakdown || {})))].sort(familyOrder) : ["all"];
    const totals = Object.fromEntries(keys.map((k) => [k, 0]));
    for (const p of points) {
      if (split) for (const [k, v] of Object.entries(p.breakdown || {})) totals[k] += v;
      else totals.all += p.cost;
    }
    const width = Math.max(300, Math.round(box.clientWidth || 800));
    const height = width < 500 ? 200 : 240;
    const pad = { left: 56, right: 8, top: 10, bottom: 24 };
    const innerW = width - pad.left - pad.right;
    const innerH = height - pad.top - pad.bottom;
    const peak = Math.max(0, ...points.map((p) => p.cost));
    const step = niceStep(peak / 4);
    const top = step * Math.max(1, Math.ceil(peak / step));
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
    const total = points.reduce((s, p) => s + p.cost, 0);
    const peakPoint = points.find((p) => p.cost === peak);
    const cut = points.filter((p) => p.from || p.to).map((p) => `${tickLabel(p.date, granularity)}${partLabel(p, granularity)}`);
    chart.setAttribute("aria-label", `Spend per ${granularity}: ${money(total)} in ${points.length} bars` +
      (peak > 0 && peakPoint ? `; highest ${money(peak)} on ${peakPoint.date}` : "") +
      (cut.length ? `; partial: ${cut.join(", ")}` : ""));
    setField("chart-note", cut.length ? `Partial ${cut.length > 1 ? "bars" : "bar"}: ${cut.join("; ")}` : "");
    const axisMoney = axisFormat(step, top);
    for (let i = 0; i * step <= top + 1e-12; i++) {
      const v = i * step;
      const y = pad.top + innerH - (v / top) * innerH;
      chart.append(svg("line", { class: "gridline", x1: pad.left, x2: width - pad.right, y1: y, y2: y }));
      const label = svg("text", { class: "axis y", x: pad.left - 6, y: y + 4, "text-anchor": "end" });
      label.textContent = axisMoney(v);
      chart.append(label);
    }
    const slot = innerW / Math.max(1, points.length);
    const barW = Math.max(1, slot * (points.length > 60 ? 0.9 : 0.72));
    const every = Math.max(1, Math.ceil(points.length / Math.max(2, Math.floor(innerW / 64))));
    points.forEach((p, i) => {
      const x = pad.left + i * slot + (slot - barW) / 2;
      const group = svg("g", { class: p.from || p.to ? "bar partial" : "bar" });
      if (p.from) group.dataset.from = p.from;
      if (p.to) group.dataset.to = p.to;
      const title = svg("title");
      const parts = split ? Object.entries(p.breakdown || {}).sort(([a], [b]) => familyOrder(a, b)) : [["all", p.cost]];
      title.textContent = `${tickLabel(p.date, granularity)}${partLabel(p, granularity)}: ${money(p.cost)}` +
        (split && parts.length ? ` (${parts.map(([k, v]) => `${k} ${money(v)}`).join(", ")})` : "");
      group.append(title);
      let y = pad.top + innerH;
      for (const [key, value] of parts) {
        const h = top > 0 ? (value / top) * innerH : 0;
        if (h <= 0) continue;
        y -= h;
        group.append(svg("rect", { class: familyClass(key), x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: Math.max(h, 0.5).toFixed(2) }));
      }
      // An invisible full-height target so thin bars still show their tooltip.
      group.append(svg("rect", { x: (pad.left + i * slot).toFixed(2), y: pad.top, width: slot.toFixed(2), height: innerH, fill: "transparent" }));
      chart.append(group);
      if (i % every === 0) {
        const label = svg("text", { class: "axis", x: (x + barW / 2).toFixed(2), y: height - 6, "text-anchor": "middle" });
        label.textContent = tickLabel(p.date, granularity, true);
        chart.append(label);
      }
    });
    box.replaceChildren(points.length ? chart : el("p", { class: "empty", text: "No data in this range" }));
    $(".legend", figure).replaceChildren(...keys.filter((k) => totals[k] > 0 || !split).map((k) =>
      el("li", {}, el("span", { class: `sw ${familyClass(k)}`, "aria-hidden": "true" }),
        split ? k : "all models", el("b", { text: money(totals[k]) }))));
  }
  function niceStep(raw) {
    if (!(raw > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(raw));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * power >= raw) return m * power;
    return 10 * power;
  }
  // Axis labels: every tick with the decimals its step needs ($0.25 steps: $0.00, $0.25, …;
  // thousands as $2.5K, $5.0K).
  const axisFormat = (step, top) => {
    if (top >= 1000) return (v) => (v === 0 ? "$0" : `$${compact(Math.round(v))}`);
    const decimals = step >= 1 && Number.isInteger(step) ? 0 : step >= 0.1 && Number.isInteger(step * 10) ? 1 : 2;
    return (v) => `$${v.toFixed(decimals)}`;
  };
  // " from 14:00" / " to 12:00" (or the date, for buckets longer than a day) of a cut bucket.
  const partLabel = (p, granularity) => {
    const at = (text) => {
      const parts = zoneParts(new Date(Date.parse(text)), state.tz);
      const time = `${parts.hour}:${parts.minute}`;
      return granularity === "hour" || granularity === "day" ? time : `${MONTHS[+parts.month - 1]} ${+parts.day} ${time}`;
    };
    return (p.from ? ` from ${at(p.from)}` : "") + (p.to ? ` to ${at(p.to)}` : "");
  };
  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function tickLabel(date, granularity, short = false) {
    const [d, time] = date.split(" ");
    const [y, m, day] = d.split("-");
    if (granularity === "hour") return short ? time : `${MONTHS[+m - 1]} ${+day} ${time}`;
    if (granularity === "month") return `${MONTHS[+m - 1]} ${y}`;
    const text = `${MONTHS[+m - 1]} ${+day}`;
    return granularity === "week" ? (short ? text : `week of ${text}, ${y}`) : short ? text : `${text}, ${y}`;
  }

  // The queue is the server's; its unpriced events are the chosen project's (or all of them).
  function renderQueue(h, listed) {
    const card = $('[data-status="queue"]');
    const q = (h && h.queue) || {};
    setMetric("queue-depth", count(q.depth), q.depth);
    setMetric("failed-jobs", count(q.failed_jobs), q.failed_jobs);
    const projects = (listed && listed.projects) || null;
    const unpriced = !projects ? null : projects.filter((p) => !state.project || p.project_id === state.project)
      .reduce((sum, p) => sum + (p.unpriced_events || 0), 0);
    setMetric("unpriced-events", count(unpriced), unpriced);
    let kind = "ok";
    let text = "healthy";
    if (!h || h.status === "unavailable") { kind = "down"; text = "database unavailable"; }
    else if (!h.redis || !h.redis.ok) { kind = "down"; text = "Redis unreachable"; }
    else if (h.writes && h.writes.ok === false) { kind = "warn"; text = "workers cannot write"; }
    else if (q.failed_jobs > 0) { kind = "warn"; text = "failed jobs"; }
    else if (q.depth > 0) { text = "working"; }
    card.dataset.state = kind;
    setField("queue-state", text);
  }

  // -- the budget form ---------------------------------------------------------------------------
  const form = $('form[data-form="budget"]');
  let formDirty = false;
  function fillBudgetForm(b) {
    if (!form || formDirty) return; // never overwrite what the user is typing
    form.elements.monthly_limit_usd.value = b.monthly_limit_usd;
    form.elements.alert_threshold_percent.value = b.alert_threshold_percent;
    zoneOption(form.elements.timezone, b.timezone || state.tz);
    form.elements.timezone.value = b.timezone || state.tz;
    form.elements.hard_limit.checked = Boolean(b.hard_limit);
  }
  function formStatus(text, kind) {
    const node = $("[data-field=form-status]");
    node.textContent = text;
    node.dataset.kind = kind || "";
  }
  async function saveBudget(event) {
    event.preventDefault();
    const f = form.elements;
    const limit = Number(f.monthly_limit_usd.value);
    const threshold = f.alert_threshold_percent.value === "" ? 80 : Number(f.alert_threshold_percent.value);
    if (f.monthly_limit_usd.value === "" || !Number.isFinite(limit) || limit < 0) {
      formStatus("Enter a limit of 0 or more.", "error");
      f.monthly_limit_usd.focus();
      return;
    }
    if (!Number.isInteger(threshold) || threshold < 0 || threshold > 100) {
      formStatus("The alert threshold is a whole percent from 0 to 100.", "error");
      f.alert_threshold_percent.focus();
      return;
    }
    if (f.token.value) { token = f.token.value; sessionStorage.setItem("costlog-token", token); }
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = `Bearer ${token}`;
    const body = { monthly_limit_usd: limit, alert_threshold_percent: threshold,
      timezone: f.timezone.value || state.tz, hard_limit: f.hard_limit.checked };
    formStatus("Saving…");
    try {
      await api("/api/cost/budget", { project: state.project }, { method: "PUT", headers, body: JSON.stringify(body) });
    } catch (error) {
      if (error.status === 401) {
        token = "";
        sessionStorage.removeItem("costlog-token");
        $("label.token", form).hidden = false;
        f.token.value = "";
        f.token.focus();
        formStatus("This server needs its API token to change the budget: enter it and save again.", "error");
      } else {
        formStatus(`Not saved: ${error.message}`, "error");
      }
      return;
    }
    formDirty = false;
    $("label.token", form).hidden = true;
    formStatus("Saved.", "ok");
    refresh();
  }

  // -- loading -----------------------------------------------------------------------------------
  let loads = 0;
  async function loadDashboard() {
    const win = window_();
    const span = win ? win.end - win.start : null;
    const granularity = state.granularity || autoGranularity(span);
    setField("chart-sub", `by model family, ${{ hour: "hourly", day: "daily", week: "weekly", month: "monthly" }[granularity]}`);
    const prevParams = win ? { start: rfc3339(new Date(win.start - span)), end: rfc3339(win.start) } : null;
    const projects = api("/api/cost/projects", { tz: state.tz });
    const chartStart = win ? win.start : projects.then((p) => {
      const first = (p.projects || []).map((x) => Date.parse(x.first_event)).filter(Number.isFinite);
      return first.length ? new Date(Math.min(...first)) : new Date(now() - 365 * 864e5);
    }, () => new Date(now() - 365 * 864e5));
    const card = api("/api/cost/breakdown", readParams({ by: "model", ...periodParams() }));
    const tasks = [
      projects.then(renderProjects, () => renderProjects({ projects: [] })),
      api("/api/cost/budget", { project: state.project }).then(renderBudget),
      Promise.all([card,
        prevParams ? api("/api/cost/breakdown", readParams({ by: "model", ...prevParams })).catch(() => null) : null])
        .then(([current, previous]) => {
          renderPeriod(current, previous);
          fillTable($('[data-table="by-model"]'), breakdownRows(current, true), "No spend in this period");
        }, (error) => {
          setMetric("period-total", "—");
          setMetric("period-change", `Not available: ${error.message}`);
          failTable($('[data-table="by-model"]'), error);
        }),
      api("/api/cost/breakdown", readParams({ by: "phase", ...periodParams() }))
        .then((b) => fillTable($('[data-table="by-phase"]'), breakdownRows(b, true), "No spend in this period"),
          (error) => failTable($('[data-table="by-phase"]'), error)),
      api("/api/cost/breakdown", readParams({ by: "task", limit: TOP, ...periodParams() }))
        .then((b) => fillTable($('[data-table="top-tasks"]'), breakdownRows(b, false), "No tasks in this period"),
          (error) => failTable($('[data-table="top-tasks"]'), error)),
      api("/api/cost/breakdown", readParams({ by: "initiative", limit: TOP, ...periodParams() }))
        .then((b) => fillTable($('[data-table="top-initiatives"]'), breakdownRows(b, false, initiativeLink), "No initiatives in this period"),
          (error) => failTable($('[data-table="top-initiatives"]'), error)),
      Promise.all([card, chartStart]).then(([current, start]) => chartSeries(current, start, granularity))
        .then((s) => renderChart(s, granularity), (error) => {
          lastSeries = null;
          $('[data-chart="timeseries"] .chart-box').replaceChildren(el("p", { class: "empty", text: `Not available: ${error.message}` }));
          $('[data-chart="timeseries"] .legend').replaceChildren();
        }),
      Promise.all([fetch("/healthz").then((r) => r.json()).catch(() => null), projects.catch(() => null)])
        .then(([health, listed]) => renderQueue(health, listed)),
    ];
    const results = await Promise.allSettled(tasks);
    return results.filter((r) => r.status === "rejected").map((r) => r.reason);
  }

  // The chart covers exactly the card's range (the API names it: start, end): a bucket the
  // range cuts holds only its part inside, read from the breakdown over that part, and is
  // marked so (`from`: the first bar starts late; `to`: the last one ends at the range's end).
  async function chartSeries(current, allStart, granularity) {
    const start = current.start || rfc3339(allStart);
    // A calendar month "to date" is drawn up to now, not to its last (future) day.
    const end = current.end && Date.parse(current.end) <= now() ? current.end : rfc3339(now());
    const series = await api("/api/cost/timeseries", readParams({ granularity, by: "model", start, end }));
    const points = series.series || [];
    if (!points.length) return series;
    const edge = (i) => (i < points.length ? Date.parse(points[i].start) : null);
    if (current.start && edge(0) < Date.parse(start)) {
      const next = edge(1);
      const partEnd = next !== null && next <= Date.parse(end) ? rfc3339(new Date(next - 1000)) : end;
      const part = await api("/api/cost/breakdown", readParams({ by: "model", start, end: partEnd }));
      const entries = Object.entries(part.breakdown || {});
      points[0] = { ...points[0], cost: part.total_cost_usd,
        tokens: entries.reduce((sum, [, e]) => sum + e.tokens, 0),
        breakdown: Object.fromEntries(entries.filter(([, e]) => e.cost).map(([k, e]) => [k, e.cost])),
        from: start };
    }
    if (!["custom", "last-month"].includes(state.period)) points[points.length - 1].to = end;
    return series;
  }

  function renderProjects(body) {
    const select = $('select[name="project"]');
    const ids = (body.projects || []).map((p) => p.project_id);
    if (state.project && !ids.includes(state.project)) ids.unshift(state.project);
    const options = [el("option", { value: "" }, "All projects"), ...ids.map((id) => el("option", { value: id }, id))];
    select.replaceChildren(...options);
    select.value = state.project;
  }

  async function loadInitiative() {
    const id = decodeURIComponent(location.pathname.replace(/^\/initiatives\//, ""));
    setField("initiative-id", id);
    document.title = `${id} · costlog`;
    const notice = $("[data-field=notice]");
    const tasks = [
      api("/api/cost/projects", { tz: state.tz }).then(renderProjects, () => renderProjects({ projects: [] })),
      api(`/api/initiatives/${encodeURIComponent(id)}/cost`, readParams(periodParams())).then((b) => {
        notice.hidden = true;
        setField("period-label", PERIOD_LABELS[state.period] || "");
        setMetric("initiative-total", money(b.total_cost_usd), b.total_cost_usd);
        setMetric("initiative-tokens", count(b.total_tokens), b.total_tokens);
        setMetric("initiative-tasks", count(b.by_task.length), b.by_task.length);
        const total = b.total_cost_usd;
        const share = (cost) => (total > 0 ? (cost / total) * 100 : 0);
        fillTable($('[data-table="by-task"]'), b.by_task.map((t) => ({
          key: t.project_id ? `${t.project_id}/${t.task_id}` : t.task_id, label: t.task_id,
          cells: [el("td", { text: t.project_id || "—" }), costCell(t.cost), shareCell(share(t.cost)), tokenCell(t.tokens)],
        })), "No tasks");
        const simple = (obj, swatch) => Object.entries(obj).sort(([, a], [, b_]) => b_ - a).map(([key, cost]) => ({
          key, label: swatch ? el("span", { class: "key" }, el("span", { class: `sw ${familyClass(key)}`, "aria-hidden": "true" }), key) : null,
          cells: [costCell(cost), shareCell(share(cost))] }));
        fillTable($('[data-table="by-model"]'), simple(b.by_model, true), "No models");
        fillTable($('[data-table="by-phase"]'), simple(b.by_phase, false), "No phases");
      }, (error) => {
        notice.hidden = false;
        notice.textContent = error.status === 404 ? "No cost has been recorded for this initiative" +
          (state.project ? ` in project ${state.project}.` : ".") : `Not available: ${error.message}`;
        setMetric("initiative-total", money(0), 0);
        setMetric("initiative-tokens", count(0), 0);
        setMetric("initiative-tasks", count(0), 0);
        for (const t of $$("table[data-table]")) fillTable(t, [], "No data");
      }),
    ];
    const results = await Promise.allSettled(tasks);
    return results.filter((r) => r.status === "rejected").map((r) => r.reason);
  }

  // One load at a time; a change made meanwhile loads again once it ends (never dropped).
  let running = null;
  let again = false;
  function refresh() {
    if (running) { again = true; return running; }
    running = (isInitiative ? loadInitiative() : loadDashboard()).then((failures) => {
      loads += 1;
      if (loads === 1) {
        performance.mark("costlog:rendered"); // read by bench.bench_dashboard
        setTimeout(() => $$("select[data-zones]").forEach(allZones), 0);
      }
      document.body.dataset.loads = String(loads);
      const time = now().toLocaleTimeString("en-US", { timeZone: state.tz, hour: "2-digit", minute: "2-digit", second: "2-digit" });
      setField("updated", failures.length ? `Updated ${time} (some parts failed)` : `Updated ${time} (${state.tz})`);
    }).finally(() => {
      running = null;
      if (again) { again = false; refresh(); }
    });
    return running;
  }

  // -- controls ----------------------------------------------------------------------------------
  // ~400 zones per select: built after the first load (or on first use), not before it.
  const zoneOption = (select, zone) => {
    if (zone && !Array.from(select.options).some((o) => o.value === zone)) select.append(el("option", { value: zone }, zone));
  };
  function allZones(select) {
    if (select.dataset.full) return;
    select.dataset.full = "1";
    let zones = [];
    try { zones = Intl.supportedValuesOf("timeZone"); } catch { zones = []; }
    const chosen = select.value;
    select.replaceChildren(...[...new Set(["UTC", browserZone, chosen, ...zones])].map((z) => el("option", { value: z }, z)));
    select.value = chosen;
  }
  function zoneSelect(select) {
    for (const zone of ["UTC", browserZone, state.tz]) zoneOption(select, zone);
    for (const type of ["focus", "pointerdown"]) select.addEventListener(type, () => allZones(select));
  }
  function showPeriod() {
    for (const b of $$("[data-period]")) b.setAttribute("aria-pressed", String(b.dataset.period === state.period));
    const custom = $("[data-custom]");
    if (custom) custom.hidden = state.period !== "custom";
    const gran = $('select[name="granularity"]');
    if (gran) gran.value = state.granularity;
  }
  function changed() { saveState(); showPeriod(); refresh(); }

  function init() {
    checkState();
    for (const select of $$("select[data-zones]")) zoneSelect(select);
    $('select[name="tz"]').value = state.tz;
    $('select[name="tz"]').addEventListener("change", (e) => { state.tz = e.target.value; changed(); });
    $('select[name="project"]').addEventListener("change", (e) => { state.project = e.target.value; formDirty = false; changed(); });
    for (const b of $$("[data-period]")) {
      b.addEventListener("click", () => {
        state.period = b.dataset.period;
        if (state.period === "custom" && !(dateOnly(state.start) && dateOnly(state.end))) {
          state.end = isoDate(now(), state.tz);
          state.start = isoDate(new Date(now() - 6 * 864e5), state.tz);
          $('input[name="start"]').value = state.start;
          $('input[name="end"]').value = state.end;
        }
        changed();
      });
    }
    for (const name of ["start", "end"]) {
      const input = $(`input[name="${name}"]`);
      if (!input) continue;
      input.value = state[name];
      input.addEventListener("change", () => { if (dateOnly(input.value)) { state[name] = input.value; changed(); } });
    }
    const gran = $('select[name="granularity"]');
    if (gran) gran.addEventListener("change", () => { state.granularity = gran.value; changed(); });
    if (form) {
      form.addEventListener("input", () => { formDirty = true; });
      form.addEventListener("submit", saveBudget);
    }
    if (!isInitiative && "ResizeObserver" in window) {
      let width = 0;
      new ResizeObserver((entries) => {
        const w = Math.round(entries[0].contentRect.width);
        if (lastSeries && w !== width) renderChart(lastSeries.series, lastSeries.granularity);
        width = w;
      }).observe($('[data-chart="timeseries"]'));
    }
    saveState();
    showPeriod();
    refresh();
    setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
  }
  init();
})();
