// Comparison page: grouped metric bars, per-axis MAE, error distributions, scatter, and metrics across cycles.
document.addEventListener("DOMContentLoaded", async () => {
  const root = document.getElementById("chart-metrics");
  if (!root || !window.Plotly) return;
  const response = await fetch(root.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const { axes, metric_keys: keys, runs } = await response.json();
  const config = { displayModeBar: false, responsive: true };
  const small = (title) => ({ title: { text: title, font: { size: 13 } }, height: 260, margin: { l: 45, r: 10, t: 34, b: 60 }, showlegend: false });
  const cell = (parent, name) => {
    const div = document.createElement("div");
    div.className = "chart";
    div.dataset.chart = name;
    parent.appendChild(div);
    return div;
  };

  for (const key of keys) {
    const values = runs.map((r) => r.metrics[key]);
    if (values.every((v) => v === null || v === undefined)) continue;
    Plotly.newPlot(cell(root, key), [{ type: "bar", x: runs.map((r) => r.label), y: values,
      marker: { color: runs.map((r) => ({ rule_baseline: "#9aa3b2", prompt_baseline: "#c88a04", fine_tuned: "#3056d3" })[r.predictor] || "#1f9d55") } }],
      small(key), config);
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
});
