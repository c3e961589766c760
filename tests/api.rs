//! The JSON API and static files, over HTTP against a real server on loopback.

use proard_server::routes::ServerConfig;
use proard_shared::api::SpaceSummary;
use proard_shared::preset::presets;
use proard_tests::TestServer;
use std::io::Write;

fn server_with_static(files: &[(&str, &str)]) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    (TestServer::start(ServerConfig { static_dir: dir.path().to_path_buf() }), dir)
}

#[test]
fn spaces_endpoint_lists_every_preset_with_its_summary() {
    let (server, _dir) = server_with_static(&[]);
    let body = server.owner("GET", "/api/spaces", None).body;
    let got: Vec<SpaceSummary> = serde_json::from_str(&body).unwrap();
    let expected: Vec<SpaceSummary> = presets().iter().map(SpaceSummary::of).collect();
    assert_eq!(got, expected);
    assert_eq!(got[0].subnets, "2458914796962");
}

#[test]
fn one_space_by_name_and_a_clear_404_for_an_unknown_one() {
    let (server, _dir) = server_with_static(&[]);
    let body = server.owner("GET", "/api/spaces/mbv3-cifar", None).body;
    let got: SpaceSummary = serde_json::from_str(&body).unwrap();
    assert_eq!(got.subnets, "21758655492572485851");
    assert_eq!(got.encoding_dim, 121);

    let response = server.owner("GET", "/api/spaces/resnet18", None);
    assert_eq!(response.status, 404);
    let error = response.json();
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("no preset space `resnet18`") && message.contains("mbv3-mini"),
        "{message}"
    );
}

#[test]
fn static_files_are_served_and_paths_cannot_escape() {
    let (server, dir) = server_with_static(&[("index.html", "<!doctype html><title>t</title>")]);
    std::fs::write(dir.path().join("module.wasm"), b"\0asm").unwrap();
    let mut index = ureq::get(&server.url("/")).call().unwrap();
    assert!(index.body_mut().read_to_string().unwrap().contains("<title>t</title>"));
    let wasm = ureq::get(&server.url("/module.wasm")).call().unwrap();
    assert_eq!(wasm.headers()["content-type"], "application/wasm");

    // A gzipped copy beside a file is what a client accepting gzip gets (ureq asks for it and
    // unpacks it); told apart here by content.
    let mut gzipped = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzipped.write_all(b"\0asm, gzipped").unwrap();
    std::fs::write(dir.path().join("module.wasm.gz"), gzipped.finish().unwrap()).unwrap();
    let mut wasm = ureq::get(&server.url("/module.wasm")).call().unwrap();
    assert_eq!(wasm.headers()["content-type"], "application/wasm");
    assert_eq!(wasm.body_mut().read_to_vec().unwrap(), b"\0asm, gzipped");
    let mut plain = ureq::get(&server.url("/module.wasm"))
        .config()
        .accept_encoding("identity")
        .build()
        .call()
        .unwrap();
    assert_eq!(plain.body_mut().read_to_vec().unwrap(), b"\0asm");

    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let outside = agent.get(&server.url("/..%2f..%2fetc%2fpasswd")).call().unwrap();
    assert!(outside.status().is_client_error(), "{}", outside.status());
}

// ---------------------------------------------------------------------------------------------
// The studio API: experiments, students, metrics, shares, events, tokens, bad input.

use proard_core::experiment::Cloud;
use proard_core::experiment::students::{StudentRecord, StudentSettings};
use proard_server::routes::ServerConfig as Config;
use serde_json::{Value, json};

fn studio() -> TestServer {
    TestServer::start(Config { static_dir: proard_tests::repo_root().join("static") })
}

/// The default config of a preset, as TOML.
fn preset_toml(server: &TestServer) -> String {
    let answer = server.owner("GET", "/api/spaces/resnet-mini/config", None);
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["toml"].as_str().unwrap().to_owned()
}

fn create(server: &TestServer, name: &str) -> i64 {
    let body = json!({ "name": name, "config": preset_toml(server), "tags": ["a"] }).to_string();
    let answer = server.owner("POST", "/api/experiments", Some(&body));
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.json()["id"].as_i64().unwrap()
}

fn student(server: &TestServer, id: i64, cloud: Cloud, index: usize, macs: u64, pgd20: f64) {
    let space = proard_shared::preset::preset("resnet-mini").unwrap();
    let arch = space.largest_arch();
    let record = StudentRecord {
        index,
        encoding: space.encode(&arch).unwrap(),
        arch,
        macs,
        params: 7,
        clean: 0.5 + pgd20 / 2.0,
        fgsm: pgd20 + 0.05,
        pgd20,
        settings: StudentSettings {
            calibration_images: 64,
            test_images: 48,
            seed: 3,
            fgsm: Default::default(),
            pgd20: Default::default(),
        },
    };
    server.runtime.block_on(server.store.put_student(id, cloud, &record)).unwrap();
}

