// Draws the result's chart from the numbers the server put in #chart-data.
(function () {
  var data = JSON.parse(document.getElementById("chart-data").textContent);
  var div = document.getElementById("chart");
  if (!data || !div || typeof Plotly === "undefined") return;
  var traces = [], layout = {margin: {t: 40}, legend: {orientation: "h", y: -0.3}};
  if (data.kind === "roofline") {
    var ridge = data.ridge_point_flops_per_byte, xs = data.operations.map(function (o) {
      return o.intensity_flops_per_byte; });
    var lo = Math.min.apply(null, xs.concat([ridge])) / 10;
    var hi = Math.max.apply(null, xs.concat([ridge])) * 10;
    traces.push({x: [lo, ridge, hi], y: [lo * data.bandwidth_bytes_per_s,
      data.compute_flops_per_s, data.compute_flops_per_s], mode: "lines",
      name: "roofline", line: {color: "black"}});
    traces.push({x: [ridge], y: [data.compute_flops_per_s], mode: "markers",
      name: "ridge point " + ridge.toFixed(0) + " FLOP/B", marker: {symbol: "diamond",
      color: "red", size: 10}});
    ["prefill", "decode"].forEach(function (phase) {
      var ops = data.operations.filter(function (o) { return o.phase === phase; });
      traces.push({x: ops.map(function (o) { return o.intensity_flops_per_byte; }),
        y: ops.map(function (o) { return o.achieved_flops_per_s; }),
        text: ops.map(function (o) { return o.name; }), mode: "markers+text",
        textposition: "bottom right", name: phase + " operations"});
    });
    layout.title = {text: data.accelerator + ": operations on the roofline"};
    layout.xaxis = {type: "log", title: {text: "arithmetic intensity (FLOP/byte)"}};
    layout.yaxis = {type: "log", title: {text: "achieved FLOP/s per device"}};
  } else if (data.kind === "serving") {
    traces.push({x: data.tokens_per_s_per_device, y: data.tpot_s.map(function (v) {
      return v * 1e3; }), text: data.concurrency.map(function (c) {
      return "concurrency " + c; }), mode: "lines+markers", name: "TPOT over concurrency"});
    traces.push({x: [data.point.tokens_per_s_per_device], y: [data.point.tpot_s * 1e3],
      mode: "markers", name: "this load", marker: {symbol: "star", size: 14, color: "red"}});
    if (data.tpot_target_s) traces.push({x: [Math.min.apply(null,
      data.tokens_per_s_per_device), Math.max.apply(null, data.tokens_per_s_per_device)],
      y: [data.tpot_target_s * 1e3, data.tpot_target_s * 1e3], mode: "lines",
      name: "TPOT target", line: {dash: "dash", color: "gray"}});
    layout.title = {text: data.title + ": latency against throughput"};
    layout.xaxis = {title: {text: "output tokens/s per device"}};
    layout.yaxis = {type: "log", title: {text: "time per output token (ms)"}};
  } else if (data.kind === "training") {
    data.memory.forEach(function (part) {
      traces.push({x: ["per device"], y: [part[1] / 1e9], type: "bar", name: part[0]});
    });
    traces.push({x: ["per device", "per device"], y: [data.capacity_bytes / 1e9,
      data.capacity_bytes / 1e9], mode: "lines+markers", name: "capacity",
      line: {color: "red", dash: "dash"}});
    layout.barmode = "stack";
    layout.title = {text: data.title + ": memory per device"};
    layout.yaxis = {title: {text: "GB"}};
  } else if (data.kind === "plan") {
    Object.keys(data.plans).forEach(function (acc) {
      var all = data.plans[acc], front = data.fronts[acc];
      traces.push({x: all.map(function (p) { return p[0]; }), y: all.map(function (p) {
        return p[1]; }), mode: "markers", opacity: 0.35, name: acc + " plans"});
      traces.push({x: front.map(function (p) { return p[0]; }), y: front.map(function (p) {
        return p[1]; }), mode: "lines+markers", name: acc + " Pareto frontier"});
    });
    if (data.winner) traces.push({x: [data.winner[0]], y: [data.winner[1]], mode: "markers",
      name: "best (" + data.winner[2] + ")", marker: {symbol: "star", size: 16, color: "red"}});
    layout.title = {text: "plans and each accelerator's Pareto frontier"};
    layout.xaxis = {type: "log", title: {text: data.x}};
    layout.yaxis = {type: "log", title: {text: data.y}};
  }
  Plotly.newPlot(div, traces, layout, {displaylogo: false});
})();
