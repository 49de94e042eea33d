// The drive monitor page: pulls /api/state a few times a second and the newest camera frame at
// most MAX_FPS times a second (the server caps it too); nothing is pushed, so a hidden or slow
// page only asks less. Plain JS, no libraries: it must work offline.
"use strict";

const STATE_MS = 200;
const SALIENCY_MS = 500;
let maxFps = 15;
let windowS = 30;
let lastSample = 0;
let frameSeq = 0;
let recordPending = false;  // a switch click not yet answered: do not let a poll flip it back
const samples = [];  // [seq, t, steering, throttle, speed, alarm score or null, alarm 0/1]
const shown = [];  // times frames were shown, for the frames/s figure

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (value, digits) => (value === undefined || value === null ? "–" : Number(value).toFixed(digits));

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== String(text)) el.textContent = text;
}

function drawChart(canvas, index, lo, hi) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const zero = h - ((0 - lo) / (hi - lo)) * h;
  ctx.strokeStyle = "#2f3742";
  ctx.beginPath(); ctx.moveTo(0, zero); ctx.lineTo(w, zero); ctx.stroke();
  ctx.fillStyle = "#8a93a0";
  ctx.font = "10px sans-serif";
  ctx.fillText(String(hi), 2, 10);
  ctx.fillText(String(lo), 2, h - 2);
  if (!samples.length) { canvas.dataset.points = "0"; return; }
  const tEnd = samples[samples.length - 1][1];
  ctx.strokeStyle = "#f2b134";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let points = 0;
  for (const s of samples) {
    const x = w - ((tEnd - s[1]) / windowS) * w;
    const y = h - ((Math.min(hi, Math.max(lo, s[index])) - lo) / (hi - lo)) * h;
    if (points === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    points += 1;
  }
  ctx.stroke();
  canvas.dataset.points = String(points);
}

// The failure monitor's score (drive.py --alarm): the line, its threshold dashed, alarm periods shaded.
// The vertical scale fits the window's scores and the threshold, so both stay in view.
function drawAlarmChart(canvas, threshold) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  const scored = samples.filter((s) => s[5] !== null && s[5] !== undefined);
  let hi = threshold !== null ? threshold * 1.5 : 0;
  for (const s of scored) hi = Math.max(hi, s[5]);
  hi = hi > 0 ? hi * 1.05 : 1;
  const tEnd = samples.length ? samples[samples.length - 1][1] : 0;
  const xOf = (t) => w - ((tEnd - t) / windowS) * w;
  const yOf = (v) => h - (Math.max(0, Math.min(hi, v)) / hi) * h;
  // alarm periods: from each alarmed frame to the next frame
  ctx.fillStyle = "rgba(224, 72, 72, 0.35)";
  let alarmed = 0;
  for (let i = 0; i < samples.length; i += 1) {
    if (!samples[i][6]) continue;
    const x0 = xOf(samples[i][1]);
    const x1 = i + 1 < samples.length ? xOf(samples[i + 1][1]) : w;
    ctx.fillRect(x0, 0, Math.max(1, x1 - x0), h);
    alarmed += 1;
  }
  if (threshold !== null) {
    ctx.strokeStyle = "#e04848";
    ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(0, yOf(threshold)); ctx.lineTo(w, yOf(threshold)); ctx.stroke();
    ctx.setLineDash([]);
  }
  ctx.fillStyle = "#8a93a0";
  ctx.font = "10px sans-serif";
  ctx.fillText(hi.toPrecision(3), 2, 10);
  ctx.fillText("0", 2, h - 2);
  ctx.strokeStyle = "#5ec4f2";
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  let points = 0;
  for (const s of scored) {
    if (points === 0) ctx.moveTo(xOf(s[1]), yOf(s[5])); else ctx.lineTo(xOf(s[1]), yOf(s[5]));
    points += 1;
  }
  ctx.stroke();
  canvas.dataset.points = String(points);
  canvas.dataset.alarms = String(alarmed);
  canvas.dataset.threshold = threshold === null ? "" : String(threshold);
}

function showCounts(id, counts, empty) {
  const list = $(id);
  const entries = Object.entries(counts || {}).sort();
  const html = entries.length
    ? entries.map(([k, v]) => `<li><span class="name">${k}</span> <b data-kind="${k}">${v}</b></li>`).join("")
    : `<li class="muted">${empty}</li>`;
  if (list.innerHTML !== html) list.innerHTML = html;
}

