// Comparison page. Six-parameter runs: grouped metric bars, per-axis MAE, error distributions, scatter, and metrics
// across cycles. Each text task type: its metrics as grouped bars, and its own charts, drawn by the shape of their
// data (a {labels, matrix} confusion as one heatmap per run; a list of category names with numeric lists beside it
// as grouped bars, one chart per numeric list), so a new task type's charts need no change here.
const COLORS = { rule_baseline: "#9aa3b2", prompt_baseline: "#c88a04", fine_tuned: "#3056d3" };
const small = (title) => ({ title: { text: title, font: { size: 13 } }, height: 260, margin: { l: 45, r: 10, t: 34, b: 60 }, showlegend: false });

function cell(parent, name, className = "chart") {
  const div = document.createElement("div");
  div.className = className;
  div.dataset.chart = name;
  parent.appendChild(div);
  return div;
}

function metricBar(parent, key, runs) {
  Plotly.newPlot(cell(parent, key), [{ type: "bar", x: runs.map((r) => r.label), y: runs.map((r) => r.metrics[key]),
    marker: { color: runs.map((r) => COLORS[r.predictor] || "#1f9d55") } }], small(key), window.ftloopCharts.config);
}

function drawFlagship({ axes, metric_keys: keys, runs }) {
  const config = window.ftloopCharts.config;
  const root = document.getElementById("chart-metrics");
  for (const key of keys) {
    if (runs.every((r) => r.metrics[key] === null || r.metrics[key] === undefined)) continue;
    metricBar(root, key, runs);
  }

  Plotly.newPlot("chart-axis-mae", runs.map((r) => ({ type: "bar", name: r.label, x: axes, y: axes.map((a) => r.metrics[`mae_${a}`]) })),
    { barmode: "group", height: 320, margin: { l: 45, r: 10, t: 10, b: 40 }, yaxis: { title: { text: "MAE" } }, legend: { orientation: "h" } }, config);

  Plotly.newPlot("chart-errors", runs.map((r) => ({ type: "box", name: r.label, y: r.abs_errors, boxpoints: "outliers" })),
    { height: 320, margin: { l: 45, r: 10, t: 10, b: 60 }, yaxis: { title: { text: "mean |error| per example" } }, showlegend: false }, config);

  const scatter = document.getElementById("chart-scatter");
  for (const axis of axes) {
    const traces = runs.map((r) => ({ type: "scattergl", mode: "markers", name: r.label, x: r.scatter[axis].target,
      y: r.scatter[axis].predicted, marker: { size: 4, opacity: 0.5 } }));
    traces.push({ type: "scatter", mode: "lines", x: [0, 100], y: [0, 100], line: { color: "#999", dash: "dot" }, showlegend: false });
    Plotly.newPlot(cell(scatter, axis), traces, { ...small(axis), xaxis: { title: { text: "target" }, range: [0, 100] },
      yaxis: { title: { text: "predicted" }, range: [0, 100] } }, config);
  }

  const cycles = document.getElementById("chart-cycles");
  const byPredictor = {};
  for (const r of runs.filter((r) => r.cycle)) (byPredictor[r.predictor] ||= []).push(r);
  if (!Object.keys(byPredictor).length) {
    cycles.textContent = cycles.closest("section").querySelector("h2").textContent + ": —";
    return;
  }
  for (const key of ["vector_mae", "intent_score_mean", "json_valid_rate", "constraint_match_rate"]) {
    const traces = Object.entries(byPredictor).map(([predictor, rs]) => ({ type: "scatter", mode: "lines+markers",
      name: predictor, x: rs.map((r) => r.cycle), y: rs.map((r) => r.metrics[key]) }));
    Plotly.newPlot(cell(cycles, key), traces, { ...small(key), showlegend: true, legend: { orientation: "h" },
      xaxis: { title: { text: "cycle" }, dtick: 1 } }, config);
  }
}

function drawTask(task, words) {
  const config = window.ftloopCharts.config;
  const section = document.querySelector(`.task-section[data-task="${task.name}"]`);
  const bars = section.querySelector(".task-bars");
  const { runs } = task;
  // Rates (every value within 0-1) share one grouped chart; the others (latency, lengths) get one chart each.
  const isRate = (key) => runs.every((r) => r.metrics[key] === null || (r.metrics[key] >= 0 && r.metrics[key] <= 1));
  const rates = task.metric_keys.filter(isRate);
  if (rates.length) {
    Plotly.newPlot(cell(bars, "rates", "chart wide"), runs.map((r) => ({ type: "bar", name: r.label, x: rates,
      y: rates.map((key) => r.metrics[key]), marker: { color: COLORS[r.predictor] } })),
    { barmode: "group", height: 340, margin: { l: 45, r: 10, t: 10, b: 110 }, legend: { orientation: "h", y: 1.12 } }, config);
  }
  for (const key of task.metric_keys.filter((key) => !isRate(key))) metricBar(bars, key, runs);

  const charts = section.querySelector(".task-charts");
  for (const [name, sample] of Object.entries(runs[0].charts)) {
    if (Array.isArray(sample.matrix)) {
      for (const r of runs) window.ftloopCharts.confusionHeatmap(cell(charts, name, "chart heatmap"), r.charts[name], r.label, words);
      continue;
    }
    const isList = (value, type) => Array.isArray(value) && value.every((v) => v === null || typeof v === type);
    const categories = Object.keys(sample).find((key) => isList(sample[key], "string"));
    if (!categories) continue;
    for (const series of Object.keys(sample).filter((key) => key !== categories && isList(sample[key], "number"))) {
      const traces = runs.map((r) => ({ type: "bar", name: r.label, x: r.charts[name][categories], y: r.charts[name][series],
        marker: { color: COLORS[r.predictor] } }));
      Plotly.newPlot(cell(charts, `${name}.${series}`), traces, { ...small(`${name} · ${series}`), barmode: "group",
        showlegend: true, legend: { orientation: "h" } }, config);
    }
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  const root = document.getElementById("compare-root");
  if (!root || !window.Plotly) return;
  const response = await fetch(root.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  if (data.runs.length) drawFlagship(data);
  for (const task of data.tasks) drawTask(task, root.dataset);
});
