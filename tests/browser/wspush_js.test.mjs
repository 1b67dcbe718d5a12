// wspush_js.test.mjs - web/wspush.js without a browser: URL building, the
// backoff bounds, and the reconnect/close state machine over a fake
// WebSocket with fake timers. Run: node --test tests/browser/wspush_js.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const wspush = require(path.resolve(here, "..", "..", "web", "wspush.js"));

test("backoff is full jitter under an exponential ceiling, capped", () => {
  assert.equal(wspush.backoffDelay(0, 500, 30000, () => 0.999999), 499);
  assert.equal(wspush.backoffDelay(3, 500, 30000, () => 0.5), 2000);
  assert.equal(wspush.backoffDelay(3, 500, 30000, () => 0), 0);
  for (const a of [10, 20, 60, 1e9]) {
    assert.ok(wspush.backoffDelay(a, 500, 30000, () => 0.999999) < 30000);
    assert.ok(wspush.backoffDelay(a, 500, 30000, () => 0.999999) >= 29999);
  }
  for (let i = 0; i < 1000; i++) {
    const d = wspush.backoffDelay(i % 12, 500, 30000);
    assert.ok(d >= 0 && d < Math.min(30000, 500 * 2 ** (i % 12)));
  }
});

test("URLs: default, topics, explicit", () => {
  assert.equal(wspush.defaultUrl(), "ws://localhost:8080/");
  assert.equal(wspush.defaultUrl(["a b", "x"]), "ws://localhost:8080/?topic=a%20b&topic=x");
});

// A fake WebSocket and timers, driven by hand.
function harness() {
  const sockets = [];
  const timers = [];
  class FakeWS {
    constructor(url) { this.url = url; this.closed = null; sockets.push(this); }
    close(code, reason) { this.closed = [code, reason]; }
    open() { this.onopen({}); }
    msg(data) { this.onmessage({ data }); }
    drop(code = 1006, reason = "") { this.onclose({ code, reason }); }
  }
  const realSet = globalThis.setTimeout, realClear = globalThis.clearTimeout;
  globalThis.setTimeout = (fn, ms) => { const t = { fn, ms, live: true }; timers.push(t); return t; };
  globalThis.clearTimeout = (t) => { if (t) t.live = false; };
  const restore = () => { globalThis.setTimeout = realSet; globalThis.clearTimeout = realClear; };
  const fire = (pred) => {
    const t = timers.find((x) => x.live && pred(x));
    assert.ok(t, "expected a pending timer");
    t.live = false;
    t.fn();
    return t;
  };
  return { FakeWS, sockets, timers, fire, restore };
}

test("reconnects with growing delays, resets after a stable connection, close() stops", () => {
  const h = harness();
  try {
    const got = [], states = [];
    const c = wspush.connect("ws://h:1/news", {
      topics: ["t"], WebSocket: h.FakeWS, baseDelayMs: 100, maxDelayMs: 1000, stableMs: 5000,
      onmessage: (d) => got.push(d), onstatus: (s) => states.push(s.state),
    });
    assert.equal(c.url, "ws://h:1/news?topic=t");
    assert.equal(h.sockets.length, 1);
    h.sockets[0].open();
    h.sockets[0].msg("hello");
    assert.deepEqual(got, ["hello"]);
    assert.equal(c.state, "open");

    // drops before the connection is stable: attempt grows, delays stay capped
    h.sockets[0].drop();
    assert.equal(c.state, "waiting");
    assert.equal(c.attempt, 1);
    let last;
    for (let i = 1; i <= 6; i++) {
      last = h.fire((t) => t.ms < 1000);           // the retry timer
      assert.equal(h.sockets.length, 1 + i);
      h.sockets[i].drop();
    }
    assert.equal(c.attempt, 7);
    assert.ok(h.timers.filter((t) => t.live).every((t) => t.ms < 1000));

    // a connection that stays open stableMs resets the backoff
    h.fire(() => true);
    const s = h.sockets[h.sockets.length - 1];
    s.open();
    h.fire((t) => t.ms === 5000);
    assert.equal(c.attempt, 0);

    // messages from a replaced socket are ignored; close() is final
    c.close();
    assert.deepEqual(s.closed, [1000, "client closed"]);
    s.drop(1000);
    assert.equal(c.state, "closed");
    assert.equal(h.timers.filter((t) => t.live).length, 0, "no retry after close()");
    assert.equal(states[states.length - 1], "closed");
  } finally {
    h.restore();
  }
});

