// lib.mjs - shared helpers for the browser tests: launches Debian's
// Chromium through playwright-core (installed by npm in web/), prints
// results as one JSON line on stdout for the pytest side to read.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "..", "..");
const require = createRequire(path.join(repo, "web", "package.json"));
const { chromium } = require("playwright-core");

export const CHROMIUM = process.env.WSPUSH_CHROMIUM || "/usr/bin/chromium";

// extraArgs: more Chromium flags (e.g. --ignore-certificate-errors for wss://
// with a self-signed certificate).
export async function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           "--disable-dev-shm-usage", ...extraArgs],
  });
}

// One JSON object per line: {"event": ..., ...}
export function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// Resolves with the next line typed on stdin (the pytest side's go-ahead).
export function nextLine() {
  return new Promise((resolve) => {
    let buf = "";
    const onData = (d) => {
      buf += d;
      const i = buf.indexOf("\n");
      if (i >= 0) {
        process.stdin.off("data", onData);
        process.stdin.pause();
        resolve(buf.slice(0, i));
      }
    };
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", onData);
    process.stdin.resume();
  });
}

// Collects page errors and console errors, so a test can assert there were none.
export function watchErrors(page) {
  const errors = [];
  page.on("pageerror", (e) => errors.push("pageerror: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push("console: " + m.text()); });
  return errors;
}

export async function main(fn, extraArgs = []) {
  let browser;
  try {
    browser = await launch(extraArgs);
    await fn(browser);
  } catch (e) {
    emit({ event: "error", message: String(e && e.stack || e) });
    process.exitCode = 1;
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  // stdin may still hold the loop open; stdout to a pipe is synchronous
  process.exit(process.exitCode || 0);
}
