//! The JSON API and static files, over HTTP against a real server on loopback.

use proard_server::routes::ServerConfig;
use proard_shared::api::SpaceSummary;
use proard_shared::preset::presets;
use proard_tests::TestServer;

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
    let body =
        ureq::get(&server.url("/api/spaces")).call().unwrap().body_mut().read_to_string().unwrap();
    let got: Vec<SpaceSummary> = serde_json::from_str(&body).unwrap();
    let expected: Vec<SpaceSummary> = presets().iter().map(SpaceSummary::of).collect();
    assert_eq!(got, expected);
    assert_eq!(got[0].subnets, "2458914796962");
}

#[test]
fn one_space_by_name_and_a_clear_404_for_an_unknown_one() {
    let (server, _dir) = server_with_static(&[]);
    let body = ureq::get(&server.url("/api/spaces/mbv3-cifar"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    let got: SpaceSummary = serde_json::from_str(&body).unwrap();
    assert_eq!(got.subnets, "21758655492572485851");
    assert_eq!(got.encoding_dim, 121);

    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.get(&server.url("/api/spaces/resnet18")).call().unwrap();
    assert_eq!(response.status(), 404);
    let error: serde_json::Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
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

    let agent: ureq::Agent =
        ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let outside = agent.get(&server.url("/..%2f..%2fetc%2fpasswd")).call().unwrap();
    assert!(outside.status().is_client_error(), "{}", outside.status());
}