test("a throwing callback does not break the client", () => {
  const h = harness();
  const origErr = console.error;
  console.error = () => {};
  try {
    let n = 0;
    const c = wspush.connect({ url: "ws://h:1/", WebSocket: h.FakeWS,
                               onmessage: () => { n++; throw new Error("app bug"); } });
    h.sockets[0].open();
    h.sockets[0].msg("a");
    h.sockets[0].msg("b");
    assert.equal(n, 2);
    assert.equal(c.state, "open");
    c.close();
  } finally {
    console.error = origErr;
    h.restore();
  }
});

test("getToken: a fresh token per attempt, sent as ?token=, again after 4001", async () => {
  const h = harness();
  try {
    let n = 0;
    const c = wspush.connect("ws://h/news", {
      WebSocket: h.FakeWS, getToken: () => Promise.resolve("t" + ++n),
    });
    await Promise.resolve(); await Promise.resolve();
    assert.equal(h.sockets.length, 1);
    assert.equal(h.sockets[0].url, "ws://h/news?token=t1");
    assert.equal(c.url, "ws://h/news"); // the token is never in client.url
    h.sockets[0].open();
    h.sockets[0].drop(4001); // token expired
    assert.equal(c.state, "waiting");
    h.fire(() => true);
    await Promise.resolve(); await Promise.resolve();
    assert.equal(h.sockets[1].url, "ws://h/news?token=t2");
    c.close();
  } finally {
    h.restore();
  }
});

test("getToken that throws or rejects is a failed attempt, retried", async () => {
  const h = harness();
  try {
    let calls = 0;
    const c = wspush.connect("ws://h/?topic=a", {
      WebSocket: h.FakeWS,
      getToken: () => { calls++; if (calls === 1) throw new Error("x"); if (calls === 2) return Promise.reject(new Error("y")); return "ok"; },
    });
    const origErr = console.error; console.error = () => {};
    try {
      assert.equal(c.state, "waiting");
      h.fire(() => true);
      await Promise.resolve(); await Promise.resolve();
      assert.equal(c.state, "waiting");
      h.fire(() => true);
      await Promise.resolve(); await Promise.resolve();
      assert.equal(h.sockets.length, 1);
      assert.equal(h.sockets[0].url, "ws://h/?topic=a&token=ok");
    } finally { console.error = origErr; }
    c.close();
  } finally {
    h.restore();
  }
});

test("restartDelay: the hint plus up to a quarter, never less", () => {
  const r = "restart; retry-after-ms=2000";
  assert.equal(wspush.restartDelay(r, () => 0), 2000);
  assert.equal(wspush.restartDelay(r, () => 0.999999), 2499);
  for (let i = 0; i < 1000; i++) {
    const d = wspush.restartDelay(r);
    assert.ok(d >= 2000 && d < 2500, String(d));
  }
  assert.equal(wspush.restartDelay("retry-after-ms=1500", () => 0), 1500);
  assert.equal(wspush.restartDelay("", () => 0), 1000);             // no hint
  assert.equal(wspush.restartDelay("restart; retry-after-ms=x", () => 0), 1000);
  assert.equal(wspush.restartDelay("xretry-after-ms=50", () => 0), 1000);
  assert.equal(wspush.restartDelay("retry-after-ms=99999999999", () => 0), 1000); // > 9 digits
  assert.equal(wspush.restartDelay("retry-after-ms=999999999", () => 0), 3600000); // capped at 1 h
});

