// Drives the studio as a user would and prints what it saw as one JSON object; the Rust test
// (tests/browser.rs) checks it against the API. Usage:
//   node studio.mjs LOGIN_URL SHOTS_DIR PLAN_JSON
// PLAN_JSON: {"a": id, "b": id, "hover": {"cloud", "index", "clean", "pgd20"}}
import { withBrowser } from "./chromium.mjs";

const [login, shots, planText] = process.argv.slice(2);
const plan = JSON.parse(planText);
const origin = new URL(login).origin;
const shot = (page, name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const query = (page) => Object.fromEntries(new URL(page.url()).searchParams);

// Where a data point is drawn on a cloud's canvas, in page pixels.
async function pointOnCloud(page, id, x, y) {
  const canvas = page.locator(`#${id} canvas.cloud-base`);
  const box = await canvas.boundingBox();
  const [x0, x1, y0, y1] = (await canvas.getAttribute("data-domain")).split(",").map(Number);
  const [ml, mt, mr, mb] = (await canvas.getAttribute("data-margin")).split(",").map(Number);
  return {
    x: box.x + ml + ((x - x0) / (x1 - x0)) * (box.width - ml - mr),
    y: box.y + mt + (1 - (y - y0) / (y1 - y0)) * (box.height - mt - mb),
  };
}

const result = await withBrowser(async ({ newPage, allow }) => {
  const page = await newPage();
  const out = {};
  await page.goto(login);
  await page.waitForSelector("#experiments tbody tr", { timeout: 30_000 });
  await shot(page, "experiments");

  // A config error appears at the field the server names.
  await page.goto(`${origin}/new?preset=demo`);
  const perStep = page.locator('input[name="phases[0].subnets_per_step"]');
  await perStep.waitFor({ timeout: 30_000 });
  await perStep.fill("0");
  await perStep.press("Tab");
  allow(/status of 422/);
  await page.click("button.launch");
  const fieldError = page.locator('[data-field="phases[0].subnets_per_step"] .field-error');
  await fieldError.waitFor({ timeout: 15_000 });
  allow(null);
  out.config_error = {
    field_text: await fieldError.textContent(),
    banner: await page.locator("#form-error").textContent(),
    url: page.url(),
  };
  await shot(page, "new-experiment-error");

  // The space is edited in the form; its size is computed in the browser as it changes.
  const summary = page.locator("#space-summary");
  const sizeBefore = await summary.textContent();
  const depths = page.locator('input[name="space.stages[0].depths"]');
  await depths.fill("1");
  await depths.press("Tab");
  await page.waitForFunction((before) => document.querySelector("#space-summary").textContent !== before, sizeBefore);
  out.space_edit = { before: sizeBefore, after: await summary.textContent() };

  // Create the demo through the form and watch it progress without reloading.
  await page.goto(`${origin}/new?preset=demo`);
  await page.locator('input[name="phases[0].subnets_per_step"]').waitFor({ timeout: 30_000 });
  await page.fill('input[name="name"]', "demo from the form");
  await page.fill('input[name="tags"]', "browser, demo");
  await shot(page, "new-experiment");
  await page.click("button.launch");
  await page.waitForURL(/\/experiments\/\d+$/, { timeout: 15_000 });
  const created = Number(page.url().match(/experiments\/(\d+)/)[1]);
  const firstStage = page.locator("#stages .stage").first();
  await firstStage.waitFor({ timeout: 180_000 });
  const doneOf = async () => Number((await firstStage.locator(".stage-text").textContent()).split(" ")[0]);
  await page.waitForFunction(() => {
    const text = document.querySelector("#stages .stage .stage-text")?.textContent ?? "";
    return Number(text.split(" ")[0]) > 0;
  }, null, { timeout: 180_000 });
  const early = await doneOf();
  await page.waitForFunction((before) => {
    const text = document.querySelector("#stages .stage .stage-text")?.textContent ?? "";
    return Number(text.split(" ")[0]) > before;
  }, early, { timeout: 180_000 });
  out.live = { id: created, early, later: await doneOf(), title: await page.locator("h1").first().textContent() };
  await shot(page, "experiment-live");
  await page.click('button[data-tab="training"]');
  await page.waitForSelector("#loss-chart path[data-points]", { timeout: 30_000 });
  await shot(page, "experiment-training");

  // The cloud: as many points as records, hover shows a record's numbers, click selects it.
  await page.goto(`${origin}/experiments/${plan.a}`);
  const cloud = page.locator("#cloud canvas.cloud-base");
  await page.waitForFunction(() => Number(document.querySelector("#cloud canvas.cloud-base")?.dataset.points) > 0, null, { timeout: 30_000 });
  const points = Number(await cloud.getAttribute("data-points"));
  const at = await pointOnCloud(page, "cloud", plan.hover.clean, plan.hover.pgd20);
  await page.mouse.move(at.x, at.y);
  const tooltip = page.locator("#cloud .tooltip");
  await tooltip.waitFor({ timeout: 10_000 });
  const tip = await tooltip.textContent();
  const started = Date.now();
  await page.mouse.click(at.x, at.y);
  await page.locator("#selected").waitFor({ timeout: 10_000 });
  out.cloud = {
    points,
    tooltip: tip,
    selected: await page.locator("#selected h3").textContent(),
    student: query(page).student ?? null,
    front_points: Number(await page.locator("#front canvas.cloud-base").getAttribute("data-points")),
    diff_summary: await page.locator("#diff-summary").textContent(),
  };
  await shot(page, "experiment-students");

  // Share the view, then open the link in a fresh browser context.
  await page.click("button.share");
  const shareUrl = await page.locator("#share-url").inputValue();
  const guest = await newPage();
  await guest.goto(shareUrl);
  await guest.locator("#selected").waitFor({ timeout: 30_000 });
  await guest.waitForFunction(() => Number(document.querySelector("#cloud canvas.cloud-base")?.dataset.points) > 0, null, { timeout: 30_000 });
  const token = shareUrl.split("/share/")[1];
  allow(/status of 403/);
  const write = await guest.evaluate(async ([id, token]) => {
    const response = await fetch(`/api/experiments/${id}/cancel`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    return response.status;
  }, [plan.a, token]);
  allow(null);
  out.share = {
    url: shareUrl,
    tab: await guest.locator("button.tab.current").first().textContent(),
    selected: await guest.locator("#selected h3").textContent(),
    points: Number(await guest.locator("#cloud canvas.cloud-base").getAttribute("data-points")),
    write_controls: await guest.locator(".actions button").count(),
    read_only_note: await guest.locator(".read-only").count(),
    write_status: write,
  };
  await shot(guest, "shared-view");

  // The URL holds the view: tab and sort survive a reload; back restores the earlier view.
  await page.click('button[data-tab="table"]');
  await page.waitForSelector("#networks tbody tr");
  await page.click('#networks th:has-text("PGD-20")');
  await page.waitForFunction(() => new URL(location.href).searchParams.get("sort") === "pgd20");
  await shot(page, "experiment-table");
  await page.reload();
  await page.waitForSelector("#networks tbody tr", { timeout: 30_000 });
  const afterReload = {
    query: query(page),
    tab: await page.locator("button.tab.current").first().textContent(),
    sorted: await page.locator("#networks th.current").textContent(),
    first_row: await page.locator("#networks tbody tr").nth(1).getAttribute("data-key"),
  };
  await page.goBack();
  await page.goBack();
  await page.waitForSelector("#cloud canvas.cloud-base", { timeout: 30_000 });
  out.history = {
    after_reload: afterReload,
    after_back: { query: query(page), tab: await page.locator("button.tab.current").first().textContent() },
  };

  // Compare two experiments picked in the table.
  await page.goto(`${origin}/`);
  await page.locator(`tr[data-id="${plan.a}"] input.choose`).check();
  await page.locator(`tr[data-id="${plan.b}"] input.choose`).check();
  await page.click("button.compare");
  await page.waitForSelector("#compared tbody tr", { timeout: 30_000 });
  await page.waitForFunction(() => Number(document.querySelector("#compare-cloud canvas.cloud-base")?.dataset.points) > 0, null, { timeout: 30_000 });
  out.compare = {
    query: query(page),
    rows: await page.locator("#compared tbody tr").count(),
    points: Number(await page.locator("#compare-cloud canvas.cloud-base").getAttribute("data-points")),
    curves: await page.locator("#compare-validation path[data-series]").count(),
  };
  await shot(page, "compare");
  await page.goto(`${origin}/spaces`);
  await page.waitForSelector("tr.preset");
  await shot(page, "spaces");
  return out;
});
console.log(JSON.stringify(result));
