// demo.mjs - drives the demo page (GET /demo on the public port).
//   node demo.mjs URL SCREENSHOT [--reconnect]
// Waits for 3 timestamps and emits {"event":"received",...}. With
// --reconnect it then emits {"event":"ready"}, waits for a line on stdin
// (the server has been restarted on the same port) and waits for the page's
// client to reconnect and receive 3 new timestamps.
import { main, emit, nextLine, watchErrors } from "./lib.mjs";

const [url, shot, flag] = process.argv.slice(2);
const reconnect = flag === "--reconnect";

await main(async (browser) => {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  const errors = watchErrors(page);
  await page.goto(url);
  await page.waitForFunction(() => window.wspushDemo && window.wspushDemo.count >= 3,
                             null, { timeout: 15000 });
  const first = await page.evaluate(() => ({
    count: wspushDemo.count,
    received: wspushDemo.received.map((r) => r.text),
    ages: wspushDemo.received.map((r) => r.age),
    status: document.getElementById("status-text").textContent,
    rows: document.querySelectorAll("#log tr").length,
  }));
  emit({ event: "received", ...first });
  if (!reconnect) {
    await page.screenshot({ path: shot });
    emit({ event: "done", errors });
    return;
  }
  emit({ event: "ready" });
  await nextLine();
  const before = await page.evaluate(() => wspushDemo.count);
  // the client backs off (250 ms base, full jitter); allow a few retries
  await page.waitForFunction((n) => wspushDemo.opens >= 2 && wspushDemo.count >= n + 3,
                             before, { timeout: 30000 });
  const after = await page.evaluate(() => ({
    count: wspushDemo.count,
    opens: wspushDemo.opens,
    attempt: wspushDemo.client.attempt,
    received: wspushDemo.received.map((r) => r.text),
    status: document.getElementById("status-text").textContent,
    reconnects: document.getElementById("reconnects").textContent,
  }));
  await page.screenshot({ path: shot });
  // the old server's connection drop logs a WebSocket error in the console
  // (in SSE mode: a refused EventSource reconnect as a failed load): that is
  // the event under test, not a page bug
  const expected = /WebSocket connection to .* failed|Failed to load resource: net::ERR_/;
  emit({ event: "done", before, ...after, errors: errors.filter((e) => !expected.test(e)) });
});
