//! Load on the studio's HTTP API while a training job runs on the same machine.
//!
//! `cargo bench -p proard-tests --bench api_load [-- CLIENTS SECONDS]` (100 clients, 20 s):
//!
//! 1. the real router on loopback with a real SQLite store, and a worker (in this process, on
//!    the server's runtime, computing on a blocking thread as `proard worker` does) training
//!    the demo experiment;
//! 2. CLIENTS threads, each its own connection, calling in turn the experiments list, one
//!    experiment with its stages, and a 1 000-record students page — p50/p99 per route;
//! 3. CLIENTS Server-Sent-Event streams on one experiment while 100 events are appended at
//!    20 per second — the delay from append to each client, and that every client got every
//!    event once.
//!
//! The 1 000 student records are a load fixture in a temporary store (real archs of the demo
//! space with their real MACs and params; accuracies set to 0 because nothing reads them).

use std::io::BufRead;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proard_core::experiment::Cloud;
use proard_core::experiment::pipeline::demo_config;
use proard_core::experiment::students::{StudentRecord, StudentSettings, unique_archs};
use proard_server::routes::ServerConfig;
use proard_server::worker::{WorkerConfig, run_worker};
use proard_tests::TestServer;
use serde_json::json;

const ROUTES: [&str; 3] = ["list", "get", "students page (1000)"];
const SSE_EVENTS: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let clients: usize = args.first().map_or(100, |a| a.parse().expect("CLIENTS is a number"));
    let seconds: u64 = args.get(1).map_or(20, |a| a.parse().expect("SECONDS is a number"));

    let static_dir = tempfile::tempdir().expect("an empty static directory");
    let server = TestServer::start(ServerConfig { static_dir: static_dir.path().to_owned() });
    let config = demo_config().to_toml();
    let create = |name: &str| {
        let body = json!({ "name": name, "config": config }).to_string();
        let answer = server.owner("POST", "/api/experiments", Some(&body));
        assert_eq!(answer.status, 201, "{}", answer.body);
        answer.json()["id"].as_i64().expect("an id")
    };
    let training = create("demo, training during the benchmark");
    let records = create("1000 students");
    assert_eq!(
        server.owner("POST", &format!("/api/experiments/{records}/cancel"), None).status,
        200
    );
    put_students(&server, records, 1000);

    let worker = WorkerConfig::new(server.data.path().to_owned());
    server.runtime.spawn(run_worker(server.store.clone(), worker));
    wait_until_training(&server, training);

    let paths = [
        "/api/experiments".to_owned(),
        format!("/api/experiments/{training}"),
        format!("/api/experiments/{records}/students?limit=1000"),
    ];
    println!("{clients} clients for {seconds} s while experiment {training} trains");
    let latencies = request_load(&server, &paths, clients, Duration::from_secs(seconds));
    println!("{:<22} {:>8} {:>9} {:>9} {:>9}", "route", "requests", "p50 ms", "p99 ms", "max ms");
    for (route, mut times) in ROUTES.iter().zip(latencies) {
        let (p50, p99, max) = percentiles(&mut times);
        println!("{route:<22} {:>8} {p50:>9.1} {p99:>9.1} {max:>9.1}", times.len());
    }

    let mut delays = sse_fan_out(&server, records, clients);
    let received = delays.len();
    let (p50, p99, max) = percentiles(&mut delays);
    println!(
        "SSE fan-out: {SSE_EVENTS} events to {clients} streams, {received} deliveries \
         (expected {}), append → client p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms",
        SSE_EVENTS * clients
    );
    assert_eq!(received, SSE_EVENTS * clients, "every client gets every event exactly once");
    let stages = server.owner("GET", &format!("/api/experiments/{training}"), None).json();
    println!(
        "training went on meanwhile: {}",
        stages["stages"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| format!("{} {}/{} {}", s["name"], s["done"], s["total"], s["unit"]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The worker's job is still computing on a blocking thread; dropping the runtime under it
    // would make it panic, so the benchmark ends here.
    std::process::exit(0);
}

fn put_students(server: &TestServer, experiment: i64, n: usize) {
    let space = demo_config().resolve_space().expect("the demo space");
    for (index, arch) in unique_archs(&space, n, 1).into_iter().enumerate() {
        let cost = space.subnet(&arch).expect("a sampled arch").cost();
        let record = StudentRecord {
            index,
            encoding: space.encode(&arch).expect("a sampled arch"),
            arch,
            macs: cost.macs,
            params: cost.params,
            clean: 0.0,
            fgsm: 0.0,
            pgd20: 0.0,
            settings: StudentSettings {
                calibration_images: 0,
                test_images: 0,
                seed: 1,
                fgsm: Default::default(),
                pgd20: Default::default(),
            },
        };
        let cloud = if index % 2 == 0 { Cloud::Proard } else { Cloud::Baseline };
        server.runtime.block_on(server.store.put_student(experiment, cloud, &record)).unwrap();
    }
}

/// Waits until the worker has taken a training step (loading data and building the teacher
/// take a few seconds).
fn wait_until_training(server: &TestServer, id: i64) {
    let started = Instant::now();
    loop {
        let detail = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
        let stepping = detail["stages"].as_array().is_some_and(|stages| {
            stages.iter().any(|s| s["status"] == "running" && s["done"].as_i64() > Some(0))
        });
        if stepping {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the worker never started: {detail}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Milliseconds of every request, per route.
fn request_load(
    server: &TestServer,
    paths: &[String; 3],
    clients: usize,
    duration: Duration,
) -> Vec<Vec<f64>> {
    let start = Arc::new(Barrier::new(clients));
    let bearer = format!("Bearer {}", server.token);
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let urls: Vec<String> = paths.iter().map(|p| server.url(p)).collect();
            let (start, bearer) = (start.clone(), bearer.clone());
            std::thread::spawn(move || {
                let agent = TestServer::agent();
                let mut times = vec![Vec::new(); urls.len()];
                start.wait();
                let until = Instant::now() + duration;
                let mut turn = client;
                while Instant::now() < until {
                    let route = turn % urls.len();
                    turn += 1;
                    let began = Instant::now();
                    let mut response = agent
                        .get(&urls[route])
                        .header("authorization", &bearer)
                        .call()
                        .expect("the server answers");
                    let body = response.body_mut().read_to_vec().expect("a body");
                    assert_eq!(response.status(), 200, "{}", String::from_utf8_lossy(&body));
                    times[route].push(began.elapsed().as_secs_f64() * 1e3);
                }
                times
            })
        })
        .collect();
    let mut all = vec![Vec::new(); paths.len()];
    for thread in threads {
        for (route, times) in thread.join().expect("a client").into_iter().enumerate() {
            all[route].extend(times);
        }
    }
    all
}

fn now_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64() * 1e3
}

/// Milliseconds from append to delivery, one per event per client.
fn sse_fan_out(server: &TestServer, experiment: i64, clients: usize) -> Vec<f64> {
    let connected = Arc::new(Barrier::new(clients + 1));
    let url = server.url(&format!("/api/experiments/{experiment}/events"));
    let bearer = format!("Bearer {}", server.token);
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (connected, url, bearer) = (connected.clone(), url.clone(), bearer.clone());
            std::thread::spawn(move || {
                let response = TestServer::agent()
                    .get(&url)
                    .header("authorization", &bearer)
                    .call()
                    .expect("a stream");
                assert_eq!(response.status(), 200);
                connected.wait();
                let mut delays = Vec::new();
                let reader = std::io::BufReader::new(response.into_body().into_reader());
                for line in reader.lines() {
                    let line = line.expect("the stream stays open");
                    let Some(data) = line.strip_prefix("data:") else { continue };
                    let event: serde_json::Value =
                        serde_json::from_str(data.trim()).expect("JSON data");
                    delays.push(now_ms() - event["sent_ms"].as_f64().expect("sent_ms"));
                    if delays.len() == SSE_EVENTS {
                        break;
                    }
                }
                delays
            })
        })
        .collect();
    connected.wait();
    // Streams start after the newest event when they connect; give the last one time to read it.
    std::thread::sleep(Duration::from_millis(500));
    for n in 0..SSE_EVENTS {
        let payload = json!({ "bench": n, "sent_ms": now_ms() });
        server
            .runtime
            .block_on(server.store.append_event(Some(experiment), "bench", &payload))
            .expect("an event");
        std::thread::sleep(Duration::from_millis(50));
    }
    threads.into_iter().flat_map(|t| t.join().expect("a stream client")).collect()
}

/// p50, p99 and the maximum.
fn percentiles(values: &mut [f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), values[values.len() - 1])
}