/// POSTs a body announced as `bytes` long with the studio token over a raw socket, sending
/// only a little more than the server's limit before reading the answer (the server stops
/// reading there).
fn raw_post(server: &TestServer, path: &str, bytes: usize) -> String {
    use std::io::{Read, Write};
    let mut socket = std::net::TcpStream::connect(server.addr).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {bytes}\r\n\r\n",
        server.addr, server.token
    );
    socket.write_all(head.as_bytes()).unwrap();
    let sent = bytes.min(proard_server::routes::BODY_LIMIT + 4096);
    let _ = socket.write_all(&vec![b' '; sent]);
    socket.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let mut answer = vec![0; 4096];
    let n = socket.read(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

fn error_of(answer: &proard_tests::Answer) -> String {
    answer.json()["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error: {}", answer.body))
        .to_owned()
}

#[test]
fn experiments_are_created_listed_read_updated_cancelled_resumed_cloned_and_deleted() {
    let server = studio();
    let first = create(&server, "rslad run");
    let second = create(&server, "another");
    // A JSON config works as well as TOML; its space is resolved inline.
    let config: Value =
        server.owner("GET", "/api/spaces/mbv3-mini/config", None).json()["config"].clone();
    let body = json!({ "name": "json", "config": config, "eval_shards": 2, "notes": "from JSON" });
    let answer = server.owner("POST", "/api/experiments", Some(&body.to_string()));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let third = answer.json();
    assert_eq!(
        (third["space"].as_str(), third["eval_shards"].as_i64()),
        (Some("mbv3-mini"), Some(2))
    );
    assert!(third["config"].as_str().unwrap().contains("[space]"), "space inline");

    let list = server.owner("GET", "/api/experiments", None).json();
    assert_eq!(list["total"], 3);
    assert_eq!(list["items"][0]["id"], third["id"], "newest first");
    assert_eq!(list["items"][0]["progress"], 0.0);
    let filtered = server.owner("GET", "/api/experiments?space=mbv3-mini", None).json();
    assert_eq!(filtered["total"], 1);
    let searched = server.owner("GET", "/api/experiments?q=rslad&sort=name", None).json();
    assert_eq!(searched["items"].as_array().unwrap().len(), 1);
    assert_eq!(searched["items"][0]["id"], first);
    let page =
        server.owner("GET", "/api/experiments?sort=name&desc=false&offset=1&limit=1", None).json();
    assert_eq!(
        (page["total"].as_i64(), page["items"][0]["name"].as_str()),
        (Some(3), Some("json"))
    );
    let tagged =
        server.owner("GET", "/api/experiments?tag=a&status=queued&method=rslad", None).json();
    assert_eq!(tagged["total"], 2);

    let detail = server.owner("GET", &format!("/api/experiments/{first}"), None).json();
    assert_eq!(detail["status"], "queued");
    assert_eq!(detail["jobs"][0]["label"], "train teacher");
    assert!(detail["stages"].as_array().unwrap().is_empty());

    let patch = json!({ "name": "renamed", "tags": ["x", "y"], "notes": "n" }).to_string();
    let updated = server.owner("PATCH", &format!("/api/experiments/{first}"), Some(&patch)).json();
    assert_eq!(
        (updated["name"].as_str(), updated["tags"].clone()),
        (Some("renamed"), json!(["x", "y"]))
    );

    let cancelled = server.owner("POST", &format!("/api/experiments/{first}/cancel"), None).json();
    assert_eq!(cancelled["status"], "cancelled");
    let resumed = server.owner("POST", &format!("/api/experiments/{first}/resume"), None).json();
    assert_eq!(resumed["status"], "queued");
    let draft = server.owner("POST", &format!("/api/experiments/{first}/clone"), None).json();
    assert_eq!(draft["name"], "renamed (copy)");
    let again = json!({ "name": draft["name"], "config": draft["config"] }).to_string();
    assert_eq!(server.owner("POST", "/api/experiments", Some(&again)).status, 201);

    // Deleting removes the rows and the run directory; a running experiment is refused.
    let dir = server.data.path().join(format!("experiments/{second}"));
    std::fs::create_dir_all(&dir).unwrap();
    let job = server.runtime.block_on(server.store.claim("w", 60_000)).unwrap().unwrap();
    let running = job.experiment_id;
    let refused = server.owner("DELETE", &format!("/api/experiments/{running}"), None);
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(error_of(&refused).contains("cancel it first"));
    assert_eq!(server.owner("DELETE", &format!("/api/experiments/{second}"), None).status, 204);
    assert!(!dir.exists());
    assert_eq!(server.owner("GET", &format!("/api/experiments/{second}"), None).status, 404);
}

