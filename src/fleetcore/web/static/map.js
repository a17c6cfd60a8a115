/* The live map (vehicles/map.html): the vehicles' last positions on tiles, refreshed every 30 s.

   The page already lists the vehicles; this draws them when Leaflet and a tile URL are there.
   If the tiles do not load (no URL, offline, blocked), the list is what the page shows. */
(function () {
  "use strict";
  var box = document.getElementById("live-map");
  if (!box || !window.L) { return; }
  var note = document.getElementById("live-map-note");
  var tilesUrl = box.getAttribute("data-tiles");
  if (!tilesUrl) { return; }
  box.hidden = false;
  var map = window.L.map(box, { attributionControl: true }).setView([48.8566, 2.3522], 11);
  var failed = 0, loaded = 0;
  var tiles = window.L.tileLayer(tilesUrl, {
    maxZoom: 19, attribution: box.getAttribute("data-attribution") || ""
  }).addTo(map);
  tiles.on("tileload", function () { loaded += 1; });
  tiles.on("tileerror", function () {
    failed += 1;
    if (!loaded && failed >= 4) {
      box.hidden = true;
      note.hidden = false;
      // The words come from the page, in its language.
      note.textContent = note.getAttribute("data-tiles-failed");
    }
  });
  var layer = window.L.layerGroup().addTo(map), fitted = false;
  var colour = { critical: "#b42318", high: "#d9480f", medium: "#b08800" };

  function text(value) { return document.createTextNode(value == null ? "" : String(value)); }

  function popup(v) {
    var div = document.createElement("div"), link = document.createElement("a");
    link.href = box.getAttribute("data-vehicles") + v.vehicle_id;
    link.appendChild(text(v.licence_plate));
    div.appendChild(link);
    div.appendChild(document.createElement("br"));
    div.appendChild(text((v.driver_name || (v.driver_id ? "assigned" : "nobody")) +
      (v.speed_kmh != null ? " · " + v.speed_kmh + " km/h" : "")));
    v.events.forEach(function (e) {
      div.appendChild(document.createElement("br"));
      div.appendChild(text(e.event_type + " (" + e.severity + ") " +
        new Date(e.occurred_at).toLocaleString() + (e.description ? " · " + e.description : "")));
    });
    return div;
  }

  function draw(items) {
    layer.clearLayers();
    var points = [];
    items.forEach(function (v) {
      if (v.latitude == null || v.longitude == null) { return; }
      var at = [Number(v.latitude), Number(v.longitude)];
      var worst = v.events.length ? v.events[0].severity : null;
      window.L.circleMarker(at, {
        radius: 8, weight: 2, color: colour[worst] || "#1864ab", fillOpacity: 0.6
      }).bindTooltip(v.licence_plate).bindPopup(popup(v)).addTo(layer);
      points.push(at);
    });
    if (points.length && !fitted) {
      map.fitBounds(points, { maxZoom: 15, padding: [24, 24] });
      fitted = true;
    }
  }

  function refresh() {
    fetch(box.getAttribute("data-positions"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { items: [] }; })
      .then(function (body) { draw(body.items || []); })
      .catch(function () { /* keep the last drawing */ });
  }
  refresh();
  window.setInterval(refresh, 30000);
})();
