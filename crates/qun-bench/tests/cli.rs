//! The command line as an operator meets it: mistakes are refused with a message that says
//! what was wrong, before any load is generated.
//!
//! (These tests also make `cargo test` build the `qun-bench` binary, which CI's smoke run uses,
//! with the same features as the rest of the test build.)

use std::process::{Command, Output};

fn qun_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qun-bench")).args(args).output().expect("qun-bench runs")
}

#[test]
fn an_unknown_scenario_is_refused_with_the_scenarios_there_are() {
    let output = qun_bench(&["run", "S9"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'S9'"), "{stderr}");
    for scenario in ["S1", "S2", "S3", "S4", "S5", "S6", "calibration"] {
        assert!(stderr.contains(scenario), "{scenario} not offered: {stderr}");
    }
}

#[test]
fn a_server_binary_that_is_not_there_fails_the_run_and_is_named() {
    let out = std::env::temp_dir().join(format!("qun-bench-cli-{}", std::process::id()));
    let missing = out.join("no-such-qun");
    let output = qun_bench(&[
        "smoke",
        "--no-pin",
        "--qun-bin",
        missing.to_str().expect("utf-8 path"),
        "--out",
        out.to_str().expect("utf-8 path"),
    ]);
    let _ = std::fs::remove_dir_all(&out);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no-such-qun"), "the missing binary is not named: {stderr}");
}
