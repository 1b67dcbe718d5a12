// dashboard.mjs - drives the admin dashboard (GET / on the admin port).
//   node dashboard.mjs URL SCREENSHOT [WIDTH HEIGHT] [--no-uplot] [--wait-ms N]
// Waits for live samples, reads the headline numbers and the chart data,
// waits 3 s, reads them again, and emits both with a screenshot.
// --no-uplot answers /uplot.js with 404, as a binary built without
// web/node_modules does. --wait-ms waits longer before the screenshot.
import { main, emit, watchErrors } from "./lib.mjs";

const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith("--")));
const waitIdx = args.indexOf("--wait-ms");
const extraWait = waitIdx >= 0 ? Number(args[waitIdx + 1]) : 0;
const [url, shot, w, h] = args.filter((a, i) => !a.startsWith("--") && (waitIdx < 0 || i !== waitIdx + 1));

function read() {
  const ids = ["v-connections", "v-dps", "v-pps", "v-fanout", "v-mem", "v-workers", "v-slow",
               "v-ring", "s-workers", "uptime"];
  const text = Object.fromEntries(ids.map((id) => [id, document.getElementById(id).textContent]));
  const d = window.dash;
  const canvases = [...document.querySelectorAll(".plot canvas")];
  return {
    text,
    samples: d.samples,
    haveChart: d.haveChart,
    charts: Object.keys(d.charts).length,
    canvases: canvases.length,
    canvasSizes: canvases.map((c) => [c.width, c.height]),
    points: d.data.conns[0].length,
    last: d.last,
    series: Object.fromEntries(Object.entries(d.data).map(([k, v]) => [k, v.slice(1).map((s) => s.slice(-5))])),
    banner: getComputedStyle(document.getElementById("nochart")).display,
  };
}

await main(async (browser) => {
  const page = await browser.newPage({ viewport: { width: Number(w) || 1440, height: Number(h) || 1000 },
                                       deviceScaleFactor: 1 });
  const errors = watchErrors(page);
  if (flags.has("--no-uplot"))
    await page.route("**/uplot.js", (r) => r.fulfill({ status: 404, contentType: "application/json",
                                                       body: '{"error":"not built into this binary"}' }));
  await page.goto(url);
  await page.waitForFunction(() => window.dash && window.dash.samples >= 3, null, { timeout: 20000 });
  const a = await page.evaluate(read);
  await page.waitForTimeout(3000);
  const b = await page.evaluate(read);
  if (extraWait) await page.waitForTimeout(extraWait);
  await page.screenshot({ path: shot, fullPage: true });
  emit({ event: "done", a, b, errors });
});
