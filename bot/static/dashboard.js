// Draws the friends chart from the JSON the page carries (no inline script: CSP).
"use strict";
(function () {
  const source = document.getElementById("friends-data");
  const canvas = document.getElementById("friends-chart");
  if (!source || !canvas || typeof Chart === "undefined") {
    return;
  }
  const data = JSON.parse(source.textContent);
  const colours = ["#1d4ed8", "#047857", "#b45309", "#b91c1c"];
  const chart = new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: data.series.map(function (series, index) {
        return {
          type: series.kind,
          label: series.label,
          data: series.data,
          borderColor: colours[index % colours.length],
          backgroundColor: colours[index % colours.length],
          yAxisID: series.kind === "line" ? "total" : "daily",
          tension: 0,
        };
      }),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        total: { position: "left", beginAtZero: true, ticks: { precision: 0 } },
        daily: { position: "right", beginAtZero: true, ticks: { precision: 0 },
                 grid: { drawOnChartArea: false } },
      },
    },
  });
  canvas.dataset.rendered = String(chart.data.datasets.length);
})();
