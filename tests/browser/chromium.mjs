// Starts the machine's headless Chromium the way this sandboxed, offline machine needs it.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function withPage(run) {
  const profile = mkdtempSync(join(tmpdir(), "proard-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const problems = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (msg) => { if (msg.type() === "error") problems.push(`console: ${msg.text()}`); });
    page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
    const result = await run(page);
    return { ...result, problems };
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
