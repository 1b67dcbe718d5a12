/* wspush.js - a tiny, dependency-free browser client for wspush.
 *
 * Served by wspush itself at GET /wspush.js on the public port:
 *
 *   <script src="/wspush.js"></script>
 *   <script>
 *     const client = wspush.connect({
 *       topics: ["news", "prices"],              // optional; broadcasts always arrive
 *       onmessage: (data, ev) => console.log(data),
 *       onstatus: (s) => console.log(s.state, s),
 *     });
 *     // later: client.close();
 *   </script>
 *
 * API
 *   wspush.connect([url], [options]) -> client
 *     url        ws:// or wss:// URL. Default: ws(s)://<location.host>/ (wss
 *                when the page is https). The path names a topic ("/" names
 *                none); options.topics are added as ?topic=a&topic=b.
 *     options    {
 *       topics:      array of topic names to subscribe to (default none)
 *       onmessage:   function (data, event): data is a string for text
 *                    messages, an ArrayBuffer for binary ones
 *       onopen:      function (event)
 *       onclose:     function (event): every close, also before a retry
 *       onstatus:    function ({state, attempt, delayMs, code, reason, url}):
 *                    state is "connecting", "open", "waiting" (a retry is
 *                    scheduled in delayMs) or "closed" (after close(), or
 *                    after a close code that forbids reconnecting)
 *       baseDelayMs: first retry's upper bound (default 500)
 *       maxDelayMs:  cap on any retry delay (default 30000)
 *       stableMs:    a connection open this long resets the backoff
 *                    (default 10000)
 *       WebSocket:   constructor to use (default the browser's; for tests)
 *       getToken:    function () -> token string or a Promise of one; called
 *                    before every (re)connect, its token is sent as ?token=
 *                    (docs/auth.md). After a close with 4001 (token
 *                    expired) the next attempt, jittered as any retry,
 *                    therefore fetches a fresh token. A getToken that
 *                    throws or rejects counts as a failed attempt.
 *       resume:      true: the JSON envelope mode (?format=json). Each
 *                    message's id is remembered per topic and every
 *                    reconnect asks for what was missed (?since=topic:id),
 *                    so nothing published meanwhile is lost while the
 *                    server's history reaches back (--history-size)
 *       onreset:     function ({topic, id, cause}): the server could not
 *                    replay (history too short, server restarted: see
 *                    docs/history.md); messages go on from id
 *     }
 *     With resume, onmessage gets (data, event, {topic, id}).
 *     The url may also be passed as options.url.
 *   client.close()     stop for good: closes the socket (code 1000), cancels
 *                      any retry
 *   client.state       "connecting" | "open" | "waiting" | "closed"
 *   client.url         the URL in use
 *   client.attempt     failed attempts since the last stable connection
 *   client.socket      the current WebSocket (or null)
 *   wspush.backoffDelay(attempt, baseDelayMs, maxDelayMs, random)
 *                      the retry delay: "full jitter" exponential backoff,
 *                      random() * min(maxDelayMs, baseDelayMs * 2^attempt)
 *   wspush.restartDelay(reason, random)
 *                      after close code 1012 (service restart): the delay
 *                      the server hints in its reason ("restart;
 *                      retry-after-ms=N", docs/close-codes.md) plus up to a
 *                      quarter more, random; never less than N. Without a
 *                      hint: 1000 ms plus the same jitter.
 *   wspush.defaultUrl(topics)
 *
 *   wspush.mayReconnect(code)
 *                      false for 4500-4999 (docs/auth.md: "do not
 *                      reconnect", e.g. 4503 from POST /disconnect with
 *                      "reconnect":false), true for every other code
 *
 * Reconnects: after any close that close() did not ask for, the client waits
 * backoffDelay(attempt) and reconnects, forever, unless the server closed
 * with a code in 4500-4999: then the client stops as after close() (state
 * "closed", onstatus gets the code and reason). Full jitter spreads a
 * server restart's reconnect storm over the whole window instead of making
 * every client retry in lock-step. A connection that stays open stableMs
 * resets attempt to 0, so one that opens and drops at once keeps backing off.
 * client.url never contains the token (it is added per attempt).
 * A 1012 (the server restarts, and spreads its closes over its drain window)
 * is no failure: the client waits restartDelay(reason), never less than the
 * server's hint and whatever maxDelayMs says, and attempt does not grow.
 */
