/**
 * The browser webphone served by `pbxkit ws-serve --webphone`: a single page (JsSIP in the browser: register, dial,
 * answer by button or automatically, hang up, mute, DTMF pad, call log) and its assets. Auto-answer is a checkbox kept
 * in localStorage; `?autoanswer=1` (or `0`) in the page's URL sets it, so a kiosk phone is configured by its URL. JsSIP comes from the installed npm package, bundled
 * for the browser by `cjs_bundle.ts` (the npm package ships CommonJS only).
 *
 * @module
 */

import type { Asset } from "../ws/static.ts";
import { bundlePackage } from "./cjs_bundle.ts";

/** One static asset of the webphone: a `ws-serve` in-memory {@linkcode Asset} (MIME type and bytes). */
export type WebphoneAsset = Asset;

/** Options for {@linkcode webphoneAssets}. */
export interface WebphoneOptions {
  /** Path of the proxied PBX WebSocket on the same origin (e.g. `/pbxws`), used as the page's default server. */
  wsPath?: string;
}

let jssipBundle: Uint8Array | undefined;

/**
 * The webphone's files keyed by URL path (`/` and `/index.html` for the page, plus scripts).
 * `ws-serve --webphone` serves exactly these.
 */
export function webphoneAssets(options: WebphoneOptions = {}): Promise<Map<string, WebphoneAsset>> {
  try {
    const enc = new TextEncoder();
    jssipBundle ??= enc.encode(bundlePackage("jssip", "JsSIP"));
    const wsPath = options.wsPath && /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(options.wsPath) ? options.wsPath : "";
    const html = enc.encode(pageHtml(wsPath));
    const page: WebphoneAsset = { contentType: "text/html; charset=utf-8", body: html };
    const assets = new Map<string, WebphoneAsset>([
      ["/", page],
      ["/index.html", page],
      ["/jssip.js", { contentType: "text/javascript; charset=utf-8", body: jssipBundle }],
      ["/webphone.js", { contentType: "text/javascript; charset=utf-8", body: enc.encode(APP_JS) }],
    ]);
    return Promise.resolve(assets);
  } catch (err) {
    return Promise.reject(err);
  }
}

