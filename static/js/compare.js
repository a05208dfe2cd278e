// Comparison page: one section per task type among the chosen evaluations, every section drawn by drawSection from
// what the task declares (metric keys and directions, answer fields) and the chart data its evaluations stored:
// metrics side by side (rates grouped in one chart, every other metric alone), per-field metric groups, the
// per-example error distribution of each run, the task's own charts (window.ftloopCharts.drawTaskCharts) and the
// trends across cycles, one panel per frozen eval set.
const { cell, small } = window.ftloopCharts;

function isRate(task, key) {
  return task.runs.every((r) => r.metrics[key] === null || r.metrics[key] === undefined || (r.metrics[key] >= 0 && r.metrics[key] <= 1));
}

function metricBars(parent, task, keys) {
  const { config, color } = window.ftloopCharts;
  const { runs } = task;
  const arrow = (key) => (task.higher_is_better[key] ? "↑" : "↓");
  const rates = keys.filter((key) => isRate(task, key));
  if (rates.length) {
    Plotly.newPlot(cell(parent, "rates", "chart wide"), runs.map((r) => ({ type: "bar", name: r.label,
      x: rates.map((key) => `${key} ${arrow(key)}`), y: rates.map((key) => r.metrics[key]), marker: { color: color(r) } })),
    { barmode: "group", height: 340, margin: { l: 45, r: 10, t: 10, b: 110 }, legend: { orientation: "h", y: 1.12 } }, config);
  }
  for (const key of keys.filter((key) => !isRate(task, key))) {
    Plotly.newPlot(cell(parent, key), [{ type: "bar", x: runs.map((r) => r.label), y: runs.map((r) => r.metrics[key]),
      marker: { color: runs.map((r) => color(r) || "#1f9d55") } }], small(`${key} ${arrow(key)}`), config);
  }
}

function fieldBars(parent, task) {
  const { config, color } = window.ftloopCharts;
  for (const group of task.per_field) {
    Plotly.newPlot(cell(parent, `field.${group.prefix}`, "chart wide"), task.runs.map((r) => ({ type: "bar", name: r.label,
      x: group.fields, y: group.keys.map((key) => r.metrics[key]), marker: { color: color(r) } })),
    { barmode: "group", height: 320, margin: { l: 45, r: 10, t: 30, b: 40 }, title: { text: group.prefix, font: { size: 13 } },
      legend: { orientation: "h" } }, config);
  }
}

function errorBoxes(element, task, words) {
  Plotly.newPlot(element, task.runs.map((r) => ({ type: "box", name: r.label, y: r.errors, boxpoints: "outliers",
    marker: { color: window.ftloopCharts.color(r) } })),
  { height: 320, margin: { l: 45, r: 10, t: 10, b: 60 }, yaxis: { title: { text: words.error } }, showlegend: false },
  window.ftloopCharts.config);
}

// Trends only within one frozen set: each panel holds the cycle runs of one eval-set hash.
function cycleTrends(section, task, words) {
  const { config } = window.ftloopCharts;
  for (const panel of section.querySelectorAll(".cycle-panel")) {
    const runs = task.runs.filter((r) => r.cycle && r.eval_set_hash === panel.dataset.evalSet);
    const byPredictor = {};
    for (const r of runs) (byPredictor[r.predictor] ||= []).push(r);
    const grid = panel.querySelector(".cycle-charts");
    for (const key of task.trend_metrics) {
      const traces = Object.entries(byPredictor).map(([predictor, rs]) => ({ type: "scatter", mode: "lines+markers",
        name: predictor, x: rs.map((r) => r.cycle), y: rs.map((r) => r.metrics[key]),
        marker: { color: window.ftloopCharts.color({ predictor }) } }));
      Plotly.newPlot(cell(grid, key), traces, { ...small(key), height: 300, margin: { l: 45, r: 10, t: 34, b: 100 },
        showlegend: true, legend: { orientation: "h", y: -0.35 }, xaxis: { title: { text: words.cycle }, dtick: 1 } }, config);
    }
  }
}

function drawSection(task, words) {
  const section = [...document.querySelectorAll(".task-section")].find((s) => s.dataset.task === task.name);
  if (!section || !task.runs.length) return;
  const grouped = new Set(task.per_field.flatMap((group) => group.keys));
  metricBars(section.querySelector(".metric-bars"), task, task.metric_keys.filter((key) => !grouped.has(key)));
  const fields = section.querySelector(".field-bars");
  if (fields) fieldBars(fields, task);
  errorBoxes(section.querySelector(".error-box-plot"), task, words);
  const charts = section.querySelector(".task-charts");
  if (charts) window.ftloopCharts.drawTaskCharts(charts, task.runs, words, task.answer_fields);
  cycleTrends(section, task, words);
}

document.addEventListener("DOMContentLoaded", async () => {
  const root = document.getElementById("compare-root");
  if (!root || !window.Plotly) return;
  const response = await fetch(root.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  for (const task of data.tasks) drawSection(task, root.dataset);
});
