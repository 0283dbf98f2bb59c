//! The simulator on a small pool and fleet against the real binary: every phase runs to the
//! end, and what it measures holds the properties that do not depend on timing (no two writers,
//! nothing moved by a restart within the lease, no config bytes while nothing changed).

use std::process::Command;

fn simulate(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_logplane-sim"))
        .args(args)
        .arg("--logplane-bin")
        .arg(logplane_e2e::logplane_binary())
        .output()
        .expect("run logplane-sim");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "logplane-sim {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_small_pool_goes_through_every_event_without_two_writers() {
    let report = simulate(&[
        "workers",
        "--workers=3",
        "--zones=2",
        "--logstores=2",
        "--shards-per-logstore=4",
        "--crashes=1",
        "--leader-kills=1",
        "--replicas=2",
        "--worker-lease-ms=2000",
        "--leader-lease-ms=1000",
        "--wait-ms=500",
        "--load-smoothing-ms=200",
        "--distributions=zipf",
    ]);
    assert!(
        report.contains("| moments two workers could write the same keys: 0 | 0 | met |"),
        "{report}"
    );
    for event in ["w-04 joins", "w-01 drained", "rolling restart of 3 workers"] {
        assert!(
            report.contains(&format!("| {event} | ingest owners |")),
            "{report}"
        );
    }
    assert!(
        report.contains("| rolling restart of 3 workers | ingest owners | 0 | 0 |"),
        "a restart within the lease moves nothing:\n{report}"
    );
    assert!(report.contains("| Zipf"), "{report}");
}

#[test]
fn a_small_fleet_receives_every_change_and_no_bytes_while_nothing_changes() {
    let report = simulate(&[
        "agents",
        "--agents=40",
        "--changes=2",
        "--wait-ms=2000",
        "--quiet-s=2",
        "--baseline-interval-ms=1000",
        "--baseline-changes=1",
    ]);
    assert!(report.contains("(80 receipts over 2 changes)"), "{report}");
    assert!(report.contains("| 0 bundles, 0 bytes in 2 s"), "{report}");
    assert!(report.contains("| all |"), "{report}");
}
