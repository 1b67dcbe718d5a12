// demo_resume.mjs - the demo page (/demo?topic=T: a WebSocket through
// /wspush.js with resume; /demo?transport=sse&topic=T: EventSource) across a
// connection the server drops, with history on.
//   node demo_resume.mjs URL SCREENSHOT FIRST TOTAL
// Emits {"event":"open"} once the stream is open, {"event":"received",...}
// once FIRST messages arrived (the pytest side then drops the stream while
// it publishes), {"event":"reopened",...} once the page's own reconnect
// opened, and {"event":"done",...} once TOTAL messages arrived. Every
// EventSource request and WebSocket URL is recorded (the reconnect's
// since=T:<id>).
import { main, emit, watchErrors } from "./lib.mjs";

const [url, shot, firstArg, totalArg] = process.argv.slice(2);
const first = Number(firstArg), total = Number(totalArg);

const shown = () => ({
  count: wspushDemo.count,
  opens: wspushDemo.opens,
  received: wspushDemo.received.map((r) => r.text),
  // the table shows the newest first
  rows: [...document.querySelectorAll("#log td.msg")].map((td) => td.textContent).reverse(),
  lastIds: { ...wspushDemo.client.lastIds },
  status: document.getElementById("status-text").textContent,
  reconnects: document.getElementById("reconnects").textContent,
});

await main(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const errors = watchErrors(page);
  const streams = [];
  page.on("request", (r) => {
    if (r.resourceType() === "eventsource" ||
        r.headers()["accept"] === "text/event-stream") streams.push(r.url());
  });
  page.on("websocket", (ws) => streams.push(ws.url()));
  await page.goto(url);
  await page.waitForFunction(() => window.wspushDemo && wspushDemo.opens >= 1,
                             null, { timeout: 15000 });
  emit({ event: "open" });
  await page.waitForFunction((n) => wspushDemo.count >= n, first, { timeout: 15000 });
  emit({ event: "received", ...(await page.evaluate(shown)) });
  // the server drops the stream; the page backs off (250 ms base, doubling)
  await page.waitForFunction(() => wspushDemo.opens >= 2, null, { timeout: 30000 });
  emit({ event: "reopened", streams: [...streams] });
  await page.waitForFunction((n) => wspushDemo.count >= n, total, { timeout: 30000 });
  const done = await page.evaluate(shown);
  await page.screenshot({ path: shot });
  // a refused reconnect attempt (no worker yet) is logged as a failed load:
  // that is the event under test, not a page bug
  emit({ event: "done", ...done, streams: [...streams],
         errors: errors.filter((e) => !/Failed to load resource: net::ERR_/.test(e)) });
});
