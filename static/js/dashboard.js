// The dashboard's charts (Chart.js, vendored): data from the page's json_script.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dash-data").textContent);
  var labels = document.getElementById("dash-labels").dataset;
  var days = data.days.map(function (d) { return d.slice(5); });
  var small = { responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } };
  function chart(id, config) {
    var el = document.getElementById(id);
    if (el && window.Chart) new window.Chart(el, config);
  }
  chart("chart-new", { type: "bar", data: { labels: days, datasets: [
    { data: data.new_members, backgroundColor: "#0d6efd" }] }, options: small });
  chart("chart-spend", { type: "line", data: { labels: days, datasets: [
    { data: data.spend, borderColor: "#198754", pointRadius: 0, tension: 0.2 }] }, options: small });
  chart("chart-points", { type: "bar", data: { labels: days, datasets: [
    { label: labels.issued, data: data.points_issued, backgroundColor: "#fd7e14" },
    { label: labels.redeemed, data: data.points_redeemed, backgroundColor: "#20c997" },
    { label: labels.expired, data: data.points_expired, backgroundColor: "#adb5bd" }] },
    options: Object.assign({}, small, { plugins: { legend: { display: true, position: "bottom",
      labels: { boxWidth: 10 } } } }) });
  chart("chart-tiers", { type: "doughnut", data: { labels: data.tiers.labels, datasets: [
    { data: data.tiers.values,
      backgroundColor: ["#adb5bd", "#6c757d", "#ffc107", "#212529", "#0d6efd", "#6f42c1"] }] },
    options: { responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "right" } } } });
})();
