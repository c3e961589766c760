// Times the Pareto search in Chromium on both paths: the first search of a fresh page (the worker
// started, its wasm compiled, the predictor downloaded), the same search from scratch with another
// seed once the predictor helpers are ready (a warm page, nothing cached), and three slider
// releases after it (warm-started, cached scores). Usage:
//   node search_bench.mjs LOGIN_URL SHOTS_DIR EXPERIMENT_ID QUERY SEED BUDGET...
import { withPage, WEBGPU } from "./chromium.mjs";
import { helpersReady, open, release, reseed } from "./search_page.mjs";
import { createWriteStream } from "node:fs";

const [login, shots, id, query, seedAgain, ...budgets] = process.argv.slice(2);
const origin = new URL(login).origin;
const brief = (r) => ({
  state: r.state, backend: r.backend, page_ms: r.ms, search_ms: r.search_ms, ready_ms: r.ready_ms,
  predict_ms: r.predict_ms, bookkeeping_ms: r.bookkeeping_ms, helpers: r.helpers,
  front: r.front.length, status: r.status,
});

// SEARCH_BENCH_TRACE=1 records a Chrome trace of each path (every thread, with V8's CPU profiler)
// to SHOTS_DIR/search-bench-PATH.trace.json, for chrome://tracing or Perfetto.
const CATEGORIES = [
  "toplevel", "v8", "v8.execute", "devtools.timeline", "disabled-by-default-devtools.timeline",
  "disabled-by-default-v8.cpu_profiler",
];

async function traced(page, path, run) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Tracing.start", { transferMode: "ReturnAsStream", traceConfig: { includedCategories: CATEGORIES } });
  const result = await run();
  const complete = new Promise((resolve) => cdp.once("Tracing.tracingComplete", resolve));
  await cdp.send("Tracing.end");
  const { stream } = await complete;
  const out = createWriteStream(path);
  for (;;) {
    const chunk = await cdp.send("IO.read", { handle: stream, size: 1 << 20 });
    out.write(chunk.base64Encoded ? Buffer.from(chunk.data, "base64") : chunk.data);
    if (chunk.eof) break;
  }
  await cdp.send("IO.close", { handle: stream });
  await new Promise((resolve) => out.end(resolve));
  return result;
}

async function bench(backend, args) {
  return withPage(async (page) => {
    if (process.env.SEARCH_BENCH_TRACE) {
      return traced(page, `${shots}/search-bench-${backend}.trace.json`, () => measure(page, backend));
    }
    return measure(page, backend);
  }, args);
}

async function measure(page, backend) {
  const first = await open(page, login, `${origin}/experiments/${id}?tab=search&backend=${backend}&${query}`, shots);
  const helpers = backend === "cpu" ? await helpersReady(page) : 0;
  const reseeded = await reseed(page, seedAgain, first.request, shots);
  const releases = [];
  let last = reseeded;
  for (const budget of budgets) {
    last = await release(page, budget, last.request, shots);
    releases.push(brief(last));
  }
  await page.screenshot({ path: `${shots}/search-bench-${backend}.png`, fullPage: true });
  return { first: brief(first), helpers, reseeded: brief(reseeded), releases };
}

// SEARCH_BENCH_PATHS=cpu measures the CPU path alone.
const paths = (process.env.SEARCH_BENCH_PATHS ?? "cpu,webgpu").split(",");
const cpu = paths.includes("cpu") ? await bench("cpu", []) : { problems: [] };
const webgpu = paths.includes("webgpu") ? await bench("auto", WEBGPU) : { problems: [] };
console.log(JSON.stringify({ cpu, webgpu, problems: [...cpu.problems, ...webgpu.problems] }));
