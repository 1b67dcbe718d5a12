// wss_demo.mjs - the demo page over https:// and wss:// (self-signed
// certificate, so Chromium runs with --ignore-certificate-errors).
//   node wss_demo.mjs URL SCREENSHOT MARKER [WANT]
// Emits {"event":"open", url, extensions, protocol} once the page's client
// socket is open (the pytest side then starts publishing), waits for WANT
// (default 3) received messages starting with MARKER and emits
// {"event":"received", n}; then reads a line on stdin: the number of such
// messages published in all, waits until the page has them all, and emits
// {"event":"done", long: [texts], count, opens, extensions, status, errors}.
import { main, emit, nextLine, watchErrors } from "./lib.mjs";

const [url, shot, marker, wantArg] = process.argv.slice(2);
const want = Number(wantArg || 3);

await main(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const errors = watchErrors(page);
  // every message as the page's WebSocket delivered it, whatever the demo
  // page keeps in its own (bounded) list
  await page.addInitScript((m) => {
    window.wssTest = { long: [], other: 0 };
    const Native = window.WebSocket;
    window.WebSocket = function (u, p) {
      const ws = p === undefined ? new Native(u) : new Native(u, p);
      ws.addEventListener("message", (ev) => {
        // the demo page resumes, so its frames are envelopes: {"data": ...}
        let d = ev.data;
        if (typeof d === "string" && d.startsWith("{")) {
          try { const o = JSON.parse(d); if (typeof o.data === "string") d = o.data; } catch (e) { /* raw */ }
        }
        if (typeof d === "string" && d.startsWith(m)) window.wssTest.long.push(d);
        else window.wssTest.other++;
      });
      return ws;
    };
    window.WebSocket.prototype = Native.prototype;
    for (const k of ["CONNECTING", "OPEN", "CLOSING", "CLOSED"]) window.WebSocket[k] = Native[k];
  }, marker);
  await page.goto(url);
  await page.waitForFunction(() => window.wspushDemo && wspushDemo.client &&
                             wspushDemo.client.socket && wspushDemo.client.socket.readyState === 1,
                             null, { timeout: 15000 });
  const sock = () => {
    const s = wspushDemo.client.socket;
    return { url: s.url, extensions: s.extensions, protocol: s.protocol };
  };
  emit({ event: "open", ...(await page.evaluate(sock)) });
  await page.waitForFunction((n) => wssTest.long.length >= n, want, { timeout: 20000 });
  emit({ event: "received", n: await page.evaluate(() => wssTest.long.length) });
  const total = Number(await nextLine());
  await page.waitForFunction((n) => wssTest.long.length >= n, total, { timeout: 10000 });
  const got = await page.evaluate(() => ({
    long: wssTest.long.slice(),
    other: wssTest.other,
    count: wspushDemo.count,
    opens: wspushDemo.opens,
    status: document.getElementById("status-text").textContent,
  }));
  await page.screenshot({ path: shot });
  emit({ event: "done", ...got, ...(await page.evaluate(sock)), errors });
}, ["--ignore-certificate-errors"]);
