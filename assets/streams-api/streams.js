// Live orders: reads the page's NDJSON feed with the Streams API and renders
// each order as its line arrives.
//
//   fetch(src).body                      bytes, as the network delivers them
//     → byte counter (TransformStream)   counts them for the progress panel
//     → TextDecoderStream                UTF-8 text, split anywhere
//     → line splitter (TransformStream)  one chunk per complete line
//     → WritableStream(sink, CountQueuingStrategy({ highWaterMark: 4 }))
//
// pipeTo only reads more while the sink's queue is under 4 records, so a
// slow sink ("render slowly") stops the reading: backpressure reaches the
// fetch, and from there TCP and the server's generator.
(function () {
  "use strict";

  var app = document.getElementById("feed-app");
  if (!app) return;

  var SLOW_MS = 300;
  var MAX_ROWS = 200;
  var total = Number(app.dataset.n) || 0;
  var money = new Intl.NumberFormat("en-IE", { style: "currency", currency: "EUR" });
  var ui = {
    state: document.getElementById("state"),
    progress: document.getElementById("progress"),
    records: document.getElementById("records"),
    bytes: document.getElementById("bytes"),
    queued: document.getElementById("queued"),
    revenue: document.getElementById("revenue"),
    items: document.getElementById("items"),
    elapsed: document.getElementById("elapsed"),
    rows: document.getElementById("rows"),
    slow: document.getElementById("slow"),
    stop: document.getElementById("stop"),
    restart: document.getElementById("restart"),
  };
  var current = null;

  function setState(state, text) {
    ui.state.dataset.state = state;
    ui.state.textContent = text;
    ui.stop.disabled = state !== "connecting" && state !== "streaming";
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // Passes bytes through unchanged, counting them.
  function byteCounter(run) {
    return new TransformStream({
      transform: function (chunk, controller) {
        run.bytes += chunk.byteLength;
        controller.enqueue(chunk);
        show(run);
      },
    });
  }

  // Text in, one chunk per line out (without its newline); keeps a partial
  // line until the rest of it arrives.
  function lineSplitter(run) {
    var pending = "";
    function emit(line, controller) {
      if (line.trim() === "") return;
      run.split += 1;
      controller.enqueue(line);
    }
    return new TransformStream({
      transform: function (text, controller) {
        var lines = (pending + text).split("\n");
        pending = lines.pop();
        lines.forEach(function (line) { emit(line, controller); });
        show(run);
      },
      flush: function (controller) {
        emit(pending, controller);
      },
    });
  }

  // The end of the pipe: renders one record per write.
  function sink(run) {
    return {
      write: function (line) {
        var order = JSON.parse(line);
        run.records += 1;
        run.revenue += order.total_cents;
        run.items += order.qty;
        ui.rows.prepend(row(order));
        while (ui.rows.childElementCount > MAX_ROWS) ui.rows.lastElementChild.remove();
        show(run);
        if (ui.slow.checked) return sleep(SLOW_MS);
        return undefined;
      },
    };
  }

  function cell(tr, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    tr.appendChild(td);
  }

  function row(order) {
    var tr = document.createElement("tr");
    tr.dataset.seq = String(order.seq);
    tr.className = "fresh";
    cell(tr, String(order.seq + 1), "num");
    cell(tr, new Date(order.ts).toLocaleTimeString([], { hour12: false }));
    cell(tr, order.order, "mono");
    cell(tr, order.product);
    cell(tr, String(order.qty), "num");
    cell(tr, money.format(order.total_cents / 100), "num");
    cell(tr, order.city);
    cell(tr, order.channel, "channel " + order.channel);
    return tr;
  }

  function show(run) {
    if (run !== current) return;
    ui.records.textContent = String(run.records);
    ui.bytes.textContent = run.bytes.toLocaleString("en");
    ui.queued.textContent = String(run.split - run.records);
    ui.revenue.textContent = money.format(run.revenue / 100);
    ui.items.textContent = String(run.items);
    ui.elapsed.textContent = ((performance.now() - run.started) / 1000).toFixed(1) + " s";
    ui.progress.value = run.records;
    if (run.records > 0 && ui.state.dataset.state === "connecting") {
      setState("streaming", "Streaming: orders appear as they arrive.");
    }
  }

  async function start() {
    if (current) current.controller.abort();
    var run = {
      controller: new AbortController(),
      started: performance.now(),
      bytes: 0,
      split: 0,
      records: 0,
      revenue: 0,
      items: 0,
    };
    current = run;
    ui.rows.replaceChildren();
    show(run);
    setState("connecting", "Waiting for the first record…");
    var ticker = setInterval(function () { show(run); }, 200);
    var signal = run.controller.signal;
    try {
      var response = await fetch(app.dataset.src, { signal: signal, headers: { Accept: "application/x-ndjson" } });
      if (!response.ok) {
        throw new Error("HTTP " + response.status + ": " + (await response.text()).trim());
      }
      await response.body
        .pipeThrough(byteCounter(run))
        .pipeThrough(new TextDecoderStream())
        .pipeThrough(lineSplitter(run))
        .pipeTo(new WritableStream(sink(run), new CountQueuingStrategy({ highWaterMark: 4 })), { signal: signal });
      show(run);
      var secs = ((performance.now() - run.started) / 1000).toFixed(1);
      setState("done", "Done: " + run.records + " of " + total + " records, " +
        run.bytes.toLocaleString("en") + " bytes in " + secs + " s.");
    } catch (err) {
      if (run !== current) return;
      show(run);
      if (signal.aborted) {
        setState("stopped", "Stopped after " + run.records + " records: the request was cancelled.");
      } else {
        setState("error", "The stream broke after " + run.records + " records: " + (err && err.message || err));
      }
    } finally {
      clearInterval(ticker);
    }
  }

  ui.stop.addEventListener("click", function () {
    if (current) current.controller.abort();
  });
  ui.restart.addEventListener("click", start);
  start();
})();
