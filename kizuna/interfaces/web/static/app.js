/* kizuna operator map.
 *
 * One page per node. It holds no data of its own: with a token (from #token=... in the URL or
 * typed into the form; kept in sessionStorage only) it reads the node's picture from the REST
 * API, then follows the WebSocket. Without a token it shows the sign-in form and nothing else.
 * A laptop run (`kizuna demo`) may hand over one token per node, #tokens=NODE:TOKEN,...: the
 * page then offers a node selector, and each choice reloads the page as that node's operator.
 * A replay's scenario clock (GET /api/v1/clock) drives the data clock: scenario time, speed
 * and how far the run is behind its schedule are shown, never hidden.
 * All text from products is inserted with textContent, never as HTML.
 */
(function () {
  "use strict";

  var EARTH_RADIUS_M = 6371008.8; // IUGG mean radius: ample for drawing a 95 % ellipse
  var TOKEN_KEY = "kizuna.token";
  var TOKENS_KEY = "kizuna.tokens"; // {node: token} from #tokens=, for the node selector
  var CLOCK_POLL_MS = 1000;
  var LATE_S = 2; // a replay this many wall seconds behind its schedule is flagged
  var LANG_KEY = "kizuna.lang";
  var LEVEL_RANK = { warning: 0, advisory: 1, notice: 2 };
  var LEVEL_COLOR = { warning: "#e53935", advisory: "#fb8c00", notice: "#fdd835" };
  var CATEGORY_COLOR = { ballistic: "#ff5252", orbital: "#40c4ff", unknown: "#ffab40" };
  var CLASS_RANK = { UNCLASSIFIED: 0, CONFIDENTIAL: 1, SECRET: 2 };
  var ACTIVE = { issued: true, updated: true };
  var MAX_EXTRAPOLATION_S = 5;
  var MAX_LABELS = 40;
  var STALE_TRACK_S = 30; // a track not updated for this long (data time) is drawn faded
  var LIST_REFRESH_MS = 250; // the side lists redraw at most this often, however fast data comes // the clock runs on between products, but not past a stalled feed

  var I18N = {
    en: {
      login_prompt: "Access token", login_button: "Sign in", sign_out: "Sign out",
      alerts: "Alerts", timeline: "Timeline", tracks: "Tracks", no_alerts: "No active alerts",
      no_tracks: "No tracks", impact_in: "Impact in", impact_passed: "Impact time passed",
      data_time: "data", exercise: "EXERCISE", bad_token: "Token refused: ",
      scenario: "scenario", late: "late", sustained: "running at",
      run_state: { starting: "starting", running: "", finished: "ended", stopped: "stopped" },
      level: { warning: "WARNING", advisory: "ADVISORY", notice: "NOTICE" },
      status: { issued: "issued", updated: "updated", cancelled: "cancelled",
        impacted: "impacted", passed: "passed" },
      kind: { impact: "impact", overflight: "overflight" },
      category: { ballistic: "ballistic", orbital: "orbital", unknown: "unknown" },
      phase: { boost: "boost", midcourse: "midcourse", terminal: "terminal", unknown: "" },
    },
    ja: {
      login_prompt: "アクセストークン", login_button: "サインイン", sign_out: "サインアウト",
      alerts: "警報", timeline: "経過", tracks: "航跡", no_alerts: "発表中の警報はありません",
      no_tracks: "航跡なし", impact_in: "落下まで", impact_passed: "落下予測時刻を経過",
      data_time: "データ", exercise: "訓練", bad_token: "トークンが拒否されました: ",
      scenario: "シナリオ", late: "遅れ", sustained: "実速度",
      run_state: { starting: "開始中", running: "", finished: "終了", stopped: "中断" },
      level: { warning: "警報", advisory: "注意報", notice: "情報" },
      status: { issued: "発表", updated: "更新", cancelled: "解除", impacted: "落下",
        passed: "通過" },
      kind: { impact: "落下", overflight: "上空通過" },
      category: { ballistic: "弾道", orbital: "衛星軌道", unknown: "不明" },
      phase: { boost: "上昇", midcourse: "中間", terminal: "終末", unknown: "" },
    },
    ko: {
      login_prompt: "접속 토큰", login_button: "로그인", sign_out: "로그아웃",
      alerts: "경보", timeline: "경과", tracks: "항적", no_alerts: "발령 중인 경보 없음",
      no_tracks: "항적 없음", impact_in: "낙하까지", impact_passed: "낙하 예상 시각 경과",
      data_time: "데이터", exercise: "훈련", bad_token: "토큰 거부: ",
      scenario: "시나리오", late: "지연", sustained: "실제 속도",
      run_state: { starting: "시작 중", running: "", finished: "종료", stopped: "중단" },
      level: { warning: "경보", advisory: "주의보", notice: "정보" },
      status: { issued: "발령", updated: "갱신", cancelled: "해제", impacted: "낙하",
        passed: "통과" },
      kind: { impact: "낙하", overflight: "상공 통과" },
      category: { ballistic: "탄도", orbital: "궤도", unknown: "미상" },
      phase: { boost: "상승", midcourse: "중간", terminal: "종말", unknown: "" },
    },
  };

  var state = {
    token: null, lang: "en", node: null, map: null, ws: null, wsRetry: null,
    regions: {},        // code -> {layer, props}
    tracks: {},         // origin/track_id -> {points, trail, marker, product}
    predictions: {},    // origin/track_id -> {product, launch, ellipse}
    alerts: {},         // origin/alert_id -> latest product
    timeline: {},       // version key -> product
    dataTime: null, dataWall: null, exercise: false, classification: -1,
    run: null, runWall: null, // the last /api/v1/clock answer and when it came (s)
    userMoved: false,   // once the operator pans or zooms, the map never moves by itself
  };
  window.kizuna = state; // read by the browser tests

  function $(id) { return document.getElementById(id); }
  function t(key) { return I18N[state.lang][key]; }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function parseTime(text) { return Date.parse(text) / 1000; }
  function hhmmss(seconds) {
    return new Date(seconds * 1000).toISOString().substring(11, 19);
  }
  function countdown(seconds) {
    var s = Math.max(0, Math.round(seconds));
    var m = Math.floor(s / 60);
    return (m < 10 ? "0" : "") + m + ":" + ((s % 60) < 10 ? "0" : "") + (s % 60);
  }
  function keyOf(item, idField) { return item.origin_node + "/" + item[idField]; }

  // --- token and sign-in ---------------------------------------------------------------------

  function tokenFromHash() {
    // #token=T (one node) or #tokens=NODE:T,NODE:T (a laptop run; the first is shown first).
    var single = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    var many = /(?:^#|&)tokens=([^&]+)/.exec(window.location.hash);
    if (!single && !many) { return null; }
    // Do not leave the token in the address bar, history or a screenshot of the URL.
    window.history.replaceState(null, "", window.location.pathname + window.location.search);
    if (single) { return decodeURIComponent(single[1]); }
    var tokens = {};
    var first = null;
    decodeURIComponent(many[1]).split(",").forEach(function (pair) {
      var cut = pair.indexOf(":");
      if (cut <= 0) { return; }
      tokens[pair.substring(0, cut)] = pair.substring(cut + 1);
      if (first === null) { first = pair.substring(cut + 1); }
    });
    sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    return first;
  }

  function heldTokens() {
    try { return JSON.parse(sessionStorage.getItem(TOKENS_KEY) || "{}") || {}; }
    catch (error) { return {}; }
  }

  function initNodeSelect(current) {
    // Offered only with tokens for several nodes; each node's app still verifies its token.
    var tokens = heldTokens();
    var nodes = Object.keys(tokens);
    var select = $("node-select");
    if (nodes.length < 2) { select.hidden = true; return; }
    select.textContent = "";
    nodes.forEach(function (node) {
      var option = el("option", null, node);
      option.value = node;
      option.selected = node === current;
      select.appendChild(option);
    });
    select.hidden = false;
    select.onchange = function () {
      sessionStorage.setItem(TOKEN_KEY, tokens[select.value]);
      if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
      window.location.reload(); // a fresh page: nothing of the other node's picture remains
    };
  }

  function showLogin(message) {
    $("app").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token-input").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(TOKENS_KEY);
    state.token = null;
    if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
    // Reload to drop every datum of the picture from memory and the DOM.
    if (message) { sessionStorage.setItem("kizuna.loginError", message); }
    window.location.reload();
  }

  function api(path) {
    return fetch(path, { headers: { Authorization: "Bearer " + state.token },
      cache: "no-store" }).then(function (response) {
      if (!response.ok) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          var error = new Error(body.detail || response.statusText);
          error.status = response.status;
          throw error;
        });
      }
      return response.json();
    });
  }

  // --- language ------------------------------------------------------------------------------

  function setLang(lang) {
    if (!I18N[lang]) { lang = "en"; }
    state.lang = lang;
    localStorage.setItem(LANG_KEY, lang);
    document.documentElement.lang = lang;
    Array.prototype.forEach.call(document.querySelectorAll("[data-i18n]"), function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    Array.prototype.forEach.call(document.querySelectorAll("#lang-switch button"), function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-lang") === lang));
    });
    Object.keys(state.tracks).forEach(function (key) { labelTrack(key); });
    renderPanel();
  }

  function regionName(region) {
    var known = state.regions[region.code];
    if (known && ((state.lang === "ja" && known.props.country === "JPN") ||
                  (state.lang === "ko" && known.props.country === "KOR"))) {
      return known.props.name_local;
    }
    return region.name;
  }

  // --- the map -------------------------------------------------------------------------------

  function regionStyle(feature) {
    var kind = feature.properties.kind;
    if (kind === "prefecture" || kind === "province") {
      return { color: "#5f7f6a", weight: 0.8, fillColor: "#22382c", fillOpacity: 1,
        className: "kz-region kz-region-" + feature.properties.code };
    }
    if (kind === "base") {
      return { color: "#90caf9", weight: 1, fillOpacity: 0.1,
        className: "kz-region kz-region-" + feature.properties.code };
    }
    return { color: kind === "eez" ? "#3c6e91" : "#4f86ad", weight: 1, fill: true,
      fillOpacity: 0, dashArray: kind === "eez" ? "6 4" : "2 3",
      className: "kz-region kz-region-" + feature.properties.code };
  }

  function initMap() {
    state.map = L.map("map", { zoomSnap: 0.25, worldCopyJump: false, preferCanvas: false })
      .setView([37.0, 133.0], 5);
    state.map.attributionControl.setPrefix(false);
    state.map.attributionControl.addAttribution(
      "Natural Earth (public domain) · regions: kizuna/geo/regions/data/SOURCES.md");
    ["mousedown", "wheel", "touchstart", "keydown"].forEach(function (name) {
      state.map.getContainer().addEventListener(name, function () { state.userMoved = true; },
        { passive: true });
    });
    state.layers = {
      coast: L.layerGroup().addTo(state.map),
      regions: L.layerGroup().addTo(state.map),
      impacts: L.layerGroup().addTo(state.map),
      trails: L.layerGroup().addTo(state.map),
      tracks: L.layerGroup().addTo(state.map),
    };
  }

  function loadGeography() {
    return Promise.all([api("/api/v1/geo/coastline"), api("/api/v1/geo/regions")])
      .then(function (geo) {
        L.geoJSON(geo[0], { interactive: false,
          style: { color: "#7fa3b8", weight: 1, className: "kz-coast" } })
          .addTo(state.layers.coast);
        L.geoJSON(geo[1], {
          style: regionStyle,
          onEachFeature: function (feature, layer) {
            state.regions[feature.properties.code] = { layer: layer, props: feature.properties };
          },
        }).addTo(state.layers.regions);
        $("map").setAttribute("data-regions", String(Object.keys(state.regions).length));
      });
  }

  function ellipseLatLngs(lat, lon, semiMajor, semiMinor, orientationDeg) {
    // The 95 % ellipse in the local tangent plane: major axis `orientationDeg` clockwise from
    // north, offsets turned into degrees on a sphere (sub-metre error at these sizes).
    var theta = orientationDeg * Math.PI / 180;
    var cosLat = Math.cos(lat * Math.PI / 180);
    var out = [];
    for (var i = 0; i < 72; i++) {
      var a = 2 * Math.PI * i / 72;
      var east = semiMajor * Math.cos(a) * Math.sin(theta) + semiMinor * Math.sin(a) * Math.cos(theta);
      var north = semiMajor * Math.cos(a) * Math.cos(theta) - semiMinor * Math.sin(a) * Math.sin(theta);
      out.push([lat + (north / EARTH_RADIUS_M) * 180 / Math.PI,
        lon + (east / (EARTH_RADIUS_M * cosLat)) * 180 / Math.PI]);
    }
    return out;
  }

  // --- products ------------------------------------------------------------------------------

  function noteProduct(item) {
    var time = parseTime(item.time);
    if (state.dataTime === null || time > state.dataTime) {
      state.dataTime = time;
      state.dataWall = performance.now() / 1000;
    }
    if (item.exercise && !state.exercise) {
      state.exercise = true;
      $("exercise-banner").hidden = false;
    }
    var rank = CLASS_RANK[item.marking.classification];
    if (rank > state.classification) {
      state.classification = rank;
      var banner = $("classification-banner");
      banner.textContent = item.marking.classification;
      banner.setAttribute("data-level", item.marking.classification);
    }
  }

  function categoryOf(key) {
    var prediction = state.predictions[key];
    return prediction ? prediction.product.category : "unknown";
  }

  function labelTrack(key) {
    var track = state.tracks[key];
    if (!track) { return; }
    var p = track.product;
    var parts = [p.track_id, t("category")[categoryOf(key)],
      Math.round(p.alt_m / 1000) + " km"];
    if (t("phase")[p.phase]) { parts.push(t("phase")[p.phase]); }
    if (p.exercise) { parts.push(t("exercise")); }
    var label = el("span", null, parts.join(" · "));
    track.marker.setTooltipContent(label);
    var color = CATEGORY_COLOR[categoryOf(key)];
    track.marker.setStyle({ color: color, fillColor: color });
    track.trail.setStyle({ color: color });
  }

  function onTrack(item) {
    var key = keyOf(item, "track_id");
    var time = parseTime(item.time);
    var track = state.tracks[key];
    if (!track) {
      track = state.tracks[key] = { points: [], product: item };
      track.trail = L.polyline([], { weight: 2, opacity: 0.8, className: "kz-trail",
        dashArray: item.exercise ? "4 4" : null }).addTo(state.layers.trails);
      track.marker = L.circleMarker([item.lat, item.lon], { radius: 6, weight: 2,
        fillOpacity: 0.9, className: "kz-track" }).addTo(state.layers.tracks);
      // Labels stay on while the picture is small; past MAX_LABELS tracks they show on hover
      // only, or a salvo of hundreds would bury the map in text.
      track.marker.bindTooltip("", { permanent: Object.keys(state.tracks).length <= MAX_LABELS,
        direction: "right", offset: [8, 0], className: "kz-label" });
      track.marker.getElement().setAttribute("data-track", key);
    }
    var points = track.points;
    var index = points.length;
    while (index > 0 && points[index - 1][2] > time) { index--; }
    if (index > 0 && points[index - 1][2] === time) { return; } // a repeat (REST and live)
    points.splice(index, 0, [item.lat, item.lon, time]);
    if (index === points.length - 1) {
      track.product = item;
      track.marker.setLatLng([item.lat, item.lon]);
      track.marker.getElement().setAttribute("data-lat", String(item.lat));
      track.marker.getElement().setAttribute("data-lon", String(item.lon));
    }
    track.trail.setLatLngs(points.map(function (p) { return [p[0], p[1]]; }));
    labelTrack(key);
    scheduleTrackList();
  }

  function scheduleTrackList() {
    if (state.listTimer) { return; }
    state.listTimer = window.setTimeout(function () {
      state.listTimer = null;
      renderTrackList();
    }, LIST_REFRESH_MS);
  }

  function ensureVisible(latlngs) {
    // Widen (never narrow) the view so a new launch point or impact is on screen, until the
    // operator takes the map over.
    if (state.userMoved || !latlngs.length) { return; }
    var view = state.map.getBounds();
    var wanted = L.latLngBounds(latlngs);
    if (!view.contains(wanted)) {
      state.map.fitBounds(wanted.extend(view), { padding: [24, 24], animate: false });
    }
  }

  function onPrediction(item) {
    var key = keyOf(item, "track_id");
    var old = state.predictions[key];
    if (old && parseTime(old.product.time) > parseTime(item.time)) { return; }
    if (old) { state.layers.impacts.removeLayer(old.group); }
    var group = L.layerGroup().addTo(state.layers.impacts);
    if (item.launch) {
      L.marker([item.launch.lat, item.launch.lon], {
        icon: L.divIcon({ className: "kz-launch-icon kz-launch", html: "", iconSize: [18, 18] }),
        keyboard: false, title: item.track_id,
      }).addTo(group).getElement().textContent = "▲";
    }
    if (item.impact) {
      var e = item.impact.ellipse_95;
      L.polygon(ellipseLatLngs(item.impact.lat, item.impact.lon, e.semi_major_m, e.semi_minor_m,
        e.orientation_deg), { color: "#ff5252", weight: 2, fillOpacity: 0.25,
        className: "kz-impact" }).addTo(group);
      if (item.launch) {
        L.polyline([[item.launch.lat, item.launch.lon], [item.impact.lat, item.impact.lon]],
          { color: "#ff8a80", weight: 1, dashArray: "3 6", interactive: false,
            className: "kz-ground-path" }).addTo(group);
      }
    }
    state.predictions[key] = { product: item, group: group };
    labelTrack(key);
    var points = [];
    if (item.launch) { points.push([item.launch.lat, item.launch.lon]); }
    if (item.impact) { points.push([item.impact.lat, item.impact.lon]); }
    ensureVisible(points);
  }

  function onAlert(item) {
    var key = keyOf(item, "alert_id");
    state.timeline[key + "@" + item.time + "@" + item.status] = item;
    var old = state.alerts[key];
    if (!old || parseTime(old.time) <= parseTime(item.time)) { state.alerts[key] = item; }
    paintRegions();
    renderPanel();
  }

  function onProduct(kind, item) {
    noteProduct(item);
    if (kind === "track") { onTrack(item); }
    else if (kind === "prediction") { onPrediction(item); }
    else if (kind === "alert") { onAlert(item); }
  }

  function activeAlerts() {
    return Object.keys(state.alerts).map(function (k) { return state.alerts[k]; })
      .filter(function (a) { return ACTIVE[a.status]; })
      .sort(function (a, b) {
        return (LEVEL_RANK[a.level] - LEVEL_RANK[b.level]) || (parseTime(a.time) - parseTime(b.time));
      });
  }

  function paintRegions() {
    var worst = {};
    activeAlerts().forEach(function (a) {
      a.regions.forEach(function (r) {
        if (!(r.code in worst) || LEVEL_RANK[a.level] < LEVEL_RANK[worst[r.code]]) {
          worst[r.code] = a.level;
        }
      });
    });
    Object.keys(state.regions).forEach(function (code) {
      var region = state.regions[code];
      var element = region.layer.getElement && region.layer.getElement();
      if (code in worst) {
        var color = LEVEL_COLOR[worst[code]];
        region.layer.setStyle({ fillColor: color, fillOpacity: 0.55, color: color, weight: 2 });
        if (element) { element.classList.add("kz-at-risk"); }
      } else if (region.atRisk) {
        region.layer.setStyle(regionStyle({ properties: region.props }));
        if (element) { element.classList.remove("kz-at-risk"); }
      }
      region.atRisk = code in worst;
    });
  }

  // --- panel and clock -----------------------------------------------------------------------

  function replaying() {
    return state.run !== null && state.run.mode === "replay" && state.run.scenario_s !== null;
  }

  function nowData() {
    if (replaying()) {
      // A replay's data time is its scenario clock, which runs at the speed the run sustains
      // (not the one asked for) and stops when the run ends.
      var run = state.run;
      var rate = run.state === "running" ? (run.achieved_speed || run.speed || 0) : 0;
      var since = Math.min(Math.max(performance.now() / 1000 - state.runWall, 0),
        2 * CLOCK_POLL_MS / 1000);
      return run.scenario_s + rate * since;
    }
    if (state.dataTime === null) { return null; }
    var elapsed = performance.now() / 1000 - state.dataWall;
    return state.dataTime + Math.min(Math.max(elapsed, 0), MAX_EXTRAPOLATION_S);
  }

  function renderPanel() {
    var list = $("alerts");
    list.textContent = "";
    var active = activeAlerts();
    if (!active.length) { list.appendChild(el("li", "kz-empty", t("no_alerts"))); }
    active.forEach(function (a) {
      var card = el("li", "kz-alert kz-level-" + a.level);
      card.setAttribute("data-alert", keyOf(a, "alert_id"));
      var head = el("div", "kz-head");
      head.appendChild(el("span", null, t("level")[a.level]));
      head.appendChild(el("span", null, t("kind")[a.kind]));
      head.appendChild(el("span", null, t("status")[a.status]));
      if (a.exercise) { head.appendChild(el("span", "kz-tag", t("exercise"))); }
      // A node holds its partners' alerts too: say whose each one is.
      head.appendChild(el("span", "kz-origin", a.origin_node));
      card.appendChild(head);
      card.appendChild(el("div", "kz-regions", a.regions.map(regionName).join(", ")));
      card.appendChild(el("div", "kz-message", a.message[state.lang] || a.message.en));
      var clock = el("div", "kz-countdown");
      if (a.impact_time) { clock.setAttribute("data-impact", String(parseTime(a.impact_time))); }
      card.appendChild(clock);
      list.appendChild(card);
    });
    var timeline = $("timeline");
    timeline.textContent = "";
    Object.keys(state.timeline).map(function (k) { return state.timeline[k]; })
      .sort(function (a, b) { return parseTime(b.time) - parseTime(a.time); })
      .forEach(function (a) {
        var row = el("li", "kz-event kz-level-" + a.level);
        var stamp = el("time", null, hhmmss(parseTime(a.time)) + "Z");
        stamp.setAttribute("datetime", a.time);
        row.appendChild(stamp);
        row.appendChild(document.createTextNode([a.origin_node, t("level")[a.level],
          t("status")[a.status],
          a.regions.map(regionName).join(", ")].join(" · ")));
        if (a.exercise) { row.appendChild(el("span", "kz-tag", t("exercise"))); }
        timeline.appendChild(row);
      });
    tick();
  }

  function renderTrackList() {
    var list = $("track-list");
    list.textContent = "";
    var keys = Object.keys(state.tracks).sort();
    if (!keys.length) { list.appendChild(el("li", "kz-empty", t("no_tracks"))); }
    keys.forEach(function (key) {
      var p = state.tracks[key].product;
      list.appendChild(el("li", null, [key, t("category")[categoryOf(key)],
        p.lat.toFixed(2) + "°, " + p.lon.toFixed(2) + "°", Math.round(p.alt_m / 1000) + " km",
        hhmmss(parseTime(p.time)) + "Z"].join(" · ")));
    });
  }

  function renderRunClock(now) {
    var box = $("run-clock");
    if (!replaying()) { box.hidden = true; return; }
    var run = state.run;
    var parts = [t("scenario")];
    if (run.origin_time) {
      var offset = now - parseTime(run.origin_time);
      parts.push("T" + (offset < 0 ? "-" : "+") + countdown(Math.abs(offset)));
    }
    parts.push(run.speed > 0 ? "\u00d7" + run.speed : "\u00d7max");
    if (run.achieved_speed && run.speed > 0 && run.achieved_speed < 0.95 * run.speed) {
      parts.push(t("sustained") + " \u00d7" + run.achieved_speed.toFixed(1));
    }
    var late = run.late_s === null || run.late_s === undefined ? null : run.late_s;
    if (late !== null) { parts.push(Math.round(late) + " s " + t("late")); }
    if (t("run_state")[run.state]) { parts.push(t("run_state")[run.state]); }
    box.textContent = parts.join(" \u00b7 ");
    box.setAttribute("data-lagging", late !== null && late > LATE_S ? "1" : "0");
    box.hidden = false;
  }

  function pollClock() {
    api("/api/v1/clock").then(function (run) {
      state.run = run;
      state.runWall = performance.now() / 1000;
      // A live node's data time is wall time: nothing more to follow. A replay is polled
      // until it ends.
      if (run.mode === "replay" && (run.state === "starting" || run.state === "running")) {
        window.setTimeout(pollClock, CLOCK_POLL_MS);
      }
      tick();
    }).catch(function () { window.setTimeout(pollClock, 5 * CLOCK_POLL_MS); });
  }

  function tick() {
    $("clock").textContent = "UTC " + new Date().toISOString().substring(11, 19);
    var now = nowData();
    $("data-time").textContent = now === null ? "" : t("data_time") + " " + hhmmss(now) + "Z";
    renderRunClock(now);
    // The soonest impact still ahead; an active alert whose impact time is behind the data
    // clock (a stale estimate not yet closed) must not hide one that is still to come.
    var soonest = null;
    var passed = false;
    activeAlerts().forEach(function (a) {
      if (a.impact_time) {
        var time = parseTime(a.impact_time);
        if (now !== null && time <= now) { passed = true; return; }
        if (soonest === null || time < soonest) { soonest = time; }
      }
    });
    if (soonest === null && !passed) {
      Object.keys(state.predictions).forEach(function (k) {
        var impact = state.predictions[k].product.impact;
        if (impact) {
          var time = parseTime(impact.time);
          if (now !== null && time > now && (soonest === null || time < soonest)) { soonest = time; }
        }
      });
    }
    if (now !== null) { fadeStaleTracks(now); }
    var tti = $("tti");
    if (now === null) { tti.textContent = ""; }
    else if (soonest !== null && soonest > now) {
      tti.textContent = t("impact_in") + " " + countdown(soonest - now);
    } else if (soonest !== null || passed) { tti.textContent = t("impact_passed"); }
    else { tti.textContent = ""; }
    Array.prototype.forEach.call(document.querySelectorAll(".kz-countdown"), function (node) {
      var impact = Number(node.getAttribute("data-impact"));
      if (!impact || now === null) { node.textContent = ""; return; }
      node.textContent = impact > now ? t("impact_in") + " " + countdown(impact - now)
        : t("impact_passed");
    });
  }

  function fadeStaleTracks(now) {
    Object.keys(state.tracks).forEach(function (key) {
      var track = state.tracks[key];
      var stale = now - track.points[track.points.length - 1][2] > STALE_TRACK_S;
      if (stale === Boolean(track.stale)) { return; }
      track.stale = stale;
      track.marker.setStyle({ opacity: stale ? 0.35 : 1, fillOpacity: stale ? 0.3 : 0.9 });
      track.trail.setStyle({ opacity: stale ? 0.3 : 0.8 });
      var element = track.marker.getElement();
      if (element) { element.classList.toggle("kz-stale", stale); }
    });
  }

  // --- live updates --------------------------------------------------------------------------

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    // ?node= lets a laptop-mode server (every node behind one port) route the socket before
    // the token arrives in the first message; the node's own app then verifies the token.
    var ws = new WebSocket(scheme + window.location.host + "/ws?node=" +
      encodeURIComponent(state.node.node));
    state.ws = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ type: "auth", token: state.token })); };
    ws.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "hello") {
        $("conn").setAttribute("data-state", "open");
        document.body.setAttribute("data-ws", "open");
      } else if (message.type === "product") {
        onProduct(message.kind, message.item);
      } else if (message.type === "error") {
        signOut(t("bad_token") + message.detail);
      }
    };
    ws.onclose = function (event) {
      $("conn").setAttribute("data-state", "closed");
      document.body.setAttribute("data-ws", "closed");
      if (event.code === 4401 || event.code === 4403) { return; }
      state.wsRetry = window.setTimeout(connect, 2000);
    };
  }

  function loadPicture() {
    return Promise.all([
      api("/api/v1/tracks/history?limit=20000"),
      api("/api/v1/predictions"),
      api("/api/v1/alerts/history"),
    ]).then(function (lists) {
      lists[1].items.forEach(function (p) { onProduct("prediction", p); });
      lists[0].items.forEach(function (p) { onProduct("track", p); });
      lists[2].items.forEach(function (p) { onProduct("alert", p); });
    });
  }

  function start() {
    api("/api/v1/whoami").then(function (me) {
      state.node = me;
      $("login").hidden = true;
      $("app").hidden = false;
      $("node-name").textContent = me.node + " · " + me.agreement + " · " + me.role;
      initNodeSelect(me.node);
      pollClock();
      initMap();
      setLang(state.lang);
      connect(); // before the REST reads, so nothing published in between is missed
      return loadGeography().then(loadPicture).then(function () {
        state.map.invalidateSize();
        document.body.setAttribute("data-ready", "1");
      });
    }).catch(function (error) {
      if (error.status === 401 || error.status === 403) {
        sessionStorage.removeItem(TOKEN_KEY);
        state.token = null;
        showLogin(t("bad_token") + error.message);
      } else {
        showLogin(String(error.message || error));
      }
    });
  }

  function main() {
    var saved = localStorage.getItem(LANG_KEY);
    var browser = (navigator.language || "en").substring(0, 2);
    state.lang = I18N[saved] ? saved : (I18N[browser] ? browser : "en");
    setLang(state.lang);
    window.setInterval(tick, 250);
    Array.prototype.forEach.call(document.querySelectorAll("#lang-switch button"), function (b) {
      b.addEventListener("click", function () { setLang(b.getAttribute("data-lang")); });
    });
    $("sign-out").addEventListener("click", function () { signOut(null); });
    $("login-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var value = $("token-input").value.trim();
      if (!value) { return; }
      sessionStorage.setItem(TOKEN_KEY, value);
      state.token = value;
      start();
    });
    var fromHash = tokenFromHash();
    if (fromHash) { sessionStorage.setItem(TOKEN_KEY, fromHash); }
    state.token = sessionStorage.getItem(TOKEN_KEY);
    var pending = sessionStorage.getItem("kizuna.loginError");
    sessionStorage.removeItem("kizuna.loginError");
    if (state.token) { start(); } else { showLogin(pending); }
  }

  main();
}());
