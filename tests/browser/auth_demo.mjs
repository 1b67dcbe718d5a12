// auth_demo.mjs - /wspush.js with subscriber tokens (docs/auth.md), on
// tests/browser/auth_page.html served by the test's own token endpoint.
//   node auth_demo.mjs BASE_URL SCREENSHOT TIMEOUT_MS
// Opens BASE_URL/?mode=token (getToken) and BASE_URL/?mode=none (no token).
// Emits {"event":"open"} once the token page's socket is open (the test then
// publishes "before-expiry"); waits for that message, for the close with
// 4001 when the first token expires and for the client's reconnect with a
// fresh token, and emits {"event":"reopened", ...} (the test then publishes
// "after-expiry"); waits for it and for two refused attempts of the page
// without a token, and emits {"event":"done", token: {...}, none: {...}, errors}.
import { main, emit, watchErrors } from "./lib.mjs";

const [base, shot, timeoutArg] = process.argv.slice(2);
const timeout = Number(timeoutArg || 30000);
const state = (page) => page.evaluate(() => {
  const t = window.authTest;
  return { opens: t.opens, openTokens: t.openTokens, closes: t.closes,
           messages: t.messages, tokenFetches: t.tokenFetches, clientState: t.client.state };
});

await main(async (browser) => {
  const ctx = await browser.newContext({ viewport: { width: 700, height: 400 } });
  const page = await ctx.newPage();
  const none = await ctx.newPage();
  const errors = watchErrors(page);
  const noneErrors = watchErrors(none);
  await page.goto(base + "/?mode=token");
  await none.goto(base + "/?mode=none");
  await page.waitForFunction(() => window.authTest && authTest.opens >= 1, null, { timeout });
  emit({ event: "open", ...(await state(page)) });
  await page.waitForFunction(() => authTest.messages.includes("before-expiry"), null, { timeout });
  await page.waitForFunction(() => authTest.closes.some((c) => c.code === 4001) &&
                             authTest.opens >= 2 && authTest.client.state === "open",
                             null, { timeout });
  emit({ event: "reopened", ...(await state(page)) });
  await page.waitForFunction(() => authTest.messages.includes("after-expiry"), null, { timeout });
  await none.waitForFunction(() => window.authTest && authTest.closes.length >= 2, null,
                          { timeout, polling: 50 }); // a background tab: no rAF
  const token = await state(page);
  const noToken = await state(none);
  await page.screenshot({ path: shot });
  // a refused upgrade is logged by Chromium as a failed WebSocket connection:
  // that is the event under test on the page without a token
  emit({ event: "done", token, none: noToken, errors,
         noneErrors: noneErrors.filter((e) => !/WebSocket connection to .* failed/.test(e)) });
});
