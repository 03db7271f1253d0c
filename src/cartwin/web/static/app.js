// cartwin serve: the pages' behaviour. Plain JavaScript, no build step, no network but this server.
"use strict";

const PLOT_CONFIG = {responsive: true, displaylogo: false};

function drawFigure(el, fig) {
  if (!window.Plotly || !fig) return Promise.resolve();
  // data-drawn marks a finished figure (what the browser tests wait for)
  return Plotly.newPlot(el, fig.data, fig.layout, PLOT_CONFIG).then(() => { el.dataset.drawn = "true"; });
}

function drawInlineFigures() {
  document.querySelectorAll("[data-figure]").forEach((el) => drawFigure(el, JSON.parse(el.dataset.figure)));
}

async function apiError(response) {
  try {
    const body = await response.json();
    return body.error || JSON.stringify(body);
  } catch (e) {
    return `error ${response.status}`;
  }
}

function showError(id, text) {
  const el = document.getElementById(id);
  el.textContent = text || "";
  el.hidden = !text;
}

function fmt(v, unit) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  if (unit === "fraction") return (100 * v).toFixed(1) + "%";
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : String(+v.toPrecision(3));
}

function fillTable(table, rows, columns) {
  const head = table.querySelector("thead");
  const body = table.querySelector("tbody");
  if (columns && head) head.innerHTML = "<tr>" + columns.map((c) => `<th>${c}</th>`).join("") + "</tr>";
  body.innerHTML = "";
  rows.forEach((row) => {
    const tr = document.createElement("tr");
    row.forEach((cell) => { const td = document.createElement("td"); td.textContent = cell; tr.appendChild(td); });
    body.appendChild(tr);
  });
}

// ---- trial explorer ------------------------------------------------------------------------
function setupTrials() {
  const form = document.getElementById("trial-form");
  if (!form) return;
  const prefill = JSON.parse(form.dataset.prefill || "{}");
  const map = {preset: "preset", n: "n", seed: "seed", follow_up_days: "follow", dose_value: "dose", dose_per_kg: "perkg", policy: "policy", product: "product"};
  Object.entries(prefill).forEach(([k, v]) => { const el = document.getElementById(map[k]); if (el) el.value = v; });
  let current = null;
  const cancel = document.getElementById("cancel");

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("trial-error", "");
    document.getElementById("trial-result").hidden = true;
    const body = {seed: Number(form.seed.value)};
    const file = document.getElementById("protocol-file").files[0];
    if (file) {
      body.protocol_text = await file.text();
      body.protocol_format = /\.ya?ml$/i.test(file.name) ? "yaml" : "toml";
    } else {
      body.preset = form.preset.value;
    }
    if (form.n.value) body.n = Number(form.n.value);
    if (form.follow_up_days.value) body.follow_up_days = Number(form.follow_up_days.value);
    if (form.product.value) body.product = form.product.value;
    if (form.dose_value.value) body.dose_value = Number(form.dose_value.value);
    if (form.dose_per_kg.value) body.dose_per_kg = form.dose_per_kg.value === "true";
    if (form.policy.value) body.policy = form.policy.value;
    const response = await fetch("/api/v1/trials/jobs", {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
    if (!response.ok) { showError("trial-error", await apiError(response)); return; }
    const job = await response.json();
    current = job.job_id;
    history.replaceState(null, "", `/trials?job=${job.job_id}`);  // a reload shows the same job
    document.getElementById("job").hidden = false;
    document.getElementById("run").disabled = true;
    cancel.disabled = false;
    poll(job.job_id);
  });

  const resume = new URLSearchParams(location.search).get("job");
  if (resume && /^[0-9a-f]{32}$/.test(resume)) {
    current = resume;
    document.getElementById("job").hidden = false;
    document.getElementById("run").disabled = true;
    cancel.disabled = false;
    poll(resume);
  }

  cancel.addEventListener("click", async () => {
    if (current) await fetch(`/api/v1/trials/jobs/${current}`, {method: "DELETE"});
  });

  async function poll(id) {
    const bar = document.getElementById("progress");
    const text = document.getElementById("progress-text");
    for (;;) {
      const response = await fetch(`/api/v1/trials/jobs/${id}`);
      if (!response.ok) { showError("trial-error", await apiError(response)); break; }
      const s = await response.json();
      bar.value = s.fraction;
      bar.dataset.state = s.state;
      text.textContent = `${s.state}: ${s.done} of ${s.total} patients ${s.message ? "· " + s.message : ""}`;
      if (s.state === "done") { await showResult(id); break; }
      if (s.state === "failed" || s.state === "cancelled") { showError("trial-error", `job ${s.state}${s.error ? ": " + s.error : ""}`); break; }
      await new Promise((r) => setTimeout(r, 400));
    }
    document.getElementById("run").disabled = false;
    cancel.disabled = true;
  }

  async function showResult(id) {
    const response = await fetch(`/api/v1/trials/jobs/${id}/result`);
    if (!response.ok) { showError("trial-error", await apiError(response)); return; }
    const r = await response.json();
    document.getElementById("trial-result").hidden = false;
    document.getElementById("result-title").textContent = `${r.protocol}: ${r.n} virtual patients, seed ${r.seed}, ${r.follow_up_days} days (${r.engine})`;
    document.querySelectorAll("a.download").forEach((a) => { a.href = `/api/v1/trials/jobs/${id}/files/${a.dataset.name}`; });
    const rows = r.comparison.map((c) => [
      c.endpoint, c.set,
      `${fmt(c.simulated, "x")} (${fmt(c.sim_ci_low, "x")}–${fmt(c.sim_ci_high, "x")})`,
      `${fmt(c.published, "x")}` + (c.pub_ci_low !== null ? ` (${fmt(c.pub_ci_low, "x")}–${fmt(c.pub_ci_high, "x")})` : ""),
      c.published_inside_sim_ci ? "yes" : "no",
    ]);
    fillTable(document.getElementById("comparison"), rows);
    Object.entries(r.figures).forEach(([name, fig]) => {
      const el = document.getElementById(`fig-${name}`);
      if (el) drawFigure(el, fig);
    });
  }
}