test("1012 waits for the hinted delay, ignoring maxDelayMs, without growing attempt", () => {
  const h = harness();
  try {
    const states = [];
    const c = wspush.connect("ws://h:1/", {
      WebSocket: h.FakeWS, baseDelayMs: 100, maxDelayMs: 500, onstatus: (s) => states.push(s),
    });
    h.sockets[0].open();
    h.sockets[0].drop(1012, "restart; retry-after-ms=1800");
    assert.equal(c.state, "waiting");
    assert.equal(c.attempt, 0);
    const w = states[states.length - 1];
    assert.equal(w.code, 1012);
    assert.ok(w.delayMs >= 1800 && w.delayMs < 2250, String(w.delayMs));
    const live = h.timers.filter((t) => t.live);
    assert.equal(live.length, 1);
    assert.equal(live[0].ms, w.delayMs);                       // the only way back
    assert.equal(h.sockets.length, 1, "no reconnect before the timer");
    h.fire(() => true);
    assert.equal(h.sockets.length, 2);
    // the new server not up yet: ordinary backoff from there
    h.sockets[1].drop(1006);
    assert.equal(c.attempt, 1);
    c.close();
  } finally {
    h.restore();
  }
});

test("resume: envelope mode remembers the last id per topic and reconnects with since", () => {
  const h = harness();
  try {
    const got = [], resets = [];
    const c = wspush.connect("ws://h:1/news", {
      topics: ["b:x"], WebSocket: h.FakeWS, resume: true, baseDelayMs: 100,
      onmessage: (d, ev, meta) => got.push([d, meta.topic, meta.id]),
      onreset: (m) => resets.push(m),
    });
    assert.equal(h.sockets[0].url, "ws://h:1/news?topic=b%3Ax&format=json");
    const s = h.sockets[0];
    s.open();
    s.msg(JSON.stringify({ topic: "news", id: "7-1", data: "one" }));
    s.msg(JSON.stringify({ topic: "b:x", id: "7-4", data: "AQI=", encoding: "base64" }));
    s.msg(JSON.stringify({ topic: "news", id: "7-2", data: "two" }));
    s.msg(JSON.stringify({ topic: null, id: null, data: "all" }));
    // an id already seen (a resume on a worker that lags another) is dropped
    s.msg(JSON.stringify({ topic: "news", id: "7-2", data: "two again" }));
    s.msg(JSON.stringify({ topic: "news", id: "7-1", data: "one again" }));
    assert.deepEqual(got.map((g) => g[0] instanceof ArrayBuffer ? [...new Uint8Array(g[0])] : g[0]),
                     ["one", [1, 2], "two", "all"]);
    s.drop();
    h.fire(() => true);
    assert.equal(h.sockets[1].url,
                 "ws://h:1/news?topic=b%3Ax&format=json&since=news%3A7-2&since=b%3Ax%3A7-4");
    // a reset moves the remembered id to the server's current one
    h.sockets[1].open();
    h.sockets[1].msg(JSON.stringify({ type: "reset", topic: "news", id: "9-5", cause: "epoch" }));
    assert.deepEqual(resets, [{ type: "reset", topic: "news", id: "9-5", cause: "epoch" }]);
    assert.equal(got.length, 4);
    h.sockets[1].drop();
    h.fire(() => true);
    assert.ok(h.sockets[2].url.includes("since=news%3A9-5"));
    c.close();
    c.close();
  } finally {
    h.restore();
  }
});

test("close codes 4500-4999 (4503: disconnected, reconnect:false) stop the client", () => {
  for (const [code, may] of [[4503, false], [4500, false], [4999, false], [4403, true],
                             [4000, true], [4001, true], [4499, true], [1000, true],
                             [1012, true], [5000, true]])
    assert.equal(wspush.mayReconnect(code), may, String(code));
  const h = harness();
  try {
    const states = [], closes = [];
    const c = wspush.connect("ws://h:1/@alice", {
      WebSocket: h.FakeWS, onstatus: (s) => states.push(s),
      onclose: (ev) => closes.push(ev.code),
    });
    h.sockets[0].open();
    h.sockets[0].drop(4000); // reconnect allowed: a retry is scheduled
    assert.equal(c.state, "waiting");
    h.fire(() => true);
    assert.equal(h.sockets.length, 2);
    h.sockets[1].open();
    h.sockets[1].drop(4503, "account closed");
    assert.equal(c.state, "closed");
    assert.deepEqual(closes, [4000, 4503]);
    const last = states[states.length - 1];
    assert.equal(last.state, "closed");
    assert.equal(last.code, 4503);
    assert.equal(h.timers.filter((t) => t.live).length, 0, "no retry after 4503");
    c.close(); // harmless after the server stopped it
    assert.equal(h.sockets.length, 2);
  } finally {
    h.restore();
  }
});
