// minibroker console: live fragments (server-sent events), the replica
// check, confirmations, and the delivery lab. No dependencies.
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const status = $("#live-status");
  const setStatus = (text, on) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("on", !!on);
  };

  // Live fragments: /live?page=... sends {id, html}; the element with that
  // id gets the new markup (rendered and escaped by the server).
  const live = document.body.dataset.live;
  if (live) {
    const es = new EventSource("/live?" + live);
    es.addEventListener("fragment", (ev) => {
      const f = JSON.parse(ev.data);
      const el = document.getElementById(f.id);
      if (el) el.innerHTML = f.html;
      setStatus("live", true);
    });
    es.onerror = () => setStatus("reconnecting…", false);
    window.addEventListener("pagehide", () => es.close());
  }

  // The replica check: a POST (it proposes a digest entry through Raft);
  // on load it reuses a verdict younger than ten seconds.
  const verify = $("#verify");
  if (verify) {
    const run = (fresh) => {
      verify.textContent = "checking…";
      fetch("/cluster/verify", {
        method: "POST", body: new URLSearchParams(fresh ? { fresh: "1" } : {}),
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
      })
        .then((r) => r.text())
        .then((html) => { verify.innerHTML = html; })
        .catch((e) => { verify.textContent = "could not verify: " + e; });
    };
    run(false);
    $("#verify-run").addEventListener("click", () => run(true));
  }

  // Forms that ask first.
  document.querySelectorAll("form.confirm").forEach((f) => {
    f.addEventListener("submit", (ev) => {
      if (!window.confirm(f.dataset.confirm)) ev.preventDefault();
    });
  });

  if ($("#lab-start")) lab();

  function lab() {
    const sel = $("#lab-scenario"), summary = $("#lab-summary"), state = $("#lab-state");
    const timeline = $("#lab-timeline"), chart = $("#lab-chart"), ledger = $("#lab-ledger");
    const go = $("#lab-go"), stop = $("#lab-stop"), detail = $("#lab-detail");
    const faults = document.querySelectorAll("button.fault");
    let run = null, es = null;

    const describe = () => {
      const o = sel.selectedOptions[0];
      summary.textContent = o.dataset.summary;
      faults.forEach((b) => { b.hidden = o.dataset.fault !== "" && b.dataset.fault !== o.dataset.fault; });
    };
    sel.addEventListener("change", describe);
    describe();
    const showDetail = () => timeline.classList.toggle("hide-detail", !detail.checked);
    detail.addEventListener("change", showDetail);
    showDetail();

    const setRunning = (on, fault) => {
      go.disabled = on; sel.disabled = on; stop.disabled = !on;
      faults.forEach((b) => { b.disabled = !on || b.dataset.fault !== fault; });
    };

    const post = (url, body) => fetch(url, {
      method: "POST", body: new URLSearchParams(body),
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
    });

    $("#lab-start").addEventListener("submit", (ev) => {
      ev.preventDefault();
      timeline.textContent = ""; chart.textContent = "";
      ledger.innerHTML = '<p class="empty">The ledger appears when the run ends.</p>';
      state.textContent = "starting a three-node cluster…";
      post("/lab/runs", { scenario: sel.value }).then((r) => r.json().then((j) => ({ ok: r.ok, j }))).then(({ ok, j }) => {
        if (!ok) { state.textContent = j.error; return; }
        run = j;
        setRunning(true, j.fault);
        state.textContent = j.fault ? "running: strike when you choose" : "running (this scenario strikes on its own)";
        follow(j.id);
      }).catch((e) => { state.textContent = "could not start: " + e; });
    });

    // A run already under way (a reload, another tab): follow it.
    const form = $("#lab-start");
    if (form.dataset.running) {
      run = { id: form.dataset.running, fault: form.dataset.runningFault };
      sel.value = form.dataset.runningScenario;
      describe();
      setRunning(true, run.fault);
      state.textContent = "running (started earlier)";
      follow(run.id);
    }

    stop.addEventListener("click", () => { if (run) post("/lab/runs/" + run.id + "/stop", {}); });

    faults.forEach((b) => b.addEventListener("click", () => {
      if (!run) return;
      b.disabled = true;
      post("/lab/runs/" + run.id + "/fault", { fault: b.dataset.fault }).then((r) => {
        if (r.ok) { state.textContent = "struck: " + b.textContent; return; }
        return r.json().then((j) => { state.textContent = j.error; });
      });
    }));

    function follow(id) {
      if (es) es.close();
      es = new EventSource("/lab/runs/" + id + "/events");
      es.addEventListener("event", (ev) => {
        const e = JSON.parse(ev.data);
        const li = document.createElement("li");
        li.className = "k-" + e.kind + (e.detail ? " detail" : "");
        li.dataset.kind = e.kind;
        if (e.node) li.dataset.node = e.node;
        const at = document.createElement("span");
        at.className = "at";
        at.textContent = "+" + (e.at / 1e9).toFixed(3) + "s";
        li.appendChild(at);
        li.appendChild(document.createTextNode(e.text));
        timeline.appendChild(li);
        timeline.scrollTop = timeline.scrollHeight;
      });
      es.addEventListener("chart", (ev) => { chart.innerHTML = JSON.parse(ev.data); });
      es.addEventListener("result", (ev) => {
        ledger.innerHTML = JSON.parse(ev.data);
        state.textContent = "done";
      });
      es.addEventListener("end", () => { es.close(); es = null; setRunning(false, ""); });
      es.onerror = () => { if (es && es.readyState === EventSource.CLOSED) setRunning(false, ""); };
    }
  }
})();
