//! Episodes written with the recorder's library API, exported to `.rrd`, and
//! read back with the Python rerun-sdk of the same version (tests/read_rrd.py).

use kotoba_msgs::{Message, Qos, ZBuf, diagnostic_msgs, sensor_msgs, std_msgs, trajectory_msgs};
use kotoba_recorder::{Compression, Dataset, EpisodeMeta, WriterOptions, bag_file};
use kotoba_replay::bench::{JOINTS, SyntheticEpisode, write_synthetic};
use kotoba_replay::{ReplayOptions, Target, replay};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const T0: i64 = 1_700_000_000_000_000_000;
const MS: i64 = 1_000_000;

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("kotoba-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(p.exists(), "{} missing: run ./scripts/setup.sh (installs rerun-sdk from scripts/requirements-ci.txt)", p.display());
    p
}

/// The entities of an .rrd as the Python rerun-sdk sees them.
fn read_rrd(rrd: &Path) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/read_rrd.py");
    let out = std::process::Command::new(python()).arg(script).arg(rrd).output().unwrap();
    assert!(out.status.success(), "read_rrd.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rows(v: &Value, entity: &str) -> u64 {
    v["entities"][entity]["rows"].as_u64().unwrap_or_else(|| panic!("no entity {entity} in {v:#}"))
}

fn enc<M: Message>(t: i64, topic: &str, m: &M) -> (i64, String, String, Vec<u8>) {
    (t, topic.to_string(), M::ROS_NAME.to_string(), kotoba_msgs::encode(m))
}

fn joint_state(names: &[String], x: f64) -> sensor_msgs::JointState {
    sensor_msgs::JointState { name: names.to_vec(), position: names.iter().map(|_| x).collect(), ..Default::default() }
}

fn image(w: u32, h: u32, v: u8) -> sensor_msgs::Image {
    let data = vec![v; (w * h * 3) as usize];
    sensor_msgs::Image { width: w, height: h, encoding: "rgb8".into(), step: w * 3, data: ZBuf::from(data), ..Default::default() }
}

/// A 2 s policy run with every topic kind replay knows, one it does not, and
/// one malformed joint state.
fn write_run(root: &Path) -> PathBuf {
    let names: Vec<String> = JOINTS.iter().map(|s| s.to_string()).collect();
    let mut msgs = Vec::new();
    msgs.push(enc(T0, "/instruction", &std_msgs::String { data: "fold the towel in half".into() }));
    for k in 0..200 {
        msgs.push(enc(T0 + k * 10 * MS, "/joint_states", &joint_state(&names, k as f64 * 0.005)));
    }
    for k in 0..100 {
        let data = vec![0.1 * k as f64; 7];
        msgs.push(enc(T0 + k * 20 * MS + MS, "/arm_controller/commands", &std_msgs::Float64MultiArray { data, ..Default::default() }));
    }
    for k in 0..20 {
        let t = T0 + k * 100 * MS + 2 * MS;
        msgs.push(enc(t, "/camera/image_raw", &image(32, 24, k as u8)));
        let point = trajectory_msgs::JointTrajectoryPoint { positions: vec![0.2; 7], ..Default::default() };
        let jt = trajectory_msgs::JointTrajectory { joint_names: names.clone(), points: vec![point], ..Default::default() };
        msgs.push(enc(t + 3 * MS, "/policy/joint_targets", &jt));
        let att = std_msgs::Float64MultiArray { data: vec![0.25, 0.5, 0.75, 0.5], ..Default::default() };
        msgs.push(enc(t + 3 * MS, "/policy/attention", &att));
        let label = if k < 10 { "reaching for the corner" } else { "grasping the corner" };
        msgs.push(enc(t + 4 * MS, "/policy/label", &std_msgs::String { data: label.into() }));
    }
    for (t, text) in [(100, "reaching for the corner"), (1000, "grasping the corner"), (1800, "")] {
        msgs.push(enc(T0 + t * MS, "/labels", &std_msgs::String { data: text.into() }));
    }
    for k in 0..2 {
        let st = |level, name: &str, message: &str| diagnostic_msgs::DiagnosticStatus {
            level,
            name: name.into(),
            message: message.into(),
            ..Default::default()
        };
        let d = diagnostic_msgs::DiagnosticArray {
            status: vec![st(0, "controller", "tracking"), st(1, "watchdog", "policy target late")],
            ..Default::default()
        };
        msgs.push(enc(T0 + (500 + k * 1000) * MS, "/diagnostics", &d));
    }
    for k in 0..5 {
        msgs.push(enc(T0 + k * 100 * MS + 5 * MS, "/leader/joint_states", &joint_state(&names, 0.0)));
    }
    // Decodes as a JointState, but 7 names and 2 positions: counted, not shown.
    let bad = sensor_msgs::JointState { name: names.clone(), position: vec![0.0, 1.0], ..Default::default() };
    msgs.push(enc(T0 + 1505 * MS, "/joint_states", &bad));
    msgs.sort_by_key(|m| m.0);

    let mut ds = Dataset::create(root, "/labels", "/instruction").unwrap();
    let meta = EpisodeMeta { instruction: "fold the towel in half".into(), ..Default::default() };
    let mut ep = ds.begin_episode(meta, &WriterOptions::default()).unwrap();
    for (t, topic, ty, cdr) in &msgs {
        ep.write(topic, ty, &Qos::default(), cdr, *t, *t).unwrap();
    }
    let dir = ep.dir().to_path_buf();
    ds.save_episode(ep, true).unwrap();
    dir
}