// ---- bedside grading -----------------------------------------------------------------------
function setupGrade() {
  const form = document.getElementById("grade-form");
  if (!form) return;
  const download = document.getElementById("grade-download");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError("grade-error", "");
    document.getElementById("grade-result").hidden = true;
    const data = new FormData();
    data.append("file", document.getElementById("obs-file").files[0]);
    data.append("scale", form.scale.value);
    data.append("skip_bad", document.getElementById("skip-bad").checked ? "true" : "false");
    const response = await fetch("/api/v1/grade", {method: "POST", body: data});
    if (!response.ok) { showError("grade-error", await apiError(response)); return; }
    const r = await response.json();
    document.getElementById("grade-result").hidden = false;
    document.getElementById("grade-title").textContent = `${r.version}: ${r.patients} patient(s), ${r.observations} observation(s)`;
    const icans = r.course.icans ? Object.fromEntries(r.course.icans.map((x) => [x.patient_id, x])) : null;
    fillTable(document.getElementById("grade-summary"), r.course.crs.map((c) => {
      const row = [c.patient_id, c.max_grade, c.onset_day === null ? "-" : c.onset_day, c.duration_days];
      if (icans) { const i = icans[c.patient_id]; row.push(i.max_grade, i.onset_day === null ? "-" : i.onset_day, i.duration_days); }
      return row;
    }), ["patient", "max CRS", "CRS onset day", "CRS days"].concat(icans ? ["max ICANS", "ICANS onset day", "ICANS days"] : []));
    fillTable(document.getElementById("grade-alerts"), r.alerts.map((a) => [a.patient_id, a.time_day, a.alert, a.detail]),
      ["patient", "time (day)", "alert", "detail"]);
    fillTable(document.getElementById("grade-daily"), r.daily.map((d) => [d.patient_id, d.day, d.crs_grade, d.crs_rule,
      d.icans_grade === null ? "" : d.icans_grade, d.icans_rule || ""]),
      ["patient", "day", "CRS grade", "deciding rule (CRS)", "ICANS grade", "deciding rule (ICANS)"]);
    data.set("format", "csv");
    const csv = await fetch("/api/v1/grade", {method: "POST", body: data});
    if (csv.ok) {
      download.href = URL.createObjectURL(await csv.blob());
      download.download = "grades.csv";
      download.hidden = false;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  drawInlineFigures();
  setupTrials();
  setupGrade();
});
