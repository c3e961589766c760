//! The `proard` binary as a user runs it.

use std::process::{Command, Output};

use serde_json::Value;

fn proard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_proard")).args(args).output().expect("proard runs")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A failure must be one clear line on stderr and a non-zero exit, never a panic.
fn failure(args: &[&str]) -> String {
    let output = proard(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "{args:?} should fail");
    assert!(!stderr.contains("panicked"), "{args:?} panicked:\n{stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}:\n{stderr}");
    stderr
}

#[test]
fn show_json_gives_exact_counts_and_ranges() {
    let json: Value =
        serde_json::from_str(&stdout(&proard(&["space", "show", "resnet50-cifar", "--json"])))
            .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "name": "resnet50-cifar", "subnets": "2458914796962",
            "macs_min": 285_232_096u64, "macs_max": 2_358_013_952u64,
            "params_min": 5_223_570u64, "params_max": 46_077_482u64, "encoding_dim": 75
        })
    );
    let json: Value =
        serde_json::from_str(&stdout(&proard(&["space", "show", "mbv3-cifar", "--json"]))).unwrap();
    assert_eq!(json["subnets"], "21758655492572485851");
    assert_eq!(
        (json["macs_min"].as_u64(), json["macs_max"].as_u64()),
        (Some(35_293_824), Some(179_706_624))
    );
    assert_eq!(json["encoding_dim"], 121);
}

#[test]
fn show_reads_space_files_and_describes_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let preset_json = stdout(&proard(&["space", "show", "resnet-mini", "--json"]));
    let file = dir.path().join("mine.toml");
    std::fs::write(&file, proard_shared::preset::preset("resnet-mini").unwrap().to_toml()).unwrap();
    let from_file = stdout(&proard(&["space", "show", file.to_str().unwrap(), "--json"]));
    assert_eq!(from_file, preset_json);

    let text = stdout(&proard(&["space", "show", "resnet50-cifar"]));
    for expected in
        ["2 458 914 796 962", "285.2 M … 2358.0 M", "stage 4", "widths 1328/1640/2048", "75 dims"]
    {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
}

#[test]
fn sample_is_seeded_valid_and_costed() {
    let args = ["space", "sample", "mbv3-cifar", "--n", "20", "--seed", "3", "--json"];
    let first = stdout(&proard(&args));
    assert_eq!(first, stdout(&proard(&args)), "same seed, same archs");
    let other =
        stdout(&proard(&["space", "sample", "mbv3-cifar", "--n", "20", "--seed", "4", "--json"]));
    assert_ne!(first, other);

    let space = proard_shared::preset::preset("mbv3-cifar").unwrap();
    let lines: Vec<&str> = first.lines().collect();
    assert_eq!(lines.len(), 20);
    for line in lines {
        let record: proard_shared::api::SampledArch = serde_json::from_str(line).unwrap();
        let cost = space.subnet(&record.arch).expect("a valid arch").cost();
        assert_eq!((record.macs, record.params), (cost.macs, cost.params));
        assert!((35_293_824..=179_706_624).contains(&record.macs));
    }
}

#[test]
fn bad_input_gets_one_clear_message() {
    let message = failure(&["space", "show", "resnet18"]);
    assert!(
        message.contains("unknown space `resnet18`") && message.contains("mbv3-cifar"),
        "{message}"
    );

    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let malformed = write("broken.toml", "family = \"resnet\"\nname = [\n");
    let message = failure(&["space", "show", &malformed]);
    assert!(message.contains("broken.toml: not a valid space description"), "{message}");

    let valid = proard_shared::preset::preset("mbv3-mini").unwrap().to_toml();
    let empty_list =
        write("empty.toml", &valid.replacen("kernel_sizes = [3, 5, 7]", "kernel_sizes = []", 1));
    let message = failure(&["space", "sample", &empty_list, "--n", "2"]);
    assert!(
        message.contains("empty.toml: stages[0].kernel_sizes: choice list must not be empty"),
        "{message}"
    );

    let wrong_extension = write("space.yaml", "family: resnet");
    let message = failure(&["space", "show", &wrong_extension]);
    assert!(message.contains("unsupported extension"), "{message}");
}