#[test]
fn episode_exports_and_python_rerun_reads_it_back() {
    let root = tmp("run");
    let dir = write_run(&root.join("ds"));
    let rrd = root.join("run.rrd");
    let reports = replay(&dir, &Target::Rrd(rrd.clone()), &ReplayOptions::default()).unwrap();
    let r = &reports[0];
    println!("{r}");
    assert!(r.missing_topics.is_empty() && r.truncated.is_none() && r.short_topics.is_empty(), "{r}");
    assert_eq!(r.malformed.get("/joint_states"), Some(&1), "{r}");
    assert!(r.skipped_topics.contains_key("/leader/joint_states"), "{r}");
    assert_eq!(r.rows["images"], 20);
    assert_eq!(r.rows["joint_states"], 200);

    let v = read_rrd(&rrd);
    println!("{}", serde_json::to_string(&v["stores"]).unwrap());
    assert_eq!(v["stores"]["applications"][0], "kotoba");
    assert_eq!(v["stores"]["blueprints"], 1, "the blueprint travels in the .rrd");
    // Images, joints (position, command, target), language, policy, diagnostics.
    assert_eq!(rows(&v, "/cameras/camera/image_raw"), 20);
    for j in JOINTS {
        assert_eq!(rows(&v, &format!("/joints/{j}/position")), 200, "{j}");
        assert_eq!(rows(&v, &format!("/joints/{j}/command")), 100, "{j}");
        assert_eq!(rows(&v, &format!("/joints/{j}/target")), 20, "{j}");
    }
    assert_eq!(rows(&v, "/language/instruction"), 1);
    assert_eq!(rows(&v, "/language/labels"), 3);
    assert_eq!(rows(&v, "/language/label"), 3, "one state change per label, the empty one ends the segment");
    assert_eq!(rows(&v, "/language/predicted_label"), 2, "logged when it changes");
    assert_eq!(rows(&v, "/cameras/camera/image_raw/attention"), 20);
    assert_eq!(rows(&v, "/diagnostics"), 4, "one row per status");
    // The robot: moving links animated at up to 100 Hz (here every 10 ms sample), fixed ones static.
    assert_eq!(rows(&v, "/robot/tcp"), 200);
    assert_eq!(rows(&v, "/robot/base_link"), 0);
    assert!(v["entities"]["/robot/base_link"]["static_rows"].as_u64().unwrap() > 0);
    assert!(v["entities"]["/robot/upper_arm_link/visual_1"]["components"].to_string().contains("Cylinders3D"));
    let tl = &v["entities"]["/cameras/camera/image_raw"]["timelines"];
    assert_eq!(tl, &serde_json::json!(["episode_time", "sample", "stamp"]));
    assert!(v["entities"].get("/leader/joint_states").is_none());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn truncated_and_interrupted_episodes_show_what_is_there() {
    let root = tmp("trunc");
    let ds_root = root.join("ds");
    // No /camera/image_raw (only a wrist camera): reported missing.
    let spec = SyntheticEpisode {
        seconds: 2.0,
        cameras: vec!["/wrist/image_raw".into()],
        width: 32,
        height: 24,
        fps: 10.0,
        joint_hz: 100.0,
        command_hz: 0.0,
        label_every_s: 0.5,
        compression: Compression::Zstd,
        chunk_size: 16 << 10,
        ..Default::default()
    };
    let dir = write_synthetic(&ds_root, &spec, T0).unwrap();
    // Cut the bag at 60 %: no summary, no footer, a half record at the end.
    let bag = bag_file(&dir).unwrap();
    let full = std::fs::read(&bag).unwrap();
    let cut = &full[..full.len() * 6 / 10];
    std::fs::write(&bag, cut).unwrap();
    // The same cut bag again as an episode the index never got (a crash).
    let lost = ds_root.join("episode_0001");
    std::fs::create_dir_all(&lost).unwrap();
    std::fs::write(lost.join("episode_0001_0.mcap"), cut).unwrap();

    let out = root.join("rrd");
    let reports = replay(&ds_root, &Target::Rrd(out.clone()), &ReplayOptions::default()).unwrap();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        println!("{r}");
        assert!(r.truncated.is_some(), "{r}");
        assert!(r.missing_topics.contains(&"/camera/image_raw".to_string()), "{r}");
        let images = r.rows.get("images").copied().unwrap_or(0);
        let joints = r.rows["joint_states"];
        assert!(joints > 0 && joints < 200, "{r}");
        let v = read_rrd(&out.join(format!("{}.rrd", r.episode)));
        assert_eq!(rows(&v, "/joints/shoulder_pan_joint/position"), joints);
        if images > 0 {
            assert_eq!(rows(&v, "/cameras/wrist/image_raw"), images);
        }
        // The end of the recording is marked on the timeline.
        assert!(rows(&v, "/diagnostics") >= 1);
    }
    let (indexed, lost) = (&reports[0], &reports[1]);
    assert!(!indexed.unindexed && lost.unindexed);
    assert!(indexed.short_topics.iter().any(|(t, want, got)| t == "/joint_states" && *want == 200 && got < want), "{indexed}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn not_an_episode_is_an_error_not_a_panic() {
    let root = tmp("bad");
    std::fs::create_dir_all(&root).unwrap();
    assert!(replay(&root, &Target::Rrd(root.join("x.rrd")), &ReplayOptions::default()).is_err());
    std::fs::write(root.join("junk.mcap"), b"definitely not mcap").unwrap();
    let r = replay(&root.join("junk.mcap"), &Target::Rrd(root.join("x.rrd")), &ReplayOptions::default());
    // Either refused or reported as truncated with nothing in it; never a panic.
    if let Ok(reports) = r {
        assert!(reports[0].truncated.is_some() || !reports[0].missing_topics.is_empty());
    }
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn connect_streams_to_a_running_rerun_server() {
    // The 0.36.3 `rerun` CLI from the venv, headless: it listens for SDK
    // connections and saves what arrives.
    let rerun = python().with_file_name("rerun");
    let root = tmp("connect");
    let dir = write_run(&root.join("ds"));
    let saved = root.join("received.rrd");
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    // The venv's `rerun` is a Python launcher that starts the viewer binary
    // as its child: in a process group of their own, both can be stopped.
    use std::os::unix::process::CommandExt;
    let mut server = std::process::Command::new(&rerun)
        .process_group(0)
        .arg("--save")
        .arg(&saved)
        .arg("--port")
        .arg(port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let result = replay(&dir, &Target::Connect(format!("127.0.0.1:{port}")), &ReplayOptions::default());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", server.id())]).status();
    let _ = server.wait();
    let r = &result.unwrap()[0];
    assert!(r.sink_error.is_none(), "{r}");
    let v = read_rrd(&saved);
    assert_eq!(rows(&v, "/cameras/camera/image_raw"), 20);
    assert_eq!(rows(&v, "/joints/elbow_joint/position"), 200);
    assert_eq!(rows(&v, "/language/labels"), 3);
    let _ = std::fs::remove_dir_all(&root);
}

/// Replays `dir` to `addr` on another thread and gives up on it after
/// `limit`, so a hang fails this test instead of stalling the whole suite.
fn replay_within(dir: &Path, addr: String, flush: Duration, limit: Duration) -> kotoba_replay::ExportReport {
    let dir = dir.to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let opts = ReplayOptions { flush_timeout: flush, ..Default::default() };
        let _ = tx.send(replay(&dir, &Target::Connect(addr), &opts).map(|mut r| r.remove(0)));
    });
    rx.recv_timeout(limit).unwrap_or_else(|_| panic!("replay still running after {limit:?}")).unwrap()
}

#[test]
fn connect_to_nothing_is_reported_not_hung() {
    let root = tmp("nothing");
    let dir = write_run(&root.join("ds"));
    // A port that was just free: nothing listens there, so connecting is refused.
    // (A fixed port such as 9 is not safe: some machines run a discard service on it.)
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let r = replay_within(&dir, format!("127.0.0.1:{port}"), Duration::from_secs(120), Duration::from_secs(100));
    assert!(r.sink_error.is_some(), "{r}");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_viewer_that_never_answers_is_reported_not_hung() {
    let root = tmp("silent");
    // Full-size frames: far more than one HTTP/2 flow-control window (64 KiB).
    let spec = SyntheticEpisode { seconds: 2.0, fps: 10.0, joint_hz: 100.0, command_hz: 0.0, ..Default::default() };
    let dir = write_synthetic(&root.join("ds"), &spec, T0).unwrap();
    // Accepts the connection, then neither reads nor writes: rerun's client
    // sends until the HTTP/2 window is full and waits for an answer forever.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming() {
            held.push(s);
        }
    });
    let r = replay_within(&dir, addr.to_string(), Duration::from_secs(3), Duration::from_secs(100));
    assert!(r.sink_error.is_some(), "{r}");
    let _ = std::fs::remove_dir_all(&root);
}
