// Times the Pareto search in Chromium on both paths: the first search of a fresh page (the worker
// started, its wasm compiled, the predictor downloaded) and three slider releases after it
// (warm-started, cached scores). Usage:
//   node search_bench.mjs LOGIN_URL SHOTS_DIR EXPERIMENT_ID QUERY BUDGET...
import { withPage, WEBGPU } from "./chromium.mjs";
import { open, release } from "./search_page.mjs";

const [login, shots, id, query, ...budgets] = process.argv.slice(2);
const origin = new URL(login).origin;
const brief = (r) => ({
  state: r.state, backend: r.backend, page_ms: r.ms, search_ms: r.search_ms, ready_ms: r.ready_ms,
  predict_ms: r.predict_ms, bookkeeping_ms: r.bookkeeping_ms,
  front: r.front.length, status: r.status,
});

async function bench(backend, args) {
  return withPage(async (page) => {
    const first = await open(page, login, `${origin}/experiments/${id}?tab=search&backend=${backend}&${query}`, shots);
    const releases = [];
    let last = first;
    for (const budget of budgets) {
      last = await release(page, budget, last.request, shots);
      releases.push(brief(last));
    }
    await page.screenshot({ path: `${shots}/search-bench-${backend}.png`, fullPage: true });
    return { first: brief(first), releases };
  }, args);
}

// SEARCH_BENCH_PATHS=cpu measures the CPU path alone.
const paths = (process.env.SEARCH_BENCH_PATHS ?? "cpu,webgpu").split(",");
const cpu = paths.includes("cpu") ? await bench("cpu", []) : { problems: [] };
const webgpu = paths.includes("webgpu") ? await bench("auto", WEBGPU) : { problems: [] };
console.log(JSON.stringify({ cpu, webgpu, problems: [...cpu.problems, ...webgpu.problems] }));
