// The dashboard's charts, drawn as SVG from the JSON the page embeds (the script element of
// type application/json with the id dashboard-data). No libraries, no network.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var source = document.getElementById("dashboard-data");
  if (!source) return;
  var data;
  try {
    data = JSON.parse(source.textContent);
  } catch (e) {
    return;
  }

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs || {}).forEach(function (k) {
      e.setAttribute(k, String(attrs[k]));
    });
    if (parent) parent.appendChild(e);
    return e;
  }
  function label(parent, x, y, s, attrs) {
    var t = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = s;
    return t;
  }
  function tip(parent, s) {
    el("title", {}, parent).textContent = s;
  }
  function num(v) {
    var n = Number(v);
    return isFinite(n) ? n : 0;
  }
  function pct(p) {
    return (num(p) * 100).toFixed(1) + "%";
  }
  function fix(v) {
    return Math.round(v * 10) / 10;
  }
  function day(ms) {
    return new Date(num(ms)).toISOString().slice(5, 10);
  }
  // A new svg element at the top of the figure with this id; null when the page has no such slot.
  function chart(slot, kind, sourceName, w, h, title) {
    var figure = document.getElementById(slot);
    if (!figure) return null;
    var s = el("svg", {
      "data-chart": kind,
      viewBox: "0 0 " + w + " " + h,
      width: w,
      height: h,
      role: "img",
      "aria-label": title,
    });
    if (sourceName) s.setAttribute("data-source", sourceName);
    tip(s, title);
    figure.insertBefore(s, figure.firstChild);
    return s;
  }
  function bandClass(band) {
    return ["low", "elevated", "high"].indexOf(band) >= 0 ? band : "unknown";
  }
  // Tick values from 0 to `max` (a multiple of 0.1) at round percentages.
  function ticks(max) {
    var n = Math.max(1, Math.round(max * 10));
    if (n > 5 && n % 2 === 0) n = n / 2;
    var out = [];
    for (var k = 0; k <= n; k++) out.push((max * k) / n);
    return out;
  }
  function ceilTenth(v) {
    return Math.min(1, Math.max(0.1, Math.ceil(v * 10 - 1e-9) / 10));
  }

  // (1) Risk of recent pull requests: one bar per pull request, oldest on the left, coloured
  // by band, with the model's thresholds.
  function riskChart() {
    var pulls = (data.pulls || []).slice().reverse();
    if (!pulls.length) return;
    var W = 760, H = 260, L = 48, R = 96, T = 14, B = 34;
    var pw = W - L - R, ph = H - T - B;
    var s = chart("chart-risk", "risk", null, W, H, "Risk of recent pull requests");
    if (!s) return;
    var high = num(data.model.high), elevated = num(data.model.elevated);
    var top = high * 1.25;
    pulls.forEach(function (p) {
      top = Math.max(top, num(p.probability) * 1.05);
    });
    top = ceilTenth(top);
    var y = function (p) {
      return fix(T + ph - (Math.min(Math.max(num(p), 0), top) / top) * ph);
    };
    ticks(top).forEach(function (v) {
      el("line", { class: "grid", x1: L, x2: L + pw, y1: y(v), y2: y(v) }, s);
      label(s, L - 6, y(v) + 4, Math.round(v * 100) + "%", { "text-anchor": "end" });
    });
    var step = pw / pulls.length;
    var bw = Math.max(1, step * 0.8);
    var every = Math.max(1, Math.ceil(pulls.length / 20));
    pulls.forEach(function (p, i) {
      var x = fix(L + i * step + (step - bw) / 2);
      var bar = el("rect", {
        class: "bar band-" + bandClass(p.band),
        "data-pr": p.number,
        x: x,
        y: y(p.probability),
        width: fix(bw),
        height: fix(T + ph - y(p.probability)),
      }, s);
      tip(bar, "#" + p.number + (p.title ? " " + p.title : "") + ": " + pct(p.probability) +
        " (" + p.band + "), model " + p.model_version);
      if (i % every === 0) {
        label(s, fix(L + i * step + step / 2), T + ph + 14, "#" + p.number, { "text-anchor": "middle" });
      }
    });
    [["elevated", elevated], ["high", high]].forEach(function (t) {
      if (t[1] > top) return;
      el("line", { class: "threshold threshold-" + t[0], x1: L, x2: L + pw, y1: y(t[1]), y2: y(t[1]) }, s);
      label(s, L + pw + 4, y(t[1]) + 4, t[0] + " " + pct(t[1]), { class: "threshold-label" });
    });
    el("line", { class: "axis", x1: L, x2: L + pw, y1: T + ph, y2: T + ph }, s);
    label(s, L + pw / 2, H - 4, "pull requests, oldest first", { "text-anchor": "middle" });
  }

  // (2) Release health over time: per environment and week, successful and failed
  // deployments (bars) and incidents (points).
  function releaseChart() {
    var envs = data.releases || [];
    if (!envs.length) return;
    var W = 760, L = 48, R = 110, T = 10, panel = 120, gap = 30, B = 52;
    var H = T + envs.length * (panel + gap) - gap + B;
    var pw = W - L - R;
    var s = chart("chart-releases", "releases", null, W, H, "Deployments and incidents per week");
    if (!s) return;
    var most = 1;
    envs.forEach(function (e) {
      e.weeks.forEach(function (w) {
        most = Math.max(most, num(w.successful), num(w.failed), num(w.incidents));
      });
    });
    envs.forEach(function (e, j) {
      var top = T + j * (panel + gap);
      var g = el("g", { class: "environment", "data-environment": e.environment }, s);
      var y = function (v) {
        return fix(top + panel - (num(v) / most) * panel);
      };
      label(g, L + pw + 8, top + 12, e.environment, { class: "panel-label" });
      [0, most].forEach(function (v) {
        el("line", { class: "grid", x1: L, x2: L + pw, y1: y(v), y2: y(v) }, g);
        label(g, L - 6, y(v) + 4, String(v), { "text-anchor": "end" });
      });
      var step = pw / Math.max(1, e.weeks.length);
      var bw = step * 0.35;
      e.weeks.forEach(function (w, i) {
        var x0 = L + i * step;
        var wg = el("g", {
          class: "week",
          "data-week-start": w.start,
          "data-successful": w.successful,
          "data-failed": w.failed,
          "data-incidents": w.incidents,
        }, g);
        tip(wg, "week of " + day(w.start) + ": " + w.successful + " successful, " + w.failed +
          " failed, " + w.incidents + " incidents");
        if (num(w.successful) > 0) {
          el("rect", { class: "bar successful", x: fix(x0 + step * 0.12), y: y(w.successful),
            width: fix(bw), height: fix(top + panel - y(w.successful)) }, wg);
        }
        if (num(w.failed) > 0) {
          el("rect", { class: "bar failed", x: fix(x0 + step * 0.12 + bw), y: y(w.failed),
            width: fix(bw), height: fix(top + panel - y(w.failed)) }, wg);
        }
        if (num(w.incidents) > 0) {
          el("circle", { class: "point incident", cx: fix(x0 + step / 2), cy: y(w.incidents), r: 4 }, wg);
        }
        if (j === envs.length - 1 && i % 2 === 0) {
          label(s, fix(x0 + step / 2), top + panel + 16, day(w.start), { "text-anchor": "middle" });
        }
      });
      el("line", { class: "axis", x1: L, x2: L + pw, y1: top + panel, y2: top + panel }, g);
    });
    var ly = H - 8;
    el("rect", { class: "successful", x: L, y: ly - 9, width: 10, height: 10 }, s);
    label(s, L + 14, ly, "successful");
    el("rect", { class: "failed", x: L + 90, y: ly - 9, width: 10, height: 10 }, s);
    label(s, L + 104, ly, "failed");
    el("circle", { class: "incident", cx: L + 165, cy: ly - 4, r: 4 }, s);
    label(s, L + 174, ly, "incidents (weeks start on the dates shown)");
  }

  // A square frame from 0 to `max` on both axes.
  function square(s, max, xName, yName) {
    var L = 48, T = 12, P = 260;
    var at = function (x, y) {
      return [fix(L + (Math.min(num(x), max) / max) * P), fix(T + P - (Math.min(num(y), max) / max) * P)];
    };
    ticks(max).forEach(function (v) {
      var a = at(v, 0), b = at(v, max), c = at(0, v), d = at(max, v);
      el("line", { class: "grid", x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, s);
      el("line", { class: "grid", x1: c[0], y1: c[1], x2: d[0], y2: d[1] }, s);
      label(s, a[0], a[1] + 14, Math.round(v * 100) + "%", { "text-anchor": "middle" });
      label(s, c[0] - 6, c[1] + 4, Math.round(v * 100) + "%", { "text-anchor": "end" });
    });
    var o = at(0, 0), m = at(max, max);
    el("line", { class: "diagonal", x1: o[0], y1: o[1], x2: m[0], y2: m[1] }, s);
    label(s, L + P / 2, T + P + 30, xName, { "text-anchor": "middle" });
    label(s, 12, T + P / 2, yName, { "text-anchor": "middle", transform: "rotate(-90 12 " + (T + P / 2) + ")" });
    return at;
  }

  // (3) ROC curves, one chart per source.
  function rocCharts() {
    (data.roc || []).forEach(function (series) {
      var s = chart("chart-roc-" + series.source, "roc", series.source, 330, 320, "ROC curve");
      if (!s) return;
      var at = square(s, 1, "false positive rate", "true positive rate");
      var pts = series.points.map(function (p) {
        return at(p[0], p[1]);
      });
      el("polyline", { class: "curve source-" + series.source, points: pts.map(function (p) {
        return p.join(",");
      }).join(" ") }, s);
      series.points.forEach(function (p, i) {
        var c = el("circle", { class: "point source-" + series.source, cx: pts[i][0], cy: pts[i][1], r: 2.5 }, s);
        tip(c, "false positives " + pct(p[0]) + ", true positives " + pct(p[1]));
      });
      if (series.auc !== null && series.auc !== undefined) {
        label(s, 190, 250, "AUC " + num(series.auc).toFixed(3), { class: "legend" });
      }
    });
  }

  // (4) Calibration: per bin, mean predicted probability against the observed share of
  // buggy changes; the point's size follows the number of changes in the bin.
  function calibrationCharts() {
    (data.calibration || []).forEach(function (series) {
      var s = chart("chart-calibration-" + series.source, "calibration", series.source, 330, 320,
        "Calibration");
      if (!s) return;
      var max = 0.1, most = 1;
      series.bins.forEach(function (b) {
        max = Math.max(max, num(b.predicted) * 1.1, num(b.observed) * 1.1);
        most = Math.max(most, num(b.count));
      });
      var at = square(s, ceilTenth(max), "predicted probability", "observed share buggy");
      var bins = series.bins.slice().sort(function (a, b) {
        return num(a.predicted) - num(b.predicted);
      });
      var pts = bins.map(function (b) {
        return at(b.predicted, b.observed);
      });
      el("polyline", { class: "curve source-" + series.source, points: pts.map(function (p) {
        return p.join(",");
      }).join(" ") }, s);
      bins.forEach(function (b, i) {
        var c = el("circle", {
          class: "point source-" + series.source,
          cx: pts[i][0],
          cy: pts[i][1],
          r: fix(3 + 5 * Math.sqrt(num(b.count) / most)),
          "data-count": b.count,
        }, s);
        tip(c, "predicted " + pct(b.predicted) + ", observed " + pct(b.observed) + " of " + b.count +
          " changes");
      });
    });
  }

  [riskChart, releaseChart, rocCharts, calibrationCharts].forEach(function (draw) {
    try {
      draw();
    } catch (e) {
      if (window.console) console.error("riskgate dashboard: a chart failed", e);
    }
  });
})();
