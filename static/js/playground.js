// Playground: the task selector switches task, Ctrl+Enter submits, a sample fills the box with its expected answer,
// integer answer fields are drawn as bars or a radar chart, choice fields compared with the expected answer.
(function () {
  const form = () => document.getElementById("playground-form");
  const chartKind = () => (document.querySelector("input[name=chart]:checked") || {}).value || "bars";

  function expected() {
    const stored = (document.getElementById("sample-answer") || {}).value;
    return stored ? JSON.parse(stored) : undefined;
  }

  // An answer as {field: value}: an object answer as it is, a one-field answer under the first field's key.
  function byField(answer, fields) {
    if (answer === null || answer === undefined) return {};
    if (typeof answer === "object") return answer;
    return fields.length ? { [fields[0].key]: answer } : {};
  }

  function describe(answer) {
    if (answer !== null && typeof answer === "object") return Object.entries(answer).map(([k, v]) => `${k} ${v}`).join(" · ");
    return String(answer);
  }

  function draw() {
    const chart = document.getElementById("prediction-chart");
    if (!chart || !window.Plotly) return;
    const fields = JSON.parse(chart.dataset.fields || "[]");
    const ints = fields.filter((f) => f.kind === "int");
    if (!ints.length) return;
    const keys = ints.map((f) => f.key);
    const low = Math.min(...ints.map((f) => f.low)), high = Math.max(...ints.map((f) => f.high));
    const results = JSON.parse(chart.dataset.results || "[]").filter((r) => r.valid && r.display);
    const series = results.map((r) => {
      const shown = Object.fromEntries(r.display);
      return { name: `${r.label} (${r.latency_ms} ms)`, values: keys.map((k) => shown[k]) };
    });
    const target = expected();
    if (target !== undefined) {
      const values = byField(target, fields);
      series.push({ name: "target", values: keys.map((k) => values[k]) });
    }
    const traces = chartKind() === "radar"
      ? series.map((s) => ({ type: "scatterpolar", fill: "toself", name: s.name, r: [...s.values, s.values[0]], theta: [...keys, keys[0]] }))
      : series.map((s) => ({ type: "bar", name: s.name, x: keys, y: s.values }));
    const layout = chartKind() === "radar"
      ? { height: 380, polar: { radialaxis: { range: [low, high] } }, legend: { orientation: "h" }, margin: { t: 20, b: 20 } }
      : { height: 340, barmode: "group", yaxis: { range: [low, high] }, legend: { orientation: "h" }, margin: { t: 20, l: 40, r: 10 } };
    Plotly.react(chart, traces, layout, { displayModeBar: false, responsive: true });
  }

  // Choice answers: green when a model gave the sample's expected value, red when it did not.
  function markChoices() {
    const target = expected();
    document.querySelectorAll(".answer-choice").forEach((badge) => {
      badge.classList.remove("status-success", "status-failure");
      if (target === undefined) return;
      const wanted = typeof target === "object" && target !== null ? target[badge.dataset.field] : target;
      badge.classList.add(String(wanted) === badge.dataset.value ? "status-success" : "status-failure");
    });
  }

  function showExpected() {
    const view = document.getElementById("sample-answer-view");
    if (!view) return;
    const target = expected();
    view.hidden = target === undefined;
    view.querySelector("code").textContent = target === undefined ? "" : describe(target);
  }

  function refresh() {
    draw();
    markChoices();
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && form()) {
      event.preventDefault();
      form().requestSubmit();
    }
  });
  document.addEventListener("change", (event) => {
    if (event.target.name === "chart") draw();
    if (event.target.id === "task-select") event.target.form.submit();
  });
  document.addEventListener("input", (event) => {
    if (event.target.name !== "text") return;
    document.getElementById("sample-answer").value = "";
    showExpected();
  });
  document.addEventListener("htmx:afterSwap", refresh);
  document.addEventListener("DOMContentLoaded", () => {
    document.body.dataset.playgroundReady = "1";  // keyboard shortcuts and charts are live from here
    refresh();
    const button = document.getElementById("sample-button");
    if (!button) return;
    button.addEventListener("click", async () => {
      const response = await fetch(button.dataset.url, { credentials: "same-origin" });
      const data = await response.json();
      const problem = document.getElementById("sample-error");
      problem.querySelector(".badge").textContent = response.ok ? "" : data.error;
      problem.hidden = response.ok;
      if (!response.ok) return;
      form().querySelector("textarea[name=text]").value = data.text;
      document.getElementById("sample-answer").value = JSON.stringify(data.answer);
      showExpected();
      refresh();
    });
  });
})();
