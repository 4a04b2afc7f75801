//! The real `kotoba record` binary, SIGKILLed mid-episode and run out of disk:
//! earlier episodes stay intact, the index stays valid, and the interrupted
//! episode is recovered with at most ~1 s missing. Independent readers
//! (Python rosbags + mcap) then read every episode.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("kotoba-rec-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn kotoba(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kotoba"));
    c.args(args).args(["--backend", "inproc", "--no-keys"]);
    c
}

fn index(ds: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(ds.join("index.json")).unwrap();
    serde_json::from_str(&text).expect("index.json must always be valid JSON")
}

fn python_check(ds: &Path) {
    let py = root().join(".venv/bin/python");
    assert!(py.exists(), "{} missing: run scripts/setup.sh (the README's test command does)", py.display());
    let out = Command::new(py).arg(root().join("nodes/recorder/tests/check_bags.py")).arg(ds).output().unwrap();
    assert!(
        out.status.success(),
        "python cross-check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

#[test]
fn sigkill_mid_episode_loses_at_most_a_second() {
    let ds = scratch("sigkill");
    let d = ds.to_str().unwrap();
    let st = kotoba(&["record", d, "--synthetic", "--episodes", "1", "--episode-duration", "1"]).status().unwrap();
    assert!(st.success());
    assert_eq!(index(&ds)["episodes"].as_array().unwrap().len(), 1);

    let mut child = kotoba(&["record", d, "--resume", "--synthetic", "--episodes", "3", "--episode-duration", "30"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut line = String::new();
    while !line.contains("recording episode_0001") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "recorder exited early");
        assert!(Instant::now() < deadline, "recorder did not start");
    }
    std::thread::sleep(Duration::from_millis(2500));
    let kill_ns = now_ns();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    // Earlier episode intact, index valid and unchanged.
    let idx = index(&ds);
    assert_eq!(idx["episodes"].as_array().unwrap().len(), 1);
    assert!(ds.join("episode_0001").is_dir());

    let out = kotoba(&["record", d, "--recover"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("recovered episode_0001"), "{stdout}");
    let idx = index(&ds);
    let eps = idx["episodes"].as_array().unwrap();
    assert_eq!(eps.len(), 2);
    let e = &eps[1];
    assert_eq!(e["recovered"], true);
    assert_eq!(e["instruction"], "fold the towel in half");
    let end_ns = e["start_ns"].as_i64().unwrap() + (e["duration_s"].as_f64().unwrap() * 1e9) as i64;
    let lost_s = (kill_ns - end_ns) as f64 * 1e-9;
    assert!(lost_s <= 1.0, "recovered episode ends {lost_s:.3} s before the kill");
    assert!(e["duration_s"].as_f64().unwrap() > 1.0, "{e}");
    assert!(e["message_counts"]["/joint_states"].as_u64().unwrap() > 100, "{e}");
    assert!(!e["labels"].as_array().unwrap().is_empty(), "{e}");
    println!("lost {lost_s:.3} s of the killed episode");
    python_check(&ds);
    let _ = std::fs::remove_dir_all(&ds);
}

#[test]
fn disk_full_gives_a_clear_error_and_a_clean_stop() {
    let ds = scratch("diskfull");
    let d = ds.to_str().unwrap();
    let st = kotoba(&["record", d, "--synthetic", "--episodes", "1", "--episode-duration", "1"]).status().unwrap();
    assert!(st.success());
    // ~300 kB per episode file: the synthetic camera fills that in about a second.
    let out = kotoba(&["record", d, "--resume", "--synthetic", "--episodes", "2", "--episode-duration", "20", "--size-cap", "300000", "--compression", "none", "--flush-interval-ms", "100"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("disk full") && stderr.contains("--recover"), "{stderr}");
    assert_eq!(index(&ds)["episodes"].as_array().unwrap().len(), 1);
    let out = kotoba(&["record", d, "--recover"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(index(&ds)["episodes"].as_array().unwrap().len(), 2);
    python_check(&ds);
    let _ = std::fs::remove_dir_all(&ds);
}
