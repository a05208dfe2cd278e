// Dataset page charts: per-axis histograms (train/valid/test), or gold answers per split for text tasks, and drops by reason.
document.addEventListener("DOMContentLoaded", async () => {
  const grid = document.getElementById("histograms");
  if (!grid || !window.Plotly) return;
  const response = await fetch(grid.dataset.statsUrl, { credentials: "same-origin" });
  if (!response.ok) return;
  const { axes, stats } = await response.json();
  const layout = (title) => ({
    title: { text: title, font: { size: 14 } }, barmode: "stack", height: 240,
    margin: { l: 40, r: 10, t: 36, b: 40 }, showlegend: false,
  });
  if (stats.answers) {
    const cell = document.createElement("div");
    cell.className = "chart";
    cell.dataset.chart = "answers";
    grid.appendChild(cell);
    const answers = [...new Set(Object.values(stats.answers).flatMap((counts) => Object.keys(counts)))].sort();
    const traces = ["train", "valid", "test"].map((split) => ({
      type: "bar", name: split, x: answers, y: answers.map((answer) => stats.answers[split][answer] || 0),
    }));
    Plotly.newPlot(cell, traces, { ...layout(""), showlegend: true, legend: { orientation: "h" } },
      { displayModeBar: false, responsive: true });
  }
  const labels = (stats.histogram_bins || []).map(([lo, hi]) => `${lo}–${hi}`);
  for (const axis of axes) {
    const cell = document.createElement("div");
    cell.className = "chart";
    cell.dataset.axis = axis;
    grid.appendChild(cell);
    const traces = ["train", "valid", "test"].map((split) => ({
      type: "bar", name: split, x: labels, y: stats.histograms[split][axis],
    }));
    Plotly.newPlot(cell, traces, layout(axis), { displayModeBar: false, responsive: true });
  }
  const drops = document.getElementById("drops-chart");
  const reasons = Object.keys(stats.dropped_by_reason || {}).filter((r) => stats.dropped_by_reason[r] > 0);
  if (drops && !reasons.length) {
    drops.classList.remove("chart");
    drops.textContent = drops.dataset.emptyText;
  } else if (drops) {
    Plotly.newPlot(drops, [{ type: "bar", orientation: "h", y: reasons, x: reasons.map((r) => stats.dropped_by_reason[r]) }],
      { height: 260, margin: { l: 140, r: 10, t: 10, b: 30 } }, { displayModeBar: false, responsive: true });
  }
});
