//! `kotoba topic list | hz | pub` and `--help`, through the real binary and router.

use std::process::Stdio;

mod common;
use common::{Kill, kotoba, router};

fn talker(ep: &str, rate: &str) -> Kill {
    Kill(
        kotoba()
            .args(["topic", "pub", "/chatter", "std_msgs/String", "{data: hello}", "--rate", rate, "--connect", ep])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn list_shows_topics_with_types() {
    let (_r, ep) = router();
    let _t = talker(&ep, "5");
    let out = kotoba().args(["topic", "list", "-t", "--wait", "2", "--connect", &ep]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(stdout.lines().any(|l| l.starts_with("/chatter [std_msgs/msg/String]")), "{stdout}");
}

#[test]
fn hz_measures_the_rate() {
    let (_r, ep) = router();
    let _t = talker(&ep, "20");
    let out = kotoba().args(["topic", "hz", "/chatter", "--timeout", "4", "--connect", &ep]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let rates: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("average rate: "))
        .map(|r| r.trim().parse().unwrap())
        .collect();
    let last = *rates.last().unwrap_or_else(|| panic!("no rate printed: {stdout}"));
    assert!((15.0..25.0).contains(&last), "rate {last} not near 20 Hz: {stdout}");
}

#[test]
fn echo_discovers_the_type_from_the_graph() {
    let (_r, ep) = router();
    let _t = talker(&ep, "20");
    let out = kotoba().args(["topic", "echo", "/chatter", "--count", "2", "--timeout", "20", "--connect", &ep]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("data: hello").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("---").count(), 2);
}

#[test]
fn bad_input_gives_clear_errors() {
    let out = kotoba().args(["topic", "pub", "/x", "nope/msg/Nothing", "{}", "--once"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown message type"));
    let out = kotoba().args(["topic", "pub", "/x", "std_msgs/msg/String", "{data: [1, 2]}", "--once"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a valid std_msgs/msg/String"));
    let out = kotoba().args(["topic", "pub", "/bad topic", "std_msgs/msg/String", "{}", "--once", "--backend", "inproc"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid topic name"));
}

#[test]
fn help_explains_every_topic_command() {
    for sub in ["list", "echo", "pub", "hz"] {
        let out = kotoba().args(["topic", sub, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(text.contains("--connect") && text.contains("--domain-id"), "{sub}: {text}");
    }
}