function showState(state) {
  maxFps = state.max_fps || maxFps;
  windowS = state.window_s || windowS;
  setText("window", windowS);
  for (const s of state.samples) samples.push(s);
  if (samples.length) lastSample = samples[samples.length - 1][0];
  const tEnd = samples.length ? samples[samples.length - 1][1] : 0;
  while (samples.length && samples[0][1] < tEnd - windowS) samples.shift();

  const badge = $("connection");
  badge.dataset.state = state.connection.state;
  setText("connection", state.connection.state);
  setText("runtime", state.runtime);
  const last = samples[samples.length - 1];
  if (last) {
    // Six decimals, as the steer command on the wire (steering.udacity.format_number).
    setText("steer-value", fmt(last[2], 6));
    setText("throttle-value", fmt(last[3], 6));
    setText("speed-value", fmt(last[4], 2));
    const angle = Math.max(-1, Math.min(1, last[2])) * 90;
    $("needle").setAttribute("transform", `rotate(${angle})`);
  }
  const first = samples.find((s) => s[1] >= tEnd - 2);
  const driven = first && last && last[1] > first[1] ? (last[0] - first[0]) / (last[1] - first[1]) : 0;
  setText("drive-fps", driven.toFixed(0));
  drawChart($("chart-steering"), 2, -1, 1);
  drawChart($("chart-throttle"), 3, -1, 1);
  drawChart($("chart-speed"), 4, 0, 35);
  const alarm = state.alarm || { on: false, threshold: null };
  $("chart-alarm-row").hidden = !alarm.on;
  if (alarm.on) {
    drawAlarmChart($("chart-alarm"), alarm.threshold);
    const newest = samples.length ? samples[samples.length - 1] : null;
    setText("alarm-value", newest && newest[5] !== null ? Number(newest[5]).toPrecision(4) : "–");
    setText("alarm-threshold", alarm.threshold === null ? "none (scores only)" : Number(alarm.threshold).toPrecision(4));
    $("alarm-value").dataset.alarm = newest && newest[6] ? "1" : "0";
  }

  const lat = state.latency_ms || {};
  for (const stage of ["total", "infer", "decode"]) {
    setText(`lat-${stage}-p50`, fmt(lat[stage] && lat[stage].p50, 2));
    setText(`lat-${stage}-p99`, fmt(lat[stage] && lat[stage].p99, 2));
  }
  setText("safe-count", state.safe);
  showCounts("errors", state.errors, "no errors");
  showCounts("counters", state.counters, "no events yet");

  const rec = state.recording;
  const toggle = $("record-toggle");
  if (rec) {
    toggle.disabled = false;
    if (!recordPending) toggle.checked = rec.on;
    setText("record-status", `${rec.on ? "recording" : "paused"}: ${rec.written} frames in ${rec.folder}` +
      (rec.dropped ? `, ${rec.dropped} dropped` : ""));
  }
  const sal = state.saliency || {};
  $("saliency-toggle").disabled = sal.available === false;
  if (sal.available === false) setText("saliency-status", sal.error || "unavailable");
  else if ($("saliency-toggle").checked) setText("saliency-status", `${sal.computed || 0} maps, ${fmt(sal.ms, 0)} ms each`);
}

async function stateLoop() {
  for (;;) {
    try {
      const response = await fetch(`/api/state?since=${lastSample}`, { cache: "no-store" });
      showState(await response.json());
    } catch (err) {
      $("connection").dataset.state = "offline";
      setText("connection", "monitor offline");
    }
    await sleep(STATE_MS);
  }
}

async function frameLoop() {
  const img = $("camera");
  for (;;) {
    const started = performance.now();
    try {
      const response = await fetch(`/frame.jpg?after=${frameSeq}`, { cache: "no-store" });
      if (response.status === 200) {
        const blob = await response.blob();
        const url = URL.createObjectURL(blob);
        const old = img.src;
        img.src = url;
        if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        frameSeq = Number(response.headers.get("X-Frame-Seq"));
        img.dataset.shown = String(Number(img.dataset.shown || 0) + 1);  // frames this page received
        setText("frame-count", frameSeq);
        const now = performance.now();
        shown.push(now);
        while (shown.length && shown[0] < now - 2000) shown.shift();
        setText("fps", (shown.length / 2).toFixed(0));
      }
    } catch (err) {
      await sleep(1000);
    }
    await sleep(Math.max(0, 1000 / maxFps - (performance.now() - started)));
  }
}

async function saliencyLoop() {
  const overlay = $("saliency");
  for (;;) {
    if ($("saliency-toggle").checked) {
      try {
        const response = await fetch("/saliency.png", { cache: "no-store" });
        if (response.status === 200) {
          const url = URL.createObjectURL(await response.blob());
          const old = overlay.src;
          overlay.src = url;
          overlay.hidden = false;
          if (old.startsWith("blob:")) URL.revokeObjectURL(old);
        }
      } catch (err) { /* the next state poll shows the monitor as offline */ }
    } else {
      overlay.hidden = true;
    }
    await sleep(SALIENCY_MS);
  }
}

$("record-toggle").addEventListener("change", async (event) => {
  recordPending = true;
  try {
    await fetch("/api/record", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ on: event.target.checked }),
    });
  } finally {
    recordPending = false;
  }
});

stateLoop();
frameLoop();
saliencyLoop();
