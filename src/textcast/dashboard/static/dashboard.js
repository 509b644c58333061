// Progressive enhancement only: every form here also works without JavaScript.
(function () {
  "use strict";

  // Copy buttons: <button data-copy="#id"> copies that element's text.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    // The text selected and copied the old way: over plain HTTP, or when the
    // browser refuses the clipboard API (the text stays selected to copy by hand).
    var byHand = function () {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      if (document.execCommand("copy")) done();
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, byHand);
    } else {
      byHand();
    }
  });

  // Key/value rows (headers, parameters): "Add a row" clones the last row, emptied.
  document.addEventListener("click", function (event) {
    var add = event.target.closest("[data-add-row]");
    if (!add) return;
    var box = document.getElementById(add.getAttribute("data-add-row"));
    var last = box.querySelector(".kv-row:last-child");
    var copy = last.cloneNode(true);
    var index = box.querySelectorAll(".kv-row").length;
    copy.querySelectorAll("input").forEach(function (input) {
      input.value = "";
      input.id = input.id.replace(/-\d+$/, "-" + index);
    });
    copy.querySelectorAll("label").forEach(function (label) {
      label.htmlFor = label.htmlFor.replace(/-\d+$/, "-" + index);
    });
    box.appendChild(copy);
    copy.querySelector("input").focus();
  });

  // A select with data-autosubmit submits its form when changed (filters, presets).
  document.addEventListener("change", function (event) {
    var select = event.target.closest("[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  // Charts: <div class="chart" data-chart="#json-id"> drawn with the vendored uPlot.
  function drawCharts() {
    if (typeof uPlot === "undefined") return;
    document.querySelectorAll("[data-chart]:not([data-drawn])").forEach(function (box) {
      box.setAttribute("data-drawn", "");
      var data = JSON.parse(document.querySelector(box.getAttribute("data-chart")).textContent);
      var palette = ["#1f4fc4", "#146c3f", "#b03022", "#7d5200", "#6b3fa0", "#0f6e7a", "#545c6e"];
      var series = [{}].concat(data.series.map(function (s, i) {
        return { label: s.label, stroke: palette[i % palette.length], width: 2, points: { show: true } };
      }));
      var values = [data.times].concat(data.series.map(function (s) { return s.values; }));
      box.innerHTML = "";
      var opts = { width: box.clientWidth, height: 260, series: series,
                   scales: { x: { time: true } }, axes: [{}, { label: "events" }] };
      box.plot = new uPlot(opts, values, box);
    });
  }
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-drawn]").forEach(function (box) {
      if (box.plot) box.plot.setSize({ width: box.clientWidth, height: 260 });
    });
  });
  // Deferred scripts (uPlot among them) have all run by DOMContentLoaded.
  document.addEventListener("DOMContentLoaded", drawCharts);
  // A chart inside a part htmx redraws (a running campaign's Stats tab) is drawn again.
  document.addEventListener("htmx:afterSettle", drawCharts);
})();