function pageHtml(wsPath: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pbxkit webphone</title>
<style>
  :root { font-family: system-ui, sans-serif; color: #1d2330; background: #f3f5f8; }
  body { margin: 0; display: flex; justify-content: center; }
  main { width: min(420px, 100vw); padding: 16px; }
  h1 { font-size: 1.2rem; margin: 0 0 12px; }
  fieldset { border: 1px solid #cfd6e0; border-radius: 8px; margin: 0 0 12px; background: #fff; }
  label { display: block; font-size: .8rem; margin: 6px 0 2px; color: #556; }
  input:not([type=checkbox]) { width: 100%; box-sizing: border-box; padding: 6px 8px; font-size: 1rem; border: 1px solid #bcc5d3; border-radius: 6px; }
  button { padding: 8px 12px; font-size: 1rem; border-radius: 6px; border: 1px solid #8a96a8; background: #fff; cursor: pointer; }
  button.primary { background: #1f7a3e; color: #fff; border-color: #1f7a3e; }
  button.danger { background: #b3261e; color: #fff; border-color: #b3261e; }
  button:disabled { opacity: .45; cursor: default; }
  .row { display: flex; gap: 8px; margin-top: 8px; align-items: center; }
  .row > input { flex: 1; }
  label.check { display: flex; gap: 6px; align-items: center; font-size: .9rem; color: #1d2330; margin-top: 8px; }
  #status { font-size: .9rem; padding: 6px 8px; border-radius: 6px; background: #e6ebf2; }
  #status.ok { background: #d7f0dd; } #status.err { background: #f6d8d6; }
  #incoming { display: none; padding: 8px; border-radius: 8px; background: #fff4cc; margin-bottom: 12px; }
  #pad { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; margin-top: 8px; }
  #log { list-style: none; padding: 0; margin: 0; font-size: .85rem; }
  #log li { padding: 4px 0; border-bottom: 1px solid #e3e7ee; }
</style>
</head>
<body>
<main>
  <h1>pbxkit webphone</h1>
  <fieldset id="account">
    <legend>Account</legend>
    <label for="server">PBX WebSocket</label><input id="server" autocomplete="off">
    <label for="uri">SIP address</label><input id="uri" placeholder="sip:200@pbx.example" autocomplete="username">
    <label for="password">Password</label><input id="password" type="password" autocomplete="current-password">
    <label for="name">Display name</label><input id="name" autocomplete="name">
    <label class="check"><input id="autoanswer" type="checkbox"> Answer incoming calls automatically</label>
    <div class="row"><button id="register" class="primary">Register</button><button id="unregister" disabled>Unregister</button></div>
  </fieldset>
  <div id="status">not registered</div>
  <div id="incoming"><span id="caller"></span>
    <div class="row"><button id="answer" class="primary">Answer</button><button id="decline" class="danger">Decline</button></div></div>
  <fieldset>
    <legend>Call</legend>
    <div class="row"><input id="target" placeholder="100 or sip:100@pbx.example" autocomplete="off">
      <button id="call" class="primary" disabled>Call</button></div>
    <div class="row"><button id="hangup" class="danger" disabled>Hang up</button><button id="mute" disabled>Mute</button>
      <span id="timer"></span></div>
    <div id="pad"></div>
  </fieldset>
  <fieldset><legend>Call log</legend><ul id="log"></ul>
    <div class="row"><button id="clearlog">Clear</button></div></fieldset>
  <audio id="remote" autoplay></audio>
</main>
<script>window.PBXKIT_WS_PATH = ${JSON.stringify(wsPath)};</script>
<script src="jssip.js"></script>
<script src="webphone.js"></script>
</body>
</html>
`;
}

const APP_JS = `"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var store = window.localStorage;
  var ua = null, session = null, muted = false, startedAt = 0, timerIv = 0;
  var defaultWs = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + (window.PBXKIT_WS_PATH || "/ws");
  $("server").value = store.getItem("pbxkit.server") || defaultWs;
  $("uri").value = store.getItem("pbxkit.uri") || "";
  $("name").value = store.getItem("pbxkit.name") || "";
  // auto-answer: a kept setting; ?autoanswer=1|0 in the URL sets it (a kiosk phone is configured by its URL)
  var query = new URLSearchParams(location.search);
  if (query.has("autoanswer")) {
    store.setItem("pbxkit.autoanswer", /^(1|true|yes|on)$/i.test(query.get("autoanswer")) ? "1" : "0");
  }
  $("autoanswer").checked = store.getItem("pbxkit.autoanswer") === "1";
  $("autoanswer").onchange = function () { store.setItem("pbxkit.autoanswer", $("autoanswer").checked ? "1" : "0"); };

  function status(text, cls) { var s = $("status"); s.textContent = text; s.className = cls || ""; }
  function setInCall(on) {
    $("hangup").disabled = !on; $("mute").disabled = !on; $("call").disabled = on || !ua;
    if (!on) { clearInterval(timerIv); $("timer").textContent = ""; muted = false; $("mute").textContent = "Mute"; }
  }
  function logCall(entry) {
    var log = JSON.parse(store.getItem("pbxkit.log") || "[]");
    log.unshift(entry); log = log.slice(0, 50);
    store.setItem("pbxkit.log", JSON.stringify(log)); renderLog();
  }
  function renderLog() {
    var ul = $("log"); ul.textContent = "";
    JSON.parse(store.getItem("pbxkit.log") || "[]").forEach(function (e) {
      var li = document.createElement("li");
      li.textContent = (e.direction === "incoming" ? "\\u2199 " : "\\u2197 ") + e.peer + " \\u2014 " +
        new Date(e.at).toLocaleString() + " \\u2014 " + (e.answered ? e.duration + " s" : "not answered") + " (" + e.cause + ")";
      ul.appendChild(li);
    });
  }
  renderLog();
  $("clearlog").onclick = function () { store.removeItem("pbxkit.log"); renderLog(); };

  "123456789*0#".split("").forEach(function (d) {
    var b = document.createElement("button"); b.textContent = d;
    b.onclick = function () {
      if (session && session.isEstablished()) session.sendDTMF(d, { transportType: "RFC2833" });
      else $("target").value += d;
    };
    $("pad").appendChild(b);
  });

  function track(s, direction) {
    session = s;
    var peer = s.remote_identity.uri.toString(), answered = false;
    var end = function (e) {
      logCall({ direction: direction, peer: peer, at: Date.now(), answered: answered,
        duration: answered ? Math.round((Date.now() - startedAt) / 1000) : 0, cause: e.cause });
      status("call ended: " + e.cause, answered ? "ok" : "err");
      session = null; $("incoming").style.display = "none"; setInCall(false);
    };
    s.on("progress", function () { status("ringing " + peer + "\\u2026"); });
    s.on("accepted", function () {
      answered = true; startedAt = Date.now(); status("in call with " + peer, "ok");
      timerIv = setInterval(function () { $("timer").textContent = Math.round((Date.now() - startedAt) / 1000) + " s"; }, 1000);
    });
    s.on("ended", end); s.on("failed", end);
    s.on("peerconnection", function (e) { attachRemote(e.peerconnection); });
    if (s.connection) attachRemote(s.connection);
    setInCall(true);
  }
  function attachRemote(pc) {
    pc.addEventListener("track", function (e) { $("remote").srcObject = e.streams[0] || new MediaStream([e.track]); });
  }

  $("register").onclick = function () {
    var server = $("server").value.trim(), uri = $("uri").value.trim();
    if (!/^sips?:/.test(uri)) uri = "sip:" + uri;
    store.setItem("pbxkit.server", server); store.setItem("pbxkit.uri", uri); store.setItem("pbxkit.name", $("name").value);
    if (ua) ua.stop();
    try {
      ua = new JsSIP.UA({ sockets: [new JsSIP.WebSocketInterface(server)], uri: uri, password: $("password").value,
        display_name: $("name").value || undefined, session_timers: false, register: true });
    } catch (err) { status("bad settings: " + err.message, "err"); ua = null; return; }
    ua.on("connecting", function () { status("connecting to " + server + "\\u2026"); });
    ua.on("disconnected", function () { status("disconnected from " + server, "err"); });
    ua.on("registered", function () { status("registered as " + uri, "ok"); $("call").disabled = !!session; $("unregister").disabled = false; });
    ua.on("unregistered", function () { status("not registered"); $("call").disabled = true; });
    ua.on("registrationFailed", function (e) { status("registration failed: " + e.cause, "err"); });
    ua.on("newRTCSession", function (e) {
      if (e.originator !== "remote") return;
      if (session) { e.session.terminate({ status_code: 486 }); return; }
      track(e.session, "incoming");
      var who = e.session.remote_identity.display_name || e.session.remote_identity.uri.toString();
      status("incoming call from " + who);
      if ($("autoanswer").checked) { answer(); return; }
      $("caller").textContent = "Incoming call from " + who; $("incoming").style.display = "block";
    });
    ua.start();
  };
  $("unregister").onclick = function () { if (ua) { ua.stop(); ua = null; } $("unregister").disabled = true; setInCall(false); };
  $("call").onclick = function () {
    var t = $("target").value.trim(); if (!t || !ua) return;
    try {
      track(ua.call(t, { mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } }), "outgoing");
      status("calling " + t + "\\u2026");
    } catch (err) { status("cannot call: " + err.message, "err"); }
  };
  $("target").addEventListener("keydown", function (e) { if (e.key === "Enter") $("call").click(); });
  function answer() {
    if (!session || session.isEstablished()) return;
    session.answer({ mediaConstraints: { audio: true, video: false }, pcConfig: { iceServers: [] } });
    $("incoming").style.display = "none";
  }
  $("answer").onclick = answer;
  $("decline").onclick = function () { if (session) session.terminate({ status_code: 603 }); };
  $("hangup").onclick = function () { if (session) session.terminate(); };
  $("mute").onclick = function () {
    if (!session) return;
    muted = !muted; if (muted) session.mute({ audio: true }); else session.unmute({ audio: true });
    $("mute").textContent = muted ? "Unmute" : "Mute";
  };

  // For scripted checks: inbound/outbound RTP counters of the current call.
  window.pbxkitStats = async function () {
    if (!session || !session.connection) return null;
    var out = { inPackets: 0, outPackets: 0, inEnergy: 0 };
    (await session.connection.getStats()).forEach(function (r) {
      if (r.type === "inbound-rtp" && r.kind === "audio") { out.inPackets = r.packetsReceived; out.inEnergy = r.totalAudioEnergy || 0; }
      if (r.type === "outbound-rtp" && r.kind === "audio") out.outPackets = r.packetsSent;
    });
    return out;
  };
})();
`;
