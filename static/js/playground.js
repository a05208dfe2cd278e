// Playground: Ctrl+Enter submits, a sample fills the box, predictions drawn as bars or a radar chart.
(function () {
  const form = () => document.getElementById("playground-form");
  const chartKind = () => (document.querySelector("input[name=chart]:checked") || {}).value || "bars";
  const AXES = ["energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia"];

  function draw() {
    const chart = document.getElementById("prediction-chart");
    if (!chart || !window.Plotly) return;
    const results = JSON.parse(chart.dataset.results || "[]").filter((r) => r.values);
    const target = document.getElementById("sample-target").value;
    const series = results.map((r) => ({ name: `${r.label} (${r.latency_ms} ms)`, values: AXES.map((a) => r.values[a]) }));
    if (target) series.push({ name: "target", values: AXES.map((a) => JSON.parse(target)[a]) });
    const traces = chartKind() === "radar"
      ? series.map((s) => ({ type: "scatterpolar", fill: "toself", name: s.name, r: [...s.values, s.values[0]], theta: [...AXES, AXES[0]] }))
      : series.map((s) => ({ type: "bar", name: s.name, x: AXES, y: s.values }));
    const layout = chartKind() === "radar"
      ? { height: 380, polar: { radialaxis: { range: [0, 100] } }, legend: { orientation: "h" }, margin: { t: 20, b: 20 } }
      : { height: 340, barmode: "group", yaxis: { range: [0, 100] }, legend: { orientation: "h" }, margin: { t: 20, l: 40, r: 10 } };
    Plotly.react(chart, traces, layout, { displayModeBar: false, responsive: true });
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form()) {
      event.preventDefault();
      form().requestSubmit();
    }
  });
  document.addEventListener("change", (event) => { if (event.target.name === "chart") draw(); });
  document.addEventListener("input", (event) => { if (event.target.name === "text") document.getElementById("sample-target").value = ""; });
  document.addEventListener("htmx:afterSwap", draw);
  document.addEventListener("DOMContentLoaded", () => {
    document.body.dataset.playgroundReady = "1";  // keyboard shortcuts and charts are live from here
    draw();
    const button = document.getElementById("sample-button");
    if (!button) return;
    button.addEventListener("click", async () => {
      const response = await fetch(button.dataset.url, { credentials: "same-origin" });
      const data = await response.json();
      if (!response.ok) { alert(data.error); return; }
      form().querySelector("textarea[name=text]").value = data.text;
      document.getElementById("sample-target").value = JSON.stringify(data.target);
    });
  });
})();
