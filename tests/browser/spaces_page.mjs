// Reads the search-space page as a user sees it and prints what it found as one JSON object.
// Usage: node spaces_page.mjs http://127.0.0.1:PORT/
// The Rust test (tests/browser.rs) compares it with proard-shared computed natively.
import { withPage } from "./chromium.mjs";

const url = process.argv[2];
const result = await withPage(async (page) => {
  await page.goto(url);
  await page.goto(new URL("/spaces", url).href);
  await page.waitForSelector("tr.preset", { timeout: 30_000 });
  const presets = await page.$$eval("tr.preset", (rows) =>
    rows.map((row) => {
      const cell = (cls) => row.querySelector(`td.${cls}`);
      return {
        name: row.dataset.space,
        subnets: cell("subnets").dataset.value,
        subnets_text: cell("subnets").textContent,
        macs_min: Number(cell("macs").dataset.min),
        macs_max: Number(cell("macs").dataset.max),
        macs_text: cell("macs").textContent,
        params_min: Number(cell("params").dataset.min),
        params_max: Number(cell("params").dataset.max),
        encoding_dim: Number(cell("encoding").dataset.value),
      };
    }),
  );

  const editor = page.locator("#space-toml");
  const check = page.locator("#space-check p");
  const initial = await check.getAttribute("data-subnets");
  // Break the space the way a user might: an empty choice list.
  const toml = await editor.inputValue();
  await editor.fill(toml.replace(/expand_ratios = \[[^\]]*\]/, "expand_ratios = []"));
  const error = await page.locator("#space-check p.error").textContent();
  // Load another preset with its button.
  await page.getByRole("button", { name: "mbv3-cifar", exact: true }).click();
  const loaded = await page.locator("#space-check p.ok").getAttribute("data-subnets");
  return { presets, editor: { initial, error, loaded } };
});
console.log(JSON.stringify(result));
