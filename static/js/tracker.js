// Tracker run page: one small line chart per logged metric, read back from the local tracker.
document.addEventListener("DOMContentLoaded", () => {
  const grid = document.getElementById("tracker-charts");
  if (!grid || !window.Plotly) return;
  const series = JSON.parse(document.getElementById("tracker-metrics").textContent);
  for (const [key, points] of Object.entries(series)) {
    const cell = document.createElement("div");
    cell.className = "chart";
    grid.appendChild(cell);
    Plotly.newPlot(cell, [{ type: "scatter", mode: "lines+markers", x: points.map((p) => p[0]), y: points.map((p) => p[1]), name: key }], {
      title: { text: key, font: { size: 13 } }, height: 240, margin: { l: 50, r: 10, t: 30, b: 30 }, xaxis: { title: { text: "step" } },
    }, { displayModeBar: false, responsive: true });
  }
  grid.dataset.charts = Object.keys(series).length;
});