#[test]
fn bad_configs_and_bodies_get_4xx_naming_the_problem() {
    let server = studio();
    let toml = preset_toml(&server);
    let cases: Vec<(String, u16, &str)> = vec![
        (json!({ "name": "x", "config": toml.replace("subnets_per_step = 2", "subnets_per_step = 0") }).to_string(), 422, "subnets_per_step"),
        (json!({ "name": "x", "config": "version = 1\nspace = \"nope\"" }).to_string(), 422, "space"),
        (json!({ "name": "x", "config": 7 }).to_string(), 422, "TOML text or a JSON object"),
        (json!({ "name": "x", "config": { "version": 1, "space": "resnet-mini", "oops": 1 } }).to_string(), 422, "oops"),
        (json!({ "name": "", "config": toml }).to_string(), 422, "name"),
        (json!({ "name": "x", "config": toml, "extra": 1 }).to_string(), 422, "extra"),
        (json!({ "name": 5, "config": toml }).to_string(), 422, "name"),
        ("{not json".to_owned(), 400, "JSON"),
    ];
    for (body, status, needle) in cases {
        let answer = server.owner("POST", "/api/experiments", Some(&body));
        assert_eq!(answer.status, status, "{body}: {}", answer.body);
        assert!(error_of(&answer).contains(needle), "{body}: {}", answer.body);
    }
    let field = server.owner(
        "POST",
        "/api/experiments",
        Some(&json!({ "name": "x", "config": toml.replace("subnets_per_step = 2", "subnets_per_step = 0") }).to_string()),
    );
    assert!(field.json()["field"].as_str().unwrap().contains("subnets_per_step"), "{}", field.body);
    // 10 MB: refused once past the limit, without reading the rest.
    let answer = raw_post(&server, "/api/experiments", 10 << 20);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("over the limit"), "{answer}");
    // Ids that are no ids, paths that try to climb, unknown API routes, bad paging.
    for path in [
        "/api/experiments/..%2fx",
        "/api/experiments/%00",
        "/api/experiments/-1",
        "/api/experiments/99999",
        "/api/experiments/1.5/students",
        "/api/experiments/abc/metrics",
        "/api/experiments/1/artifacts/..%2F..%2Fetc%2Fpasswd",
        "/api/nothing/here",
    ] {
        let answer = server.owner("GET", path, None);
        assert!(
            answer.status == 404 || answer.status == 400,
            "{path}: {} {}",
            answer.status,
            answer.body
        );
        error_of(&answer);
    }
    let id = create(&server, "paging");
    for query in [
        "limit=0",
        "limit=-3",
        "offset=-1",
        "limit=x",
        "sort=pwn",
        "cloud=dog",
        "desc=maybe",
        "bogus=1",
        "clean_min=NaN",
    ] {
        let answer = server.owner("GET", &format!("/api/experiments/{id}/students?{query}"), None);
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        error_of(&answer);
    }
    let answer = server.owner("GET", "/api/experiments?status=sleeping", None);
    assert_eq!(answer.status, 400);
    assert!(error_of(&answer).contains("not a status"));
    let answer = server.owner("PATCH", &format!("/api/experiments/{id}"), Some("{\"owner\": 1}"));
    assert_eq!(answer.status, 422);
    assert!(error_of(&answer).contains("owner"));
}

#[test]
fn students_page_sort_filter_and_csv_with_every_setting() {
    let server = studio();
    let id = create(&server, "students");
    for (i, (macs, pgd)) in [(9, 0.3), (5, 0.1), (7, 0.2), (3, 0.25)].into_iter().enumerate() {
        student(&server, id, Cloud::Proard, i, macs, pgd);
    }
    student(&server, id, Cloud::Baseline, 0, 9, 0.05);
    student(&server, id, Cloud::Teacher, 0, 12, 0.4);
    let page = server
        .owner("GET", &format!("/api/experiments/{id}/students?cloud=proard&sort=pgd20&desc=true&macs_max=8&limit=2"), None)
        .json();
    assert_eq!(page["total"], 3);
    let indices: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["record"]["index"].as_i64().unwrap())
        .collect();
    assert_eq!(indices, [3, 2]);
    let all = server.owner("GET", &format!("/api/experiments/{id}/students"), None).json();
    assert_eq!(all["total"], 6);
    let summary = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
    assert_eq!(
        (summary["best_pgd20"].as_f64(), summary["best_clean"].as_f64()),
        (Some(0.3), Some(0.65))
    );

    let csv = server.owner(
        "GET",
        &format!("/api/experiments/{id}/students.csv?cloud=proard&sort=macs"),
        None,
    );
    assert_eq!(csv.status, 200);
    let lines: Vec<&str> = csv.body.lines().collect();
    assert_eq!(lines.len(), 5);
    let header: Vec<&str> = lines[0].split(',').collect();
    for column in [
        "cloud",
        "macs",
        "pgd20",
        "arch",
        "settings.seed",
        "settings.pgd20.steps",
        "settings.pgd20.step_size",
        "settings.fgsm.epsilon",
        "settings.calibration_images",
    ] {
        assert!(header.contains(&column), "{column} in {header:?}");
    }
    assert!(lines[1].starts_with("proard,3,3,"), "{}", lines[1]);
}

