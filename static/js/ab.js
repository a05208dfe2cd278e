// A/B test page: whatever the stored statistics hold, drawn generically. Deltas B - A with their bootstrap
// intervals (rates together in one chart, every other statistic alone, coloured by whether B is better, worse or
// not clearly different), and the task's charts of A and B side by side (window.ftloopCharts.drawTaskCharts).
const READING_COLORS = { better: "#1f9d55", worse: "#d64545", unclear: "#9aa3b2" };

function reading(entry) {
  if (entry.ci_low === null || entry.ci_low === undefined || entry.ci_high === null || entry.ci_high === undefined
      || entry.higher_is_better === null || entry.higher_is_better === undefined) return "unclear";
  if (entry.ci_low > 0) return entry.higher_is_better ? "better" : "worse";
  if (entry.ci_high < 0) return entry.higher_is_better ? "worse" : "better";
  return "unclear";
}

function deltaChart(element, rows, layout) {
  Plotly.newPlot(element, [{
    type: "scatter", mode: "markers", x: rows.map(([key]) => key), y: rows.map(([, m]) => m.delta),
    marker: { size: 11, color: rows.map(([, m]) => READING_COLORS[reading(m)]) },
    error_y: { type: "data", symmetric: false,
      array: rows.map(([, m]) => (m.ci_high === null || m.ci_high === undefined ? 0 : m.ci_high - m.delta)),
      arrayminus: rows.map(([, m]) => (m.ci_low === null || m.ci_low === undefined ? 0 : m.delta - m.ci_low)) },
  }], { margin: { l: 55, r: 10, t: 30, b: 60 }, yaxis: { title: { text: "B − A" }, zeroline: true, zerolinewidth: 2 }, ...layout },
  window.ftloopCharts.config);
}

document.addEventListener("DOMContentLoaded", async () => {
  const deltas = document.getElementById("chart-deltas");
  if (!deltas || !window.Plotly) return;
  const response = await fetch(deltas.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const result = await response.json();
  const { cell, small, drawTaskCharts } = window.ftloopCharts;

  const entries = Object.entries(result.metrics || {});
  if (result.error) entries.push([deltas.dataset.errorLabel || "error", result.error]);
  const defined = entries.filter(([, m]) => m && m.delta !== null && m.delta !== undefined);
  const isRate = (m) => [m.a, m.b].every((v) => v === null || v === undefined || (v >= 0 && v <= 1));
  const rates = defined.filter(([, m]) => isRate(m));
  if (rates.length) deltaChart(cell(deltas, "rates", "chart wide"), rates, { height: 360, margin: { l: 55, r: 10, t: 30, b: 120 } });
  for (const row of defined.filter(([, m]) => !isRate(m))) {
    deltaChart(cell(deltas, row[0]), [row], { ...small(row[0]), showlegend: false });
  }

  const charts = document.getElementById("ab-charts");
  if (!charts || !result.charts) return;
  const names = result.names || { a: "A", b: "B" };
  const predictors = result.run_predictors || {};
  const series = ["a", "b"].filter((side) => result.charts[side]).map((side) => ({
    label: `${side.toUpperCase()}: ${names[side]}`, predictor: predictors[side], charts: result.charts[side],
    color: side === "a" ? "#9aa3b2" : "#3056d3" }));
  const fields = JSON.parse(charts.dataset.fields || "[]");
  drawTaskCharts(charts, series, charts.dataset, fields);
});
