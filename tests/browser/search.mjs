// The Pareto search view: a search on the CPU path from a URL, a slider move (warm-started), a
// cold search with another seed once the worker's predictor helpers are ready, the same search
// from a share link in a fresh browser, then on WebGPU (SwiftShader), and what the page showed
// each time. Usage:
//   node search.mjs LOGIN_URL SHOTS_DIR EXPERIMENT_ID QUERY SECOND_BUDGET SHARE_URL RESEED
// QUERY holds pop, gens, seed, budget and macs (`pop=30&gens=20&seed=3&budget=5.0&macs=1`); the
// share link was saved with the CPU path's view.
import { withPage, WEBGPU } from "./chromium.mjs";
import { finished, helpersReady, open, release, reseed } from "./search_page.mjs";

const [login, shots, id, query, secondBudget, shareUrl, seedAgain] = process.argv.slice(2);
const origin = new URL(login).origin;

const cpu = await withPage(async (page) => {
  const first = await open(page, login, `${origin}/experiments/${id}?tab=search&backend=cpu&${query}`, shots);
  await page.screenshot({ path: `${shots}/experiment-search.png`, fullPage: true });
  const moved = await release(page, secondBudget, first.request, shots);
  // Pick the most robust member: its panel, and the URL names it.
  const best = moved.front.reduce((a, b) => (b.pred_rob > a.pred_rob ? b : a));
  await page.click(`#search-front tbody tr[data-index] >> nth=${moved.front.indexOf(best)}`);
  await page.locator("#search-member").waitFor({ timeout: 10_000 });
  const member = {
    text: await page.locator("#search-member").textContent(),
    nearest: await page.locator("#search-member table.nearest tbody tr").count(),
    query: Object.fromEntries(new URL(page.url()).searchParams),
    arch: best.arch,
  };
  await page.screenshot({ path: `${shots}/experiment-search-member.png`, fullPage: true });
  // One predictor helper per further core loads while the searches above run; a cold search
  // (another seed) then shares its batches with them.
  const helpers = await helpersReady(page);
  const reseeded = await reseed(page, seedAgain, moved.request, shots);
  return { first, moved, member, reseeded, helpers };
});

// Nobody logged in: the link's token reads the experiment and downloads the predictor.
const shared = await withPage(async (page) => {
  await page.setViewportSize({ width: 1400, height: 1100 });
  await page.goto(shareUrl);
  const run = await finished(page, 0, shots);
  await page.screenshot({ path: `${shots}/share-search.png`, fullPage: true });
  return {
    run,
    member_panels: await page.locator("#search-member").count(),
    verify_buttons: await page.locator("button.verify-member").count(),
  };
});

const webgpu = await withPage(async (page) => {
  return { run: await open(page, login, `${origin}/experiments/${id}?tab=search&${query}`, shots) };
}, WEBGPU);

console.log(JSON.stringify({ cpu, shared, webgpu, problems: [...cpu.problems, ...shared.problems, ...webgpu.problems] }));
