// Ad-hoc: screenshots of studio pages for a person to look at.
// Usage: node look.mjs LOGIN_URL OUT_DIR path1 path2 …
import { withPage } from "./chromium.mjs";

const [login, out, ...paths] = process.argv.slice(2);
const origin = new URL(login).origin;
const result = await withPage(async (page) => {
  await page.setViewportSize({ width: 1400, height: 1000 });
  await page.goto(login);
  const shots = [];
  for (const [i, path] of paths.entries()) {
    await page.goto(origin + path);
    await page.waitForTimeout(2500);
    const file = `${out}/${i}-${path.replace(/[^a-z0-9]+/gi, "_")}.png`;
    await page.screenshot({ path: file, fullPage: true });
    shots.push(file);
  }
  return { shots };
});
console.log(JSON.stringify(result));
