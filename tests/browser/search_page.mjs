// Driving the experiment's Search tab: open it at a URL, move the budget slider, and read what
// the view shows once a search is over.

// Waits for the search of a request numbered above `after` to end and reads the view.
export async function finished(page, after, shots) {
  try {
    await page.waitForFunction((after) => {
      const s = document.querySelector("#search-status");
      return s && Number(s.dataset.request) > after && ["done", "failed"].includes(s.dataset.state);
    }, after, { timeout: 300_000 });
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
      search_ms: Number(s.dataset.searchMs),
      ready_ms: Number(s.dataset.readyMs),
      predict_ms: Number(s.dataset.predictMs),
      bookkeeping_ms: Number(s.dataset.bookkeepingMs),
      helpers: Number(s.dataset.helpers),
      status: s.textContent,
      front: JSON.parse(document.querySelector("#search-front").dataset.front || "[]"),
      final: document.querySelector("#search-front").dataset.final,
      hypervolume_points: document.querySelectorAll("#search-hypervolume path").length,
      note: document.querySelector("#search-about")?.textContent ?? "",
      query: Object.fromEntries(new URL(location.href).searchParams),
    };
  });
}

// Logs in, opens `url` (a search view) and waits for its first search.
export async function open(page, login, url, shots) {
  await page.setViewportSize({ width: 1400, height: 1100 });
  await page.goto(login);
  await page.waitForSelector("#experiments tbody tr", { timeout: 30_000 });
  await page.goto(url);
  return finished(page, 0, shots);
}

// Releases the budget slider at `value` (MMACs) and waits for the search it starts.
export async function release(page, value, after, shots) {
  await page.evaluate((value) => {
    const slider = document.querySelector("#budget");
    slider.value = value;
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    slider.dispatchEvent(new Event("change", { bubbles: true }));
  }, value);
  return finished(page, after, shots);
}

// Waits until the search worker's predictor helpers (one per further core, at most 3) have loaded
// the predictor; returns how many that is.
export async function helpersReady(page) {
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const helpers = Math.min(Math.max(cores - 1, 0), 3);
  await page.waitForFunction(
    (n) => Number(document.querySelector("#search-status").dataset.helpersReady) >= n,
    helpers,
    { timeout: 120_000 },
  );
  return helpers;
}

// Searches again from scratch with another seed (no warm start) and waits for it.
export async function reseed(page, seed, after, shots) {
  await page.fill("input.search-seed", String(seed));
  await page.dispatchEvent("input.search-seed", "change");
  return finished(page, after, shots);
}
