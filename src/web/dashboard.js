// The dashboard's one script. The page is complete without it; it only
// (1) keeps the overview live: each record the SSE stream delivers makes
// the page fetch its own URL again and swap in the fresh part, so the
// views and the head update without a reload; and (2) lets a click on the
// agreements calendar move the as-of day. No network but this server.
(function () {
  "use strict";
  var status = document.getElementById("live-status");

  function calendar() {
    var box = document.getElementById("calendar");
    if (!box) return;
    box.addEventListener("click", function (event) {
      if (event.target.closest("a")) return;
      var rect = box.getBoundingClientRect();
      var start = Date.parse(box.dataset.start), end = Date.parse(box.dataset.end);
      var fraction = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
      var day = new Date(start + fraction * (end - start)).toISOString().slice(0, 10);
      var params = new URLSearchParams(location.search);
      params.set("as_of", day);
      location.search = params.toString();
    });
  }
  calendar();

  var live = document.getElementById("live");
  if (!live || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var head = Number(live.dataset.head);
  var frozen = live.dataset.frozen === "true";
  var source = new EventSource("/events/stream?after=" + head);
  var busy = false, again = false, arrived = 0;

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.href, { headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        if (fresh) { live.replaceWith(fresh); live = fresh; calendar(); }
        status.textContent = "Live: " + arrived + " new record" + (arrived === 1 ? "" : "s") + " since this page loaded; shown up to record " + live.dataset.head + ".";
      })
      .catch(function () { status.textContent = "Live update failed; reload the page to see the latest."; })
      .finally(function () { busy = false; if (again) { again = false; refresh(); } });
  }

  function onRecord(event) {
    arrived += 1;
    head = Math.max(head, Number(event.lastEventId) || head);
    if (frozen) {
      status.textContent = arrived + " record" + (arrived === 1 ? " has" : "s have") + " been written since; this page shows the ledger as it stood earlier (remove “after record” to see them).";
      return;
    }
    refresh();
  }
  (live.dataset.types || "").split(" ").forEach(function (type) { if (type) source.addEventListener(type, onRecord); });
  source.onopen = function () { if (!arrived) status.textContent = "Live: new records appear here as they are written."; };
  source.onerror = function () { status.textContent = "Live updates paused; reconnecting…"; };
})();
