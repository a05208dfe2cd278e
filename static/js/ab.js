// A/B test page: the metric deltas B - A with their bootstrap intervals, and both confusion matrices side by side.
document.addEventListener("DOMContentLoaded", async () => {
  const deltas = document.getElementById("chart-deltas");
  if (!deltas || !window.Plotly) return;
  const response = await fetch(deltas.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const result = await response.json();
  const { config, confusionHeatmap } = window.ftloopCharts;

  const rows = Object.entries(result.metrics).filter(([, m]) => m.delta !== null);
  Plotly.newPlot(deltas, [{
    type: "scatter", mode: "markers", x: rows.map(([key]) => key), y: rows.map(([, m]) => m.delta), marker: { size: 11 },
    error_y: { type: "data", symmetric: false, array: rows.map(([, m]) => (m.ci_high === null ? 0 : m.ci_high - m.delta)),
      arrayminus: rows.map(([, m]) => (m.ci_low === null ? 0 : m.delta - m.ci_low)) },
  }], {
    height: 300, margin: { l: 55, r: 10, t: 10, b: 40 }, yaxis: { title: { text: "B − A" }, zeroline: true, zerolinewidth: 2 },
  }, config);

  const words = document.getElementById("confusions").dataset;
  for (const side of ["a", "b"]) {
    confusionHeatmap(`confusion-${side}`, result.confusion[side],
      `${side.toUpperCase()}: ${result.predictors[side]}`, words);
  }
});
