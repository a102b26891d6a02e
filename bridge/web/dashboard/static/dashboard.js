// callbridge dashboard: the live parts. Text from calls is always set as text, never HTML.
"use strict";
const CB = (() => {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };
  const post = (url, body) => fetch(url, {
    method: "POST", headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf()},
    body: JSON.stringify(body),
  });
  const secs = (ms) => `${Math.floor(ms / 60000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}`;

  function liveList() {
    const body = document.querySelector("#live-calls tbody");
    const refresh = async () => {
      const r = await fetch("/api/live");
      if (r.status === 401) { location.href = "/login?next=/live"; return; }
      const calls = await r.json();
      body.replaceChildren(...calls.map((c) => {
        const tr = el("tr");
        const since = Date.now() - Date.parse(c.started_at);
        const link = el("a", "watch"); link.href = `/live/${c.id}`;
        [c.from, c.flow || "", c.state || "", secs(since)].forEach((t) => tr.append(el("td", t)));
        const td = el("td"); td.append(link); tr.append(td);
        return tr;
      }));
      document.getElementById("no-calls").hidden = calls.length > 0;
    };
    refresh(); setInterval(refresh, 2000);
  }

  // The live call: partials replace each other, finals stay; EventSource reconnects by
  // itself and sends Last-Event-ID, so the server resumes right after the last event.
  function liveCall(callId) {
    const list = document.getElementById("transcript");
    const partial = {};
    const line = (ev, final) => {
      const who = ev.speaker;
      let li = partial[who];
      if (!li) { li = el("li", "", `line ${who}`); li.append(el("b", who), el("span")); list.append(li); }
      li.lastChild.textContent = ev.text + (ev.interrupted ? " [interrupted]" : "");
      li.classList.toggle("partial", !final);
      partial[who] = final ? null : li;
      if (final) li.dataset.seq = ev.seq;
      li.scrollIntoView({block: "nearest"});
    };
    const status = document.getElementById("status");
    const es = new EventSource(`/api/calls/${encodeURIComponent(callId)}/stream`);
    es.onopen = () => { status.textContent = "live"; };
    es.onerror = () => { status.textContent = es.readyState === 2 ? "ended" : "reconnecting…"; };
    es.addEventListener("transcript.partial", (m) => line(JSON.parse(m.data), false));
    es.addEventListener("transcript.final", (m) => line(JSON.parse(m.data), true));
    es.addEventListener("flow.state_entered", (m) =>
      document.getElementById("path").append(el("li", JSON.parse(m.data).state)));
    es.addEventListener("flow.intent", (m) => {
      const slots = JSON.parse(m.data).slots || {};
      const dl = document.getElementById("slots");
      for (const [k, v] of Object.entries(slots)) {
        let dd = dl.querySelector(`dd[data-slot="${CSS.escape(k)}"]`);
        if (!dd) { dl.append(el("dt", k)); dd = el("dd"); dd.dataset.slot = k; dl.append(dd); }
        dd.textContent = String(v);
      }
    });
    es.addEventListener("call.transfer", (m) => {
      const t = JSON.parse(m.data);
      document.getElementById("transfer").textContent = `${t.status}: ${t.target}`;
    });
    es.addEventListener("call.ended", (m) => {
      const e = JSON.parse(m.data);
      status.textContent = `ended (${e.outcome})`; es.close();
    });
  }

  function review(call) {
    const list = document.getElementById("transcript");
    const audio = document.getElementById("recording");
    const lines = call.transcript.map((t) => {
      const li = el("li", "", `line ${t.speaker}`);
      li.append(el("b", t.speaker), el("span", t.text));
      if (t.start_ms != null) {
        li.append(el("small", secs(t.start_ms)));
        if (audio) li.onclick = () => { audio.currentTime = t.start_ms / 1000; audio.play(); };
      }
      list.append(li);
      return [li, t];
    });
    if (audio) audio.ontimeupdate = () => {
      const ms = audio.currentTime * 1000;
      for (const [li, t] of lines)
        li.classList.toggle("now", t.start_ms != null && t.start_ms <= ms && ms < (t.end_ms ?? t.start_ms + 2000));
    };
    const dl = document.getElementById("slots");
    for (const [k, v] of Object.entries(call.slots || {})) dl.append(el("dt", k), el("dd", String(v)));
    const ns = "http://www.w3.org/2000/svg";
    const svg = (id, h) => { const s = document.getElementById(id); s.setAttribute("viewBox", `0 0 300 ${h}`); s.setAttribute("height", h); return s; };
    const node = (tag, attrs, text) => { const n = document.createElementNS(ns, tag); for (const k in attrs) n.setAttribute(k, attrs[k]); if (text) n.textContent = text; return n; };
    const end = Math.max(call.duration_ms || 1, ...call.path.map((p) => p.at_ms + 1));
    const tl = svg("timeline", 18 * call.path.length + 4);
    call.path.forEach((p, i) => {
      const x = 290 * p.at_ms / end;
      tl.append(node("circle", {cx: x + 5, cy: 18 * i + 9, r: 4}), node("text", {x: x + 12, y: 18 * i + 13}, `${p.state} ${secs(p.at_ms)}`));
    });
    const lat = svg("latency", 22 * call.turns.length + 4);
    const most = Math.max(1, ...call.turns.map((t) => t.turn_gap_ms || 0));
    call.turns.forEach((t, i) => {
      const w = 200 * (t.turn_gap_ms || 0) / most;
      lat.append(node("rect", {x: 40, y: 22 * i + 4, width: w, height: 14}), node("text", {x: 0, y: 22 * i + 15}, `#${t.turn}`),
                 node("text", {x: 46 + w, y: 22 * i + 15}, `${Math.round(t.turn_gap_ms || 0)} ms`));
    });
  }

  function flowList() {
    document.querySelectorAll("button.activate").forEach((b) => b.onclick = async () => {
      const r = await post("/api/flows/activate", {name: b.dataset.name, version: Number(b.dataset.version)});
      if (r.ok) location.reload();
    });
  }

  // The editor: the CLI's own checks as you type, at their lines.
  function editor() {
    const src = document.getElementById("source"), gutter = document.getElementById("gutter");
    const problems = document.getElementById("problems"), check = document.getElementById("check");
    let timer = null, bad = new Set();
    const paint = () => {
      const n = src.value.split("\n").length;
      gutter.replaceChildren(...Array.from({length: n}, (_, i) => el("div", String(i + 1), bad.has(i + 1) ? "bad" : "")));
    };
    const validate = async () => {
      const r = await post("/api/flows/validate", {source: src.value});
      const res = await r.json();
      bad = new Set(res.problems.map((p) => p.line));
      problems.replaceChildren(...res.problems.map((p) => {
        const li = el("li", `line ${p.line}: ${p.message}`);
        if (p.fix) li.append(el("small", ` ${p.fix}`));
        li.dataset.line = p.line;
        return li;
      }));
      check.textContent = res.ok ? "valid" : `${res.problems.length} problem(s)`;
      check.className = res.ok ? "badge ok" : "badge bad";
      paint();
      if (res.ok) {
        const g = await post("/api/flows/graph", {source: src.value});
        const box = document.getElementById("graph");
        if (g.ok && g.headers.get("content-type").startsWith("image/svg")) {
          const img = el("img"); img.alt = "flow graph";
          img.src = URL.createObjectURL(await g.blob()); box.replaceChildren(img);
        }
      }
    };
    src.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(validate, 300); paint(); });
    src.addEventListener("scroll", () => { gutter.scrollTop = src.scrollTop; });
    document.getElementById("publish").onclick = async () => {
      const r = await post("/api/flows/publish", {source: src.value});
      const res = await r.json();
      document.getElementById("published").textContent =
        res.ok ? `published ${res.name} version ${res.version}` : (res.error || "fix the problems first");
    };
    document.getElementById("run-tests").onclick = async () => {
      const r = await post("/api/flows/test", {source: src.value, tests: document.getElementById("tests").value});
      const res = await r.json();
      document.getElementById("test-result").textContent = res.tests
        ? `${res.tests - res.failures.length} of ${res.tests} passed · states ${res.states_pct}% · transitions ${res.transitions_pct}%`
        : "the tests could not run";
      document.getElementById("test-failures").replaceChildren(...res.failures.map((f) => el("li", f)));
    };
    problems.onclick = (e) => {  // a problem takes the cursor to its line
      const line = Number(e.target.closest("li")?.dataset.line);
      if (!line) return;
      const at = src.value.split("\n").slice(0, line - 1).join("\n").length + (line > 1 ? 1 : 0);
      src.focus(); src.setSelectionRange(at, at);
    };
    validate();
  }

  return {liveList, liveCall, review, flowList, editor};
})();
