"""The inbox's script and style sheet, served by the app itself (`/static/...`): no CDN, no
build step. The script only refreshes the list: it fetches the server-rendered fragment every
few seconds and swaps it in, unless the person is typing in one of its fields."""

from __future__ import annotations

INBOX_JS = """\
"use strict";
(function () {
  var box = document.getElementById("inbox");
  if (!box) { return; }
  var url = box.getAttribute("data-poll");
  var every = parseInt(box.getAttribute("data-interval") || "3000", 10);
  function typing() {
    var el = document.activeElement;
    return el && box.contains(el) && (el.tagName === "INPUT" || el.tagName === "TEXTAREA");
  }
  function later() { window.setTimeout(tick, every); }
  function tick() {
    if (document.hidden || typing()) { later(); return; }
    fetch(url, { credentials: "same-origin", cache: "no-store",
                 headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (response.status === 401 || response.status === 403) {
          box.setAttribute("data-stale", "signed out");
          return null;
        }
        return response.ok ? response.json() : null;
      })
      .then(function (data) {
        if (data && typeof data.html === "string") {
          box.innerHTML = data.html;
          box.setAttribute("data-refreshed", String(Date.now()));
        }
        if (box.getAttribute("data-stale") !== "signed out") { later(); }
      })
      .catch(function () { later(); });
  }
  later();
})();
"""

INBOX_CSS = """\
:root { color-scheme: light dark; --ok: #1a7f37; --bad: #cf222e; --muted: #6e7781; }
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 70rem; padding: 1rem; }
header { display: flex; justify-content: space-between; align-items: baseline;
         border-bottom: 1px solid #d0d7de; margin-bottom: 1rem; }
h1 { font-size: 1.4rem; margin: .4rem 0; }
h2 { font-size: 1.1rem; margin: 1.2rem 0 .4rem; }
h3 { font-size: 1.05rem; margin: 0 0 .2rem; }
h4 { font-size: .9rem; margin: .7rem 0 .2rem; text-transform: uppercase; color: var(--muted); }
h4 code { text-transform: none; }
.who form.inline { margin-left: .6rem; }
h5 { font-size: .9rem; margin: .3rem 0; }
.muted, .meta { color: var(--muted); }
.meta { margin: 0 0 .4rem; font-size: .9rem; }
.approval { border: 1px solid #d0d7de; border-radius: 8px; padding: .8rem 1rem;
            margin-bottom: 1rem; }
.approval[data-status="pending"] { border-left: 5px solid #bf8700; }
.status, .outcome { font-weight: 600; padding: 0 .35rem; border-radius: 4px;
                    border: 1px solid currentColor; }
.status-granted, .status-consumed, .outcome-healed { color: var(--ok); }
.status-rejected, .status-expired, .outcome-not_healed, .outcome-failed { color: var(--bad); }
table.diff { border-collapse: collapse; width: 100%; font-size: .9rem; }
table.diff th, table.diff td { text-align: left; padding: .2rem .4rem;
                                border-bottom: 1px solid #d0d7de; vertical-align: top; }
table.diff del { color: var(--bad); }
table.diff ins { color: var(--ok); text-decoration: none; font-weight: 600; }
pre { background: rgba(127, 127, 127, .12); padding: .5rem; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; font-size: .85rem; }
.veto { color: var(--bad); }
.actions { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin-top: .6rem; }
form.inline { display: inline; margin: 0; }
.reject-form { display: flex; gap: .3rem; }
button { font: inherit; padding: .3rem .8rem; border-radius: 6px; border: 1px solid #8c959f;
         cursor: pointer; }
button.approve { background: var(--ok); color: #fff; border-color: var(--ok); }
button.reject { background: var(--bad); color: #fff; border-color: var(--bad); }
button.link { border: 0; background: none; text-decoration: underline; padding: 0; }
input[type=text], input[type=password] { font: inherit; padding: .3rem; }
main.login { max-width: 28rem; margin: 4rem auto; }
main.login form { display: flex; flex-direction: column; gap: .5rem; }
.error { color: var(--bad); font-weight: 600; }
"""
