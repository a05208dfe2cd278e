// Training run page: train/eval loss curves, refreshed every 3 s while the run is active.
document.addEventListener("DOMContentLoaded", () => {
  const chart = document.getElementById("loss-chart");
  if (!chart || !window.Plotly) return;
  const colors = { "train/loss": "#3056d3", "eval/loss": "#d64545" };
  async function draw() {
    const response = await fetch(chart.dataset.metricsUrl, { credentials: "same-origin" });
    if (!response.ok) return false;
    const { status, series } = await response.json();
    const traces = Object.entries(series)
      .filter(([key]) => key.endsWith("loss"))
      .map(([key, points]) => ({
        type: "scatter", mode: "lines+markers", name: key, x: points.step, y: points.value,
        line: { color: colors[key] }, marker: { size: 4 },
      }));
    Plotly.react(chart, traces, {
      height: 320, margin: { l: 50, r: 10, t: 10, b: 40 },
      xaxis: { title: { text: "step" } }, yaxis: { title: { text: "loss" } }, legend: { orientation: "h" },
    }, { displayModeBar: false, responsive: true });
    chart.dataset.points = traces.reduce((n, t) => n + t.x.length, 0);
    return status === "PENDING" || status === "STARTED";
  }
  (async function loop() {
    if (await draw()) setTimeout(loop, 3000);
  })();
});
