//! Interop with an independent peer: the Python `eclipse-zenoh` binding plus the
//! `rosbags` CDR deserializer (installed into `.venv` by `scripts/setup.sh`),
//! talking to the real `kotoba` binary through a real Zenoh router.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

mod common;
use common::{Kill, router};
use std::time::Duration;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let p = root().join(".venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup.sh (the README's test command does)", p.display());
    p
}

fn peer(args: &[&str]) -> Command {
    let mut c = Command::new(python());
    c.arg(root().join("tests/peers/zenoh_peer.py")).args(args);
    c
}

fn wait_ready(child: &mut Child) -> BufReader<std::process::ChildStdout> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert!(line.contains("ready"), "peer did not start: {line:?}");
    out
}

#[test]
fn python_peer_decodes_what_kotoba_topic_pub_sends() {
    let (_router, ep) = router();
    let mut listener = peer(&["listen", "--connect", &ep, "--count", "3", "--timeout", "30"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_ready(&mut listener);
    let _publisher = Kill(
        Command::new(env!("CARGO_BIN_EXE_kotoba"))
            .args(["topic", "pub", "/joint_states", "sensor_msgs/msg/JointState"])
            .arg("{header: {stamp: {sec: 42, nanosec: 7}, frame_id: base}, name: [shoulder, elbow], position: [0.25, -1.5], velocity: [1.0, 2.0], effort: [3.5, 4.5]}")
            .args(["--rate", "20", "--times", "200", "--connect", &ep])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let lines: Vec<serde_json::Value> =
        out.lines().map(|l| serde_json::from_str(&l.unwrap()).unwrap()).collect();
    assert!(listener.wait().unwrap().success(), "peer timed out");
    assert_eq!(lines.len(), 3);
    let mut last_seq = 0;
    for m in &lines {
        assert_eq!(
            m["key"],
            "0/joint_states/sensor_msgs::msg::dds_::JointState_/RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e"
        );
        let att = &m["attachment"];
        assert_eq!(att["len"], 33);
        assert_eq!(att["valid"], true);
        let seq = att["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "sequence numbers increase");
        last_seq = seq;
        assert!(att["source_ns"].as_i64().unwrap() > 1_600_000_000_000_000_000);
        assert_eq!(m["stamp"], serde_json::json!([42, 7]));
        assert_eq!(m["frame_id"], "base");
        assert_eq!(m["name"], serde_json::json!(["shoulder", "elbow"]));
        assert_eq!(m["position"], serde_json::json!([0.25, -1.5]));
        assert_eq!(m["velocity"], serde_json::json!([1.0, 2.0]));
        assert_eq!(m["effort"], serde_json::json!([3.5, 4.5]));
    }
}

fn echo(ep: &str, count: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kotoba"))
        .args(["topic", "echo", "/joint_states", "--type", "sensor_msgs/msg/JointState", "--json"])
        .args(["--count", count, "--timeout", "30", "--connect", ep])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn kotoba_topic_echo_decodes_what_the_python_peer_sends() {
    let (_router, ep) = router();
    let echo = echo(&ep, "3");
    std::thread::sleep(Duration::from_millis(500));
    let _pub = Kill(peer(&["publish", "--connect", &ep, "--count", "400", "--period", "0.05"]).spawn().unwrap());
    let out = echo.wait_with_output().unwrap();
    assert!(out.status.success(), "echo failed: {}", String::from_utf8_lossy(&out.stderr));
    let msgs: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(msgs.len(), 3);
    for m in &msgs {
        assert_eq!(m["type"], "sensor_msgs/msg/JointState");
        assert_eq!(m["attachment"]["gid"], "000102030405060708090a0b0c0d0e0f");
        let i = m["attachment"]["sequence"].as_i64().unwrap();
        assert_eq!(m["msg"]["header"]["stamp"]["sec"], 100 + i);
        assert_eq!(m["msg"]["header"]["frame_id"], "peer");
        assert_eq!(m["msg"]["name"], serde_json::json!(["shoulder", "elbow"]));
        assert_eq!(m["msg"]["position"], serde_json::json!([0.5 * i as f64, -1.25]));
        assert_eq!(m["msg"]["velocity"], serde_json::json!([0.1, 0.2]));
    }
}

#[test]
fn echo_counts_and_drops_samples_without_attachment_or_with_bad_cdr() {
    let (_router, ep) = router();
    let echo = echo(&ep, "1");
    std::thread::sleep(Duration::from_millis(500));
    let bad = peer(&["publish", "--connect", &ep, "--count", "20", "--period", "0.02", "--attachment", "none"])
        .status()
        .unwrap();
    assert!(bad.success());
    let garbage = peer(&["publish", "--connect", &ep, "--count", "20", "--period", "0.02", "--garbage"])
        .status()
        .unwrap();
    assert!(garbage.success());
    let _good = Kill(peer(&["publish", "--connect", &ep, "--count", "400", "--period", "0.05"]).spawn().unwrap());
    let out = echo.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
    assert!(err.contains("without attachment"), "{err}");
    let summary = err.lines().find(|l| l.contains("received,")).expect(&err);
    let num = |what: &str| -> u64 {
        let i = summary.find(what).unwrap();
        summary[..i].trim_end().rsplit(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    assert!(num("without attachment") >= 1, "{summary}");
    assert!(num("malformed") >= 1, "{summary}");
}
