// Chart helpers shared by the comparison and A/B pages (window.ftloopCharts).
window.ftloopCharts = {
  config: { displayModeBar: false, responsive: true },

  // A confusion matrix ({labels, matrix: gold rows x predicted columns, invalid: unreadable per gold label}) as an
  // annotated heatmap; `words` holds the translated axis titles {gold, predicted, unreadable}.
  confusionHeatmap(element, confusion, title, words) {
    const columns = [...confusion.labels, words.unreadable];
    const z = confusion.matrix.map((row, i) => [...row, confusion.invalid[i]]);
    Plotly.newPlot(element, [{
      type: "heatmap", x: columns, y: confusion.labels, z, text: z, texttemplate: "%{text}",
      colorscale: "Blues", reversescale: true, showscale: false, hovertemplate: `${words.gold} %{y} → %{x}: %{z}<extra></extra>`,
    }], {
      title: { text: title, font: { size: 14 } }, height: 380, margin: { l: 110, r: 10, t: 40, b: 90 },
      xaxis: { title: { text: words.predicted }, side: "bottom" }, yaxis: { title: { text: words.gold }, autorange: "reversed" },
    }, window.ftloopCharts.config);
  },
};
