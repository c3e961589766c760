// Measures the studio's page load and a large cloud (numbers to report, not checked here):
// first contentful paint of the studio, the experiment view's time until its cloud is drawn,
// and per interaction the time until the page has handled it (wheel zoom redraws the cloud,
// mouse moves hit-test and redraw the hover ring). Usage:
//   node cloud_bench.mjs LOGIN_URL EXPERIMENT_ID POINTS
import { withBrowser } from "./chromium.mjs";

const [login, id, expected] = process.argv.slice(2);
const origin = new URL(login).origin;
const result = await withBrowser(async ({ newPage }) => {
  const page = await newPage();
  await page.goto(login);
  await page.waitForSelector("#experiments tbody tr", { timeout: 30_000 });
  const paint = await page.evaluate(() => {
    const fcp = performance.getEntriesByName("first-contentful-paint")[0];
    const nav = performance.getEntriesByType("navigation")[0];
    return { first_contentful_paint_ms: fcp?.startTime ?? null, load_ms: nav?.loadEventEnd ?? null };
  });
  const started = Date.now();
  await page.goto(`${origin}/experiments/${id}`);
  await page.waitForFunction((n) => document.querySelector("#cloud canvas.cloud-base")?.dataset.points === n, expected, { timeout: 60_000 });
  const cloudReadyMs = Date.now() - started;
  const timings = await page.evaluate(async () => {
    const overlay = document.querySelector("#cloud canvas.cloud-overlay");
    const box = overlay.getBoundingClientRect();
    const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
    const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const zoom = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      overlay.dispatchEvent(new WheelEvent("wheel", {
        deltaY: i % 2 ? 120 : -120, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2,
        bubbles: true, cancelable: true,
      }));
      await settle();
      zoom.push(performance.now() - t0);
    }
    const hover = [];
    for (let i = 0; i < 60; i++) {
      const t0 = performance.now();
      overlay.dispatchEvent(new MouseEvent("mousemove", {
        clientX: box.x + 60 + ((i * 37) % (box.width - 80)), clientY: box.y + 20 + ((i * 53) % (box.height - 60)),
        bubbles: true,
      }));
      await settle();
      hover.push(performance.now() - t0);
    }
    return { zoom_redraw_ms_median: median(zoom), zoom_redraw_ms_max: Math.max(...zoom), hover_ms_median: median(hover), hover_ms_max: Math.max(...hover) };
  });
  return { ...paint, cloud_ready_ms: cloudReadyMs, ...timings };
});
console.log(JSON.stringify(result));
