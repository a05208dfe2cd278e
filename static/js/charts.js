// Chart helpers shared by the comparison and A/B pages (window.ftloopCharts).
//
// A task's chart data (Task.charts, stored with each evaluation) is drawn by the shape of its data, never by the
// task's name, so a new task type's charts need no change here:
//   - {labels, matrix, invalid?}: a confusion matrix, one annotated heatmap per series;
//   - {field: {target: [...], predicted: [...]}, ...}: predicted against target, one scatter per field, the series
//     overlaid;
//   - a list of category names with numeric lists beside it: grouped bars, one chart per numeric list.
const PREDICTOR_COLORS = { rule_baseline: "#9aa3b2", prompt_baseline: "#c88a04", fine_tuned: "#3056d3" };

window.ftloopCharts = {
  config: { displayModeBar: false, responsive: true },

  color(series) {
    return series.color || PREDICTOR_COLORS[series.predictor];
  },

  small(title) {
    return { title: { text: title, font: { size: 13 } }, height: 260, margin: { l: 45, r: 10, t: 34, b: 60 }, showlegend: false };
  },

  // A new chart cell in `parent`, named by data-chart (what tests and screenshots find).
  cell(parent, name, className = "chart") {
    const div = document.createElement("div");
    div.className = className;
    div.dataset.chart = name;
    parent.appendChild(div);
    return div;
  },

  // A confusion matrix ({labels, matrix: gold rows x predicted columns, invalid: unreadable per gold label}) as an
  // annotated heatmap; `words` holds the translated axis titles {gold, predicted, unreadable}.
  confusionHeatmap(element, confusion, title, words) {
    const invalid = confusion.invalid || [];
    const columns = invalid.length ? [...confusion.labels, words.unreadable] : confusion.labels;
    const z = confusion.matrix.map((row, i) => (invalid.length ? [...row, invalid[i]] : row));
    Plotly.newPlot(element, [{
      type: "heatmap", x: columns, y: confusion.labels, z, text: z, texttemplate: "%{text}",
      colorscale: "Blues", reversescale: true, showscale: false, hovertemplate: `${words.gold} %{y} → %{x}: %{z}<extra></extra>`,
    }], {
      title: { text: title, font: { size: 14 } }, height: 380, margin: { l: 110, r: 10, t: 40, b: 90 },
      xaxis: { title: { text: words.predicted }, side: "bottom" }, yaxis: { title: { text: words.gold }, autorange: "reversed" },
    }, window.ftloopCharts.config);
  },

  chartKind(data) {
    if (!data || typeof data !== "object") return null;
    if (Array.isArray(data.matrix) && Array.isArray(data.labels)) return "confusion";
    const values = Object.values(data);
    if (values.length && values.every((v) => v && Array.isArray(v.target) && Array.isArray(v.predicted))) return "scatter";
    if (Object.values(data).some((v) => window.ftloopCharts.isList(v, "string"))) return "bars";
    return null;
  },

  isList(value, type) {
    return Array.isArray(value) && value.length > 0 && value.every((v) => v === null || typeof v === type);
  },

  // Every chart of `series` ([{label, predictor?, color?, charts}]) into `parent`; `fields` are the task's answer
  // fields ({key, low, high}), which set a scatter's range.
  drawTaskCharts(parent, series, words, fields = []) {
    const charts = window.ftloopCharts;
    const names = [...new Set(series.flatMap((s) => Object.keys(s.charts || {})))];
    for (const name of names) {
      const drawn = series.filter((s) => s.charts && s.charts[name]);
      const kind = charts.chartKind(drawn[0].charts[name]);
      if (kind === "confusion") {
        for (const s of drawn) charts.confusionHeatmap(charts.cell(parent, name, "chart heatmap"), s.charts[name], s.label, words);
      } else if (kind === "scatter") {
        charts.scatterCharts(parent, name, drawn, words, fields);
      } else if (kind === "bars") {
        charts.barCharts(parent, name, drawn);
      }
    }
  },

  scatterCharts(parent, name, series, words, fields) {
    const charts = window.ftloopCharts;
    for (const field of Object.keys(series[0].charts[name])) {
      const spec = fields.find((f) => f.key === field);
      const all = series.flatMap((s) => [...s.charts[name][field].target, ...s.charts[name][field].predicted]);
      const low = spec ? spec.low : Math.min(...all);
      const high = spec ? spec.high : Math.max(...all);
      // SVG up to a few thousand points (it draws everywhere, WebGL-less browsers included), WebGL beyond.
      const type = all.length > 10000 ? "scattergl" : "scatter";
      const traces = series.map((s) => ({ type, mode: "markers", name: s.label, x: s.charts[name][field].target,
        y: s.charts[name][field].predicted, marker: { size: 4, opacity: 0.5, color: charts.color(s) } }));
      traces.push({ type: "scatter", mode: "lines", x: [low, high], y: [low, high], line: { color: "#999", dash: "dot" }, showlegend: false });
      Plotly.newPlot(charts.cell(parent, `${name}.${field}`), traces, { ...charts.small(field),
        xaxis: { title: { text: words.target || "target" }, range: [low, high] },
        yaxis: { title: { text: words.predicted || "predicted" }, range: [low, high] } }, charts.config);
    }
  },

  barCharts(parent, name, series) {
    const charts = window.ftloopCharts;
    const sample = series[0].charts[name];
    const categories = Object.keys(sample).find((key) => charts.isList(sample[key], "string"));
    for (const values of Object.keys(sample).filter((key) => key !== categories && charts.isList(sample[key], "number"))) {
      const traces = series.map((s) => ({ type: "bar", name: s.label, x: s.charts[name][categories], y: s.charts[name][values],
        marker: { color: charts.color(s) } }));
      Plotly.newPlot(charts.cell(parent, `${name}.${values}`), traces, { ...charts.small(`${name} · ${values}`), barmode: "group",
        showlegend: true, legend: { orientation: "h" } }, charts.config);
    }
  },
};
