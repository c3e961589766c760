// Takes a student home from the browser: selects it from the URL, exports its weights, verifies
// it under FGSM and PGD-20, then fits the predictor, and prints what the page showed. Usage:
//   node verify.mjs LOGIN_URL SHOTS_DIR EXPERIMENT_ID STUDENT_INDEX
import { withPage } from "./chromium.mjs";

const [login, shots, id, index] = process.argv.slice(2);
const origin = new URL(login).origin;

const result = await withPage(async (page) => {
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto(login);
  await page.waitForSelector("#experiments tbody tr", { timeout: 30_000 });
  await page.goto(`${origin}/experiments/${id}?student=proard:${index}`);
  await page.locator("#selected button.verify").waitFor({ timeout: 30_000 });
  // Only the quick attacks.
  for (const attack of ["cw", "apgd-ce", "apgd-t", "autoattack"]) {
    await page.locator(`#selected input[data-attack="${attack}"]`).uncheck();
  }
  await page.click("#selected button.verify");
  await page.click("#selected button.export");
  const done = (n) => page.waitForFunction(
    (n) => document.querySelectorAll('#verifications tbody tr[data-status="done"]').length >= n,
    n, { timeout: 240_000 });
  await done(2);
  const rows = await page.locator("#verifications tbody tr").evaluateAll((trs) => trs.map((tr) => ({
    id: Number(tr.dataset.id),
    measures: Object.fromEntries([...tr.querySelectorAll(".measure")].map((m) => [m.dataset.attack, m.textContent])),
    warnings: tr.querySelector(".warnings").textContent,
    text: tr.querySelector(".measures").textContent,
    download: tr.querySelector("a.download")?.getAttribute("href") ?? null,
  })));
  // The download link serves the weights file.
  const bytes = await page.evaluate(async (href) => (await (await fetch(href)).arrayBuffer()).byteLength, rows[0].download);
  await page.screenshot({ path: `${shots}/experiment-verified.png`, fullPage: true });

  // The predictor fitted by a job: measured against predicted for every held-out student.
  await page.click('button[data-tab="predictor"]');
  await page.locator("#no-predictor").waitFor({ timeout: 30_000 });
  await page.click("button.fit-proard");
  await page.waitForFunction(() => Number(document.querySelector("#predicted-clean canvas.cloud-base")?.dataset.points) > 0, null, { timeout: 240_000 });
  const predictor = {
    head: await page.locator("#predictor-head").textContent(),
    clean_points: Number(await page.locator("#predicted-clean canvas.cloud-base").getAttribute("data-points")),
    robust_points: Number(await page.locator("#predicted-robust canvas.cloud-base").getAttribute("data-points")),
    rows: await page.locator("#predictors tbody tr").count(),
    query: Object.fromEntries(new URL(page.url()).searchParams),
  };
  await page.screenshot({ path: `${shots}/experiment-predictor.png`, fullPage: true });
  return { rows, bytes, predictor };
});
console.log(JSON.stringify(result));