(function (root) {
  "use strict";

  function backoffDelay(attempt, baseDelayMs, maxDelayMs, random) {
    var rnd = random || Math.random;
    var exp = Math.min(30, Math.max(0, attempt | 0));
    var ceiling = Math.min(maxDelayMs, baseDelayMs * Math.pow(2, exp));
    return Math.floor(rnd() * ceiling);
  }

  var RESTART_HINT_RE = /(?:^|[;\s])retry-after-ms=(\d{1,9})(?:$|[;\s])/;

  function restartDelay(reason, random) {
    var rnd = random || Math.random;
    var m = RESTART_HINT_RE.exec(reason || "");
    var hint = m ? Math.min(parseInt(m[1], 10), 3600000) : 1000;
    return hint + Math.floor(rnd() * (hint / 4));
  }

  /* the close codes table of docs/auth.md: 4500-4999 mean "stop" */
  function mayReconnect(code) {
    return !(code >= 4500 && code <= 4999);
  }

  function defaultUrl(topics) {
    var loc = root.location || { protocol: "http:", host: "localhost:8080" };
    var url = (loc.protocol === "https:" ? "wss://" : "ws://") + loc.host + "/";
    return withTopics(url, topics);
  }

  function withParam(url, k, v) {
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + k + "=" + encodeURIComponent(v);
  }

  function withTopics(url, topics) {
    if (!topics || !topics.length) return url;
    var q = topics.map(function (t) { return "topic=" + encodeURIComponent(t); }).join("&");
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + q;
  }

  function addQuery(url, q) {
    return url + (url.indexOf("?") >= 0 ? "&" : "?") + q;
  }

  /* Message ids are "<epoch>-<seq>": true unless id is of the same epoch as
   * last and not after it (a message already delivered). */
  function newer(id, last) {
    if (last == null) return true;
    var a = String(id).split("-"), b = String(last).split("-");
    return a[0] !== b[0] || Number(a[1]) > Number(b[1]);
  }

  /* ?since=<topic>:<id> for every topic an id is known for */
  function withSince(url, ids) {
    var q = Object.keys(ids).map(function (t) {
      return "since=" + encodeURIComponent(t + ":" + ids[t]);
    }).join("&");
    return q ? addQuery(url, q) : url;
  }

  function fromBase64(s) {
    var bin = root.atob ? root.atob(s) : Buffer.from(s, "base64").toString("binary");
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function connect(url, options) {
    if (url && typeof url === "object") {
      options = url;
      url = options.url;
    }
    var o = options || {};
    var WS = o.WebSocket || root.WebSocket;
    var base = o.baseDelayMs > 0 ? o.baseDelayMs : 500;
    var cap = o.maxDelayMs > 0 ? o.maxDelayMs : 30000;
    var stableMs = o.stableMs > 0 ? o.stableMs : 10000;
    var client = {
      url: url ? withTopics(url, o.topics) : defaultUrl(o.topics),
      state: "connecting",
      attempt: 0,
      socket: null,
      close: close,
      lastIds: {}, /* resume: topic -> last id delivered */
    };
    var lastIds = client.lastIds;
    var baseUrl = client.url;
    if (o.resume) baseUrl = client.url = addQuery(client.url, "format=json");
    var retryTimer = null;
    var stableTimer = null;
    var stopped = false;

    function status(extra) {
      if (!o.onstatus) return;
      var s = { state: client.state, attempt: client.attempt, url: client.url };
      for (var k in extra) s[k] = extra[k];
      try { o.onstatus(s); } catch (e) { report(e); }
    }

    function report(e) {
      if (root.console) root.console.error("wspush: callback threw", e);
    }

    function open() {
      retryTimer = null;
      client.state = "connecting";
      status({});
      if (o.resume) client.url = withSince(baseUrl, lastIds);
      if (!o.getToken) return dial(client.url);
      var pending;
      try {
        pending = o.getToken();
      } catch (e) {
        report(e);
        schedule(1006, "getToken failed");
        return;
      }
      Promise.resolve(pending).then(function (token) {
        if (stopped) return;
        dial(token ? withParam(client.url, "token", token) : client.url);
      }, function (e) {
        if (stopped) return;
        report(e);
        schedule(1006, "getToken failed");
      });
    }

    function dial(url) {
      var ws;
      try {
        ws = new WS(url);
      } catch (e) {
        /* a malformed URL throws: retrying will not help, but keep the
         * contract (the caller sees "waiting" and can close()) */
        schedule(1006, String(e && e.message || e));
        return;
      }
      ws.binaryType = "arraybuffer";
      client.socket = ws;
      ws.onopen = function (ev) {
        if (ws !== client.socket) return;
        client.state = "open";
        stableTimer = setTimeout(function () { client.attempt = 0; }, stableMs);
        status({});
        if (o.onopen) { try { o.onopen(ev); } catch (e) { report(e); } }
      };
      ws.onmessage = function (ev) {
        if (ws !== client.socket || !o.onmessage) return;
        if (!o.resume) {
          try { o.onmessage(ev.data, ev); } catch (e) { report(e); }
          return;
        }
        var m;
        try { m = JSON.parse(ev.data); } catch (e) { report(e); return; }
        if (m.topic != null && m.id != null) {
          /* after a resume on a worker that had not yet sent what another
           * one already had, ids this client has seen come again: drop them */
          if (!m.type && !newer(m.id, lastIds[m.topic])) return;
          lastIds[m.topic] = m.id;
        }
        if (m.type === "reset") {
          if (o.onreset) { try { o.onreset(m); } catch (e) { report(e); } }
          return;
        }
        if (m.type) return; /* other control messages: not for onmessage */
        var data = m.encoding === "base64" ? fromBase64(m.data) : m.data;
        try { o.onmessage(data, ev, { topic: m.topic, id: m.id }); } catch (e) { report(e); }
      };
      ws.onclose = function (ev) {
        if (ws !== client.socket) return;
        client.socket = null;
        clearTimeout(stableTimer);
        if (o.onclose) { try { o.onclose(ev); } catch (e) { report(e); } }
        if (stopped) return;
        if (!mayReconnect(ev.code)) {
          stopped = true;
          client.state = "closed";
          status({ code: ev.code, reason: ev.reason });
          return;
        }
        schedule(ev.code, ev.reason);
      };
      /* onerror is always followed by onclose: nothing to do here */
      ws.onerror = function () {};
    }

    function schedule(code, reason) {
      var delay;
      if (code === 1012) {
        delay = restartDelay(reason);
      } else {
        delay = backoffDelay(client.attempt, base, cap);
        client.attempt++;
      }
      client.state = "waiting";
      status({ delayMs: delay, code: code, reason: reason });
      retryTimer = setTimeout(open, delay);
    }

    function close() {
      if (stopped) return;
      stopped = true;
      clearTimeout(retryTimer);
      clearTimeout(stableTimer);
      var ws = client.socket;
      client.state = "closed";
      if (ws) {
        try { ws.close(1000, "client closed"); } catch (e) { /* already closing */ }
      }
      status({});
    }

    open();
    return client;
  }

  var api = { connect: connect, backoffDelay: backoffDelay, restartDelay: restartDelay,
              defaultUrl: defaultUrl, withSince: withSince, mayReconnect: mayReconnect };
  if (typeof module === "object" && module.exports) module.exports = api;
  root.wspush = api;
})(typeof self !== "undefined" ? self : this);