#[test]
fn metrics_downsample_steps_and_keep_epochs() {
    let server = studio();
    let id = create(&server, "metrics");
    let store = &server.store;
    server.runtime.block_on(async {
        let start = proard_core::experiment::StageStart {
            stage: "teacher",
            unit: "steps",
            total: 50,
            done: 0,
            epochs: 2,
        };
        store.stage_started(id, &start).await.unwrap();
        for step in 0..50 {
            let line = proard_core::experiment::train::LogLine::Step {
                stage: "teacher".into(),
                epoch: step / 25 + 1,
                step,
                lr: 0.1,
                loss: 1.0 / (step + 1) as f64,
            };
            store.log_line(id, &line).await.unwrap();
        }
        let epoch = proard_core::experiment::train::LogLine::Epoch {
            stage: "teacher".into(),
            epoch: 1,
            steps: 25,
            mean_loss: 0.2,
            seconds: 3.0,
            validation: vec![],
        };
        store.log_line(id, &epoch).await.unwrap();
    });
    let metrics =
        server.owner("GET", &format!("/api/experiments/{id}/metrics?points=10"), None).json();
    let steps: Vec<i64> = metrics[0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 49]);
    assert_eq!(metrics[0]["epochs"][0]["mean_loss"], 0.2);
    let detail = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
    assert_eq!(detail["stages"][0]["done"], 50);
    let missing =
        server.owner("GET", &format!("/api/experiments/{id}/metrics?stage=phase-9"), None);
    assert_eq!(missing.status, 404);
    assert_eq!(
        server.owner("GET", &format!("/api/experiments/{id}/metrics?points=1"), None).status,
        400
    );
}

