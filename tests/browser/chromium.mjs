// Starts the machine's headless Chromium the way this sandboxed, offline machine needs it.
import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const LAUNCH = {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
};

// WebGPU on SwiftShader (Vulkan on the CPU), for pages from http://127.0.0.1.
export const WEBGPU = ["--enable-unsafe-webgpu"];

export async function withPage(run, extraArgs = []) {
  const profile = mkdtempSync(join(tmpdir(), "proard-chromium-"));
  const context = await chromium.launchPersistentContext(profile, { ...LAUNCH, args: [...LAUNCH.args, ...extraArgs] });
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

// A browser for tests that need several contexts (a share link opened in a fresh one). Every
// page's console errors and page errors land in `problems`, except network errors the test
// says it expects at that moment (`allow(/status of 403/)`).
export async function withBrowser(run) {
  const browser = await chromium.launch(LAUNCH);
  const problems = [];
  let allowed = null;
  const watch = (page) => {
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      if (allowed && allowed.test(msg.text())) return;
      problems.push(`console (${page.url()}): ${msg.text()}`);
    });
    page.on("pageerror", (err) => problems.push(`page error (${page.url()}): ${err.message}`));
    return page;
  };
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    return watch(await context.newPage());
  };
  const allow = (pattern) => { allowed = pattern; };
  try {
    const result = await run({ newPage, allow });
    return { ...result, problems };
  } finally {
    await browser.close();
  }
}
