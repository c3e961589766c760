// The Pareto search view: a search on the CPU path from a URL, a slider move (warm-started),
// then the same search on WebGPU (SwiftShader), and what the page showed each time. Usage:
//   node search.mjs LOGIN_URL SHOTS_DIR EXPERIMENT_ID QUERY SECOND_BUDGET
// QUERY holds pop, gens, seed and budget (`pop=30&gens=20&seed=3&budget=5.0`).
import { withPage, WEBGPU } from "./chromium.mjs";

const [login, shots, id, query, secondBudget] = process.argv.slice(2);
const origin = new URL(login).origin;

// Waits for the search of request > `after` to finish and reads what the view shows.
async function finished(page, after) {
  try {
    await page.waitForFunction((after) => {
      const s = document.querySelector("#search-status");
      return s && Number(s.dataset.request) > after && ["done", "failed"].includes(s.dataset.state);
    }, after, { timeout: 180_000 });
  } catch (err) {
    await page.screenshot({ path: `${shots}/experiment-search-stuck.png`, fullPage: true });
    const status = await page.evaluate(() => document.querySelector("#search-status")?.outerHTML ?? "no status");
    throw new Error(`the search did not finish (${page.url()}): ${status}`);
  }
  return page.evaluate(() => {
    const s = document.querySelector("#search-status");
    return {
      state: s.dataset.state,
      request: Number(s.dataset.request),
      backend: s.dataset.backend,
      ms: Number(s.dataset.ms),
      status: s.textContent,
      front: JSON.parse(document.querySelector("#search-front").dataset.front || "[]"),
      final: document.querySelector("#search-front").dataset.final,
      hypervolume_points: document.querySelectorAll("#search-hypervolume path").length,
      note: document.querySelector("#search-about")?.textContent ?? "",
      query: Object.fromEntries(new URL(location.href).searchParams),
    };
  });
}

async function search(page, url) {
  await page.setViewportSize({ width: 1400, height: 1100 });
  await page.goto(login);
  await page.waitForSelector("#experiments tbody tr", { timeout: 30_000 });
  await page.goto(url);
  return finished(page, 0);
}

const cpu = await withPage(async (page) => {
  const first = await search(page, `${origin}/experiments/${id}?tab=search&backend=cpu&${query}`);
  await page.screenshot({ path: `${shots}/experiment-search.png`, fullPage: true });
  // Release the slider at another budget: a warm-started search.
  await page.evaluate((value) => {
    const slider = document.querySelector("#budget");
    slider.value = value;
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    slider.dispatchEvent(new Event("change", { bubbles: true }));
  }, secondBudget);
  const moved = await finished(page, first.request);
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
  return { first, moved, member };
});

const webgpu = await withPage(async (page) => {
  return { run: await search(page, `${origin}/experiments/${id}?tab=search&${query}`) };
}, WEBGPU);

console.log(JSON.stringify({ cpu, webgpu, problems: [...cpu.problems, ...webgpu.problems] }));