#[test]
fn tokens_cookies_origins_and_share_links() {
    let server = studio();
    let id = create(&server, "shared");
    let other = create(&server, "private");
    // No token, a wrong token, a stale cookie: 401, reads too.
    for headers in
        [vec![], vec![("authorization", "Bearer nope")], vec![("cookie", "proard_token=stale")]]
    {
        let answer = server.call("GET", "/api/experiments", &headers, None);
        assert_eq!(answer.status, 401, "{headers:?}");
        error_of(&answer);
    }
    // The login URL sets an HttpOnly, SameSite=Strict cookie; with it reads work, and writes
    // only from the studio's own origin.
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let login = agent.get(&server.login_url()).call().unwrap();
    assert_eq!(login.status(), 303);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"),
        "{set_cookie}"
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    assert_eq!(server.call("GET", "/api/experiments", &[("cookie", &cookie)], None).status, 200);
    let cancel = format!("/api/experiments/{id}/cancel");
    let evil = server.call(
        "POST",
        &cancel,
        &[("cookie", &cookie), ("origin", "http://evil.example")],
        None,
    );
    assert_eq!(evil.status, 403);
    assert_eq!(server.call("POST", &cancel, &[("cookie", &cookie)], None).status, 403);
    let origin = format!("http://{}", server.addr);
    assert_eq!(
        server.call("POST", &cancel, &[("cookie", &cookie), ("origin", &origin)], None).status,
        200
    );
    assert_eq!(agent.get(&server.url("/login?token=wrong")).call().unwrap().status(), 401);
    // The login lands on a page of this studio, never on another site.
    let token = &server.token;
    let to = |next: &str| {
        let url = server.url(&format!("/login?token={token}&next={next}"));
        let answer = agent.get(&url).call().unwrap();
        (
            answer.status().as_u16(),
            answer.headers().get("location").map(|l| l.to_str().unwrap().to_owned()),
        )
    };
    assert_eq!(to("/experiments/1"), (303, Some("/experiments/1".to_owned())));
    for away in ["//evil.example/", "https://evil.example/", "%2F%2Fevil.example"] {
        assert_eq!(to(away).0, 400, "{away}");
    }

    // A share link: read-only, one experiment, its view.
    let view = json!({ "view": { "tab": "clouds", "selected": 3 } }).to_string();
    let created = server.owner("POST", &format!("/api/experiments/{id}/shares"), Some(&view));
    assert_eq!(created.status, 201, "{}", created.body);
    let share = created.json();
    let token = share["token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 32);
    assert!(share["url"].as_str().unwrap().ends_with(&format!("/share/{token}")));
    let bearer = format!("Bearer {token}");
    let as_share =
        |method: &str, path: &str| server.call(method, path, &[("authorization", &bearer)], None);
    assert_eq!(as_share("GET", &format!("/api/experiments/{id}")).status, 200);
    assert_eq!(as_share("GET", &format!("/api/experiments/{id}/students")).status, 200);
    assert_eq!(
        as_share("GET", &format!("/api/experiments/{other}")).status,
        404,
        "another experiment"
    );
    assert_eq!(as_share("GET", "/api/experiments").status, 403, "no listing");
    assert_eq!(as_share("POST", &format!("/api/experiments/{id}/cancel")).status, 403, "no writes");
    assert_eq!(as_share("DELETE", &format!("/api/experiments/{id}")).status, 403);
    assert_eq!(
        as_share("GET", &format!("/api/experiments/{id}/shares")).status,
        403,
        "no token listing"
    );
    assert_eq!(as_share("POST", &format!("/api/experiments/{id}/shares")).status, 403);
    // The page learns what the link opens; the owner is the owner.
    let access: proard_shared::api::AccessInfo =
        serde_json::from_str(&as_share("GET", "/api/access").body).unwrap();
    assert_eq!(
        access,
        proard_shared::api::AccessInfo::Share {
            experiment: id,
            view: json!({ "tab": "clouds", "selected": 3 })
        }
    );
    assert_eq!(server.owner("GET", "/api/access", None).json(), json!({ "role": "owner" }));
    // An event stream takes the token as `access_token` (EventSource sends no headers); nothing
    // else does.
    let stream = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(&server.url(&format!("/api/experiments/{id}/events?access_token={token}")))
        .call()
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    drop(stream);
    let no_header =
        server.call("GET", &format!("/api/experiments/{id}?access_token={token}"), &[], None);
    assert_eq!(no_header.status, 401, "only event streams read the query token");
    let wrong = server.call(
        "GET",
        &format!("/api/experiments/{other}/events?access_token={token}"),
        &[],
        None,
    );
    assert_eq!(wrong.status, 404, "another experiment's stream");
    // The owner lists and revokes it; a revoked link opens nothing.
    let shares = server.owner("GET", &format!("/api/experiments/{id}/shares"), None).json();
    assert_eq!(shares[0]["view"], json!({ "tab": "clouds", "selected": 3 }));
    assert!(!shares.to_string().contains(&token), "the token is not listed");
    let share_id = shares[0]["id"].as_i64().unwrap();
    assert_eq!(
        server.owner("DELETE", &format!("/api/experiments/{id}/shares/{share_id}"), None).status,
        204
    );
    assert_eq!(as_share("GET", &format!("/api/experiments/{id}")).status, 401);
    assert_eq!(
        server.owner("DELETE", &format!("/api/experiments/{id}/shares/{share_id}"), None).status,
        404
    );
    let bad_view =
        server.owner("POST", &format!("/api/experiments/{id}/shares"), Some("{\"view\": 3}"));
    assert_eq!(bad_view.status, 422);
}

/// The status line and headers of a GET of `path` by a client that accepts gzip, read off the
/// socket (an HTTP client would unpack the body and drop `content-encoding`), lowercased.
fn head_gzip(server: &TestServer, path: &str) -> String {
    use std::io::Read;
    let mut socket = std::net::TcpStream::connect(server.addr).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {}\r\n\
         accept-encoding: gzip\r\n\r\n",
        server.addr, server.token
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        socket.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_lowercase()
}

#[test]
fn answers_are_gzipped_for_clients_that_accept_them_but_event_streams_are_not() {
    let server = studio();
    let id = create(&server, "gzipped");
    for index in 0..50 {
        student(&server, id, Cloud::Proard, index, 1_000_000, 0.25);
    }
    let page = head_gzip(&server, &format!("/api/experiments/{id}/students?limit=50"));
    assert!(page.starts_with("http/1.1 200"), "{page}");
    assert!(page.contains("content-encoding: gzip"), "{page}");
    let csv = head_gzip(&server, &format!("/api/experiments/{id}/students.csv"));
    assert!(csv.contains("content-encoding: gzip"), "{csv}");
    // Every other test reads the API through ureq, which asks for gzip and unpacks it; the
    // answer is the same JSON.
    let students = server.owner("GET", &format!("/api/experiments/{id}/students?limit=50"), None);
    assert_eq!(students.json()["items"].as_array().unwrap().len(), 50);
    // An event stream goes out as it happens, uncompressed.
    let stream = head_gzip(&server, &format!("/api/experiments/{id}/events"));
    assert!(stream.contains("content-type: text/event-stream"), "{stream}");
    assert!(!stream.contains("content-encoding"), "{stream}");
}

/// Reads Server-Sent Events from `path` until `count` events came; returns their ids.
fn read_events(server: &TestServer, path: &str, last: Option<i64>, count: usize) -> Vec<i64> {
    use std::io::{BufRead, BufReader};
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request =
        agent.get(&server.url(path)).header("authorization", &format!("Bearer {}", server.token));
    if let Some(last) = last {
        request = request.header("last-event-id", &last.to_string());
    }
    let mut response = request.call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let reader = BufReader::new(response.body_mut().as_reader());
    let mut ids = Vec::new();
    for line in reader.lines() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("id: ").or_else(|| line.strip_prefix("id:")) {
            ids.push(id.trim().parse().unwrap());
            if ids.len() == count {
                break;
            }
        }
    }
    ids
}

#[test]
fn events_resume_after_a_disconnect_with_every_event_once() {
    let server = studio();
    let id = create(&server, "live");
    let before = server.runtime.block_on(server.store.last_event_id()).unwrap();
    // A stage's events arrive while a client reads, disconnects half-way and reconnects.
    let store = server.store.clone();
    let writer = server.runtime.spawn(async move {
        for step in 0..40 {
            let payload = json!({ "kind": "step", "stage": "teacher", "step": step });
            store.append_event(Some(id), "step", &payload).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    let path = format!("/api/experiments/{id}/events?after={before}");
    let first = read_events(&server, &path, None, 15);
    let rest =
        read_events(&server, &format!("/api/experiments/{id}/events"), first.last().copied(), 25);
    server.runtime.block_on(writer).unwrap();
    let all: Vec<i64> = first.into_iter().chain(rest).collect();
    let expected: Vec<i64> = server
        .runtime
        .block_on(server.store.events_after(
            proard_server::store::events::EventFilter::Experiment(id),
            before,
            1000,
        ))
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(all, expected, "every event once, in order");
    assert_eq!(all.len(), 40);
    // The list's stream tells of status changes.
    let other = create(&server, "list");
    let _ = other;
    let statuses = read_events(&server, "/api/events?after=0", None, 2);
    assert_eq!(statuses.len(), 2);
    assert_eq!(read_events(&server, &format!("/api/experiments/{id}/events"), Some(0), 1).len(), 1);
    let bad = server.call(
        "GET",
        &path,
        &[("authorization", &format!("Bearer {}", server.token)), ("last-event-id", "x")],
        None,
    );
    assert_eq!(bad.status, 400);
}

#[test]
fn shutdown_ends_fifty_open_streams_within_a_second() {
    let mut server = studio();
    let id = create(&server, "streams");
    let mut readers = Vec::new();
    for _ in 0..50 {
        let url = server.url(&format!("/api/experiments/{id}/events"));
        let token = server.token.clone();
        readers.push(std::thread::spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
            let mut response =
                agent.get(&url).header("authorization", &format!("Bearer {token}")).call().unwrap();
            // Reads until the server ends the stream.
            let _ = response.body_mut().read_to_string();
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let started = std::time::Instant::now();
    server.stop();
    let took = started.elapsed();
    for reader in readers {
        reader.join().unwrap();
    }
    assert!(took < std::time::Duration::from_secs(1), "shutdown took {took:?}");
}

mod never_5xx {
    use proptest::prelude::*;

    use super::*;

    const ROUTES: [(&str, &str); 14] = [
        ("GET", "/api/experiments"),
        ("POST", "/api/experiments"),
        ("GET", "/api/experiments/1"),
        ("PATCH", "/api/experiments/1"),
        ("POST", "/api/experiments/1/cancel"),
        ("POST", "/api/experiments/1/resume"),
        ("POST", "/api/experiments/1/clone"),
        ("GET", "/api/experiments/1/metrics"),
        ("GET", "/api/experiments/1/students"),
        ("GET", "/api/experiments/1/students.csv"),
        ("GET", "/api/experiments/1/artifacts"),
        ("POST", "/api/experiments/1/shares"),
        ("POST", "/api/import"),
        ("GET", "/api/spaces/resnet-mini/config"),
    ];

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
        #[test]
        fn arbitrary_bodies_and_queries_never_get_a_5xx(
            route in 0..ROUTES.len(),
            query in "[a-z_=&%0-9.-]{0,40}",
            body in prop_oneof![
                "\\PC{0,200}".prop_map(|s| s),
                Just("{}".to_owned()),
                Just("{\"name\": \"x\", \"config\": {}}".to_owned()),
                Just("{\"name\": [], \"config\": \"version = 2\"}".to_owned()),
                Just("{\"dir\": \"/etc\"}".to_owned()),
                Just("{\"view\": null}".to_owned()),
            ],
        ) {
            let server = SERVER.with(|s| s.clone());
            let (method, path) = ROUTES[route];
            let answer = server.owner(method, &format!("{path}?{query}"), Some(&body));
            prop_assert!(answer.status < 500, "{method} {path}?{query} {body:?}: {} {}", answer.status, answer.body);
        }
    }

    thread_local! {
        static SERVER: std::rc::Rc<TestServer> = {
            let server = studio();
            create(&server, "target");
            std::rc::Rc::new(server)
        };
    }
}

#[test]
fn artifacts_download_by_id_and_never_by_a_path_from_outside() {
    let server = studio();
    let id = create(&server, "weights");
    let dir = server.data.path().join(format!("experiments/{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    // Big enough to be worth compressing, were weights compressed.
    let weights = "weights!".repeat(512);
    std::fs::write(dir.join("supernet.safetensors"), &weights).unwrap();
    let outside = tempfile::NamedTempFile::new().unwrap();
    server.runtime.block_on(async {
        let store = &server.store;
        let file = format!("experiments/{id}/supernet.safetensors");
        store.put_artifact(id, "proard-supernet", &file, 4096).await.unwrap();
        let escape = format!("../../{}", outside.path().display());
        store.put_artifact(id, "escape", &escape, 1).await.unwrap();
    });
    let list = server.owner("GET", &format!("/api/experiments/{id}/artifacts"), None).json();
    assert_eq!(list[0]["kind"], "proard-supernet");
    let url = list[0]["url"].as_str().unwrap().to_owned();
    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut download = agent
        .get(&server.url(&url))
        .header("authorization", &format!("Bearer {}", server.token))
        .call()
        .unwrap();
    assert_eq!(download.status(), 200);
    let disposition = download.headers()["content-disposition"].to_str().unwrap().to_owned();
    assert_eq!(
        disposition,
        format!("attachment; filename=\"experiment-{id}-proard-supernet.safetensors\"")
    );
    assert_eq!(download.body_mut().read_to_string().unwrap(), weights);
    // Sent as they are (floats barely compress, and a download may ask for ranges).
    let head = head_gzip(&server, &url);
    assert!(head.starts_with("http/1.1 200") && !head.contains("content-encoding"), "{head}");
    let escape = list[1]["id"].as_i64().unwrap();
    let answer = server.owner("GET", &format!("/api/experiments/{id}/artifacts/{escape}"), None);
    assert_eq!(answer.status, 404, "a stored path outside the data directory is not served");
    let other = create(&server, "other");
    let artifact = list[0]["id"].as_i64().unwrap();
    assert_eq!(
        server.owner("GET", &format!("/api/experiments/{other}/artifacts/{artifact}"), None).status,
        404
    );
}

#[test]
fn import_needs_the_studio_token_and_a_run_directory() {
    let server = studio();
    let id = create(&server, "x");
    let empty = tempfile::tempdir().unwrap();
    let body = json!({ "dir": empty.path() }).to_string();
    let answer = server.owner("POST", "/api/import", Some(&body));
    assert_eq!(answer.status, 422);
    assert!(error_of(&answer).contains("holds no proard run"));
    let share = server.owner("POST", &format!("/api/experiments/{id}/shares"), None).json();
    let bearer = format!("Bearer {}", share["token"].as_str().unwrap());
    let answer = server.call("POST", "/api/import", &[("authorization", &bearer)], Some(&body));
    assert_eq!(answer.status, 403);
}

#[test]
fn the_new_experiment_form_gets_methods_data_sets_and_the_demo() {
    let server = studio();
    let methods: proard_shared::api::Methods =
        serde_json::from_str(&server.owner("GET", "/api/methods", None).body).unwrap();
    let names = |list: &[(String, Value)]| list.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&methods.teacher), ["trades", "sat", "mart"]);
    assert_eq!(
        names(&methods.distillation),
        ["rslad", "ard", "iad-i", "adaad", "adaiad", "dard", "ciard"]
    );
    // Each default is a config the API accepts in its place.
    let (_, rslad) = &methods.distillation[0];
    assert_eq!(rslad["method"], "rslad");

    // Synthetic always; an image folder under DATA_DIR/datasets with its counts.
    let folder = server.data.path().join("datasets/tiny");
    for (split, class, n) in [("train", "a", 3), ("train", "b", 2), ("test", "a", 1)] {
        std::fs::create_dir_all(folder.join(split).join(class)).unwrap();
        for i in 0..n {
            std::fs::write(folder.join(split).join(class).join(format!("{i}.png")), b"x").unwrap();
        }
    }
    std::fs::create_dir_all(server.data.path().join("datasets/not-a-set")).unwrap();
    let sets: Vec<proard_shared::api::DataSet> =
        serde_json::from_str(&server.owner("GET", "/api/datasets", None).body).unwrap();
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert_eq!((sets[0].spec.as_str(), sets[0].train_images), ("synthetic", 5000));
    assert!(sets[1].spec.starts_with("folder:") && sets[1].spec.ends_with("tiny"));
    assert_eq!((sets[1].train_images, sets[1].test_images), (5, 1));

    // The demo's config creates an experiment as it is.
    let demo = server.owner("GET", "/api/demo/config", None).json();
    let body = json!({ "name": "demo", "config": demo["config"] }).to_string();
    let created = server.owner("POST", "/api/experiments", Some(&body));
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.json()["space"], "demo-tiny");

    // The studio's pages are its index.html; files that do not exist are 404s.
    for page in ["/experiments/3", "/share/abc", "/new"] {
        let answer = server.call("GET", page, &[], None);
        assert_eq!(answer.status, 200, "{page}");
        assert!(answer.body.contains("proard_frontend.js"), "{page}");
    }
    for missing in ["/pkg/missing.js", "/x/../y", "/a%2fb"] {
        assert_eq!(server.call("GET", missing, &[], None).status, 404, "{missing}");
    }
}

#[test]
fn the_browser_reads_every_answer_with_the_shared_types() {
    use proard_shared::api::{ExperimentDetail, ExperimentSummary, Page, StageMetrics, Student};
    let server = studio();
    let id = create(&server, "typed");
    student(&server, id, Cloud::Proard, 0, 1_000_000, 0.25);
    student(&server, id, Cloud::Baseline, 0, 1_000_000, 0.2);
    let parse = |path: &str| {
        let answer = server.owner("GET", path, None);
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        answer.body
    };
    let list: Page<ExperimentSummary> = serde_json::from_str(&parse("/api/experiments")).unwrap();
    assert_eq!(list.items[0].experiment.id, id);
    assert_eq!(list.items[0].best_pgd20, Some(0.25));
    let detail: ExperimentDetail =
        serde_json::from_str(&parse(&format!("/api/experiments/{id}"))).unwrap();
    assert_eq!(detail.summary.experiment.name, "typed");
    assert!(!detail.jobs.is_empty() && detail.jobs.iter().all(|j| !j.label.is_empty()));
    let students: Page<Student> =
        serde_json::from_str(&parse(&format!("/api/experiments/{id}/students?cloud=proard")))
            .unwrap();
    assert_eq!(students.total, 1);
    assert_eq!(students.items[0].cloud, "proard");
    assert_eq!(students.items[0].record.pgd20, 0.25);
    let compact = server
        .owner("GET", &format!("/api/experiments/{id}/students?cloud=proard&compact=true"), None)
        .json();
    assert_eq!(serde_json::from_value::<Page<Student>>(compact.clone()).unwrap(), students);
    assert!(compact["items"][0]["record"].get("encoding").is_none(), "{compact}");
    let _: Vec<StageMetrics> =
        serde_json::from_str(&parse(&format!("/api/experiments/{id}/metrics"))).unwrap();
}

#[test]
fn verifications_are_checked_queued_and_listed_apart_from_the_pipeline() {
    let server = studio();
    let id = create(&server, "verify");
    student(&server, id, Cloud::Proard, 0, 9, 0.3);
    let path = format!("/api/experiments/{id}/verifications");
    let refused = |body: serde_json::Value, says: &str| {
        let answer = server.owner("POST", &path, Some(&body.to_string()));
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert!(error_of(&answer).contains(says), "{body}: {}", answer.body);
    };
    refused(json!({"cloud": "mine", "index": 0}), "not a cloud");
    refused(json!({"cloud": "proard"}), "either `index`");
    refused(json!({"cloud": "proard", "index": 5}), "no evaluated proard student with index 5");
    refused(json!({"cloud": "proard", "index": 0, "attacks": ["pgd7"]}), "`pgd7` is not an attack");
    refused(json!({"cloud": "proard", "index": 0, "images": 0}), "at least 1");
    refused(json!({"cloud": "proard", "arch": {"d": [0]}}), "arch");
    let answer =
        server.owner("POST", &path, Some(r#"{"cloud": "proard", "index": 0, "speed": 1}"#));
    assert!(error_of(&answer).contains("speed"), "{}", answer.body);

    let before = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
    let body = json!({"cloud": "proard", "index": 0, "attacks": ["fgsm", "pgd20"]}).to_string();
    let answer = server.owner("POST", &path, Some(&body));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let queued: proard_shared::api::Verification = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(queued.status, proard_shared::api::Status::Queued);
    assert_eq!(queued.arch, proard_shared::preset::preset("resnet-mini").unwrap().largest_arch());
    assert_eq!((queued.download.clone(), queued.result.clone()), (None, None));
    let arch = serde_json::to_value(&queued.arch).unwrap();
    let answer =
        server.owner("POST", &path, Some(&json!({"cloud": "baseline", "arch": arch}).to_string()));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let listed: Vec<proard_shared::api::Verification> =
        serde_json::from_str(&server.owner("GET", &path, None).body).unwrap();
    assert_eq!(listed.iter().map(|v| v.id).collect::<Vec<_>>(), [queued.id + 1, queued.id]);
    // The pipeline's progress and status ignore verification jobs.
    let after = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
    assert_eq!((&after["progress"], &after["status"]), (&before["progress"], &before["status"]));
}

#[test]
fn predictor_fits_are_checked_and_queued_as_side_jobs() {
    let server = studio();
    let id = create(&server, "predict");
    let path = format!("/api/experiments/{id}/predictors");
    let refused = |body: serde_json::Value, says: &str| {
        let answer = server.owner("POST", &path, Some(&body.to_string()));
        assert_eq!(answer.status, 422, "{body}: {}", answer.body);
        assert!(error_of(&answer).contains(says), "{body}: {}", answer.body);
    };
    refused(json!({"cloud": "proard"}), "has 0 evaluated proard student(s)");
    for i in 0..3 {
        student(&server, id, Cloud::Proard, i, 9, 0.3);
    }
    refused(json!({"cloud": "teacher"}), "fit on proard or baseline");
    refused(json!({"cloud": "proard", "epochs": 0}), "at least 1");
    let answer = server.owner("POST", &path, Some(r#"{"cloud": "proard", "layers": 2}"#));
    assert!(error_of(&answer).contains("layers"), "{}", answer.body);

    let before = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
    let answer =
        server.owner("POST", &path, Some(&json!({"cloud": "proard", "epochs": 3}).to_string()));
    assert_eq!(answer.status, 202, "{}", answer.body);
    let job = answer.json()["job"].as_i64().unwrap();
    let detail = server.owner("GET", &format!("/api/experiments/{id}"), None).json();
    let queued =
        detail["jobs"].as_array().unwrap().iter().find(|j| j["id"] == job).unwrap().clone();
    assert_eq!(queued["label"], "fit predictor (proard)");
    assert_eq!(
        queued["kind"],
        json!({"kind": "fit-predictor", "cloud": "proard", "epochs": 3, "seed": 0})
    );
    assert_eq!((&detail["progress"], &detail["status"]), (&before["progress"], &before["status"]));
    // Nothing fitted yet: the list is empty until the job ends.
    assert_eq!(server.owner("GET", &path, None).json(), json!([]));
}
