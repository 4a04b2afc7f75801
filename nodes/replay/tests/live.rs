//! The live view: events from another thread through the bounded channel end
//! up in the recording (read back with the Python rerun-sdk).

use kotoba_recorder::ImageRgb8;
use kotoba_replay::bench::JOINTS;
use kotoba_replay::{LiveEvent, LiveView, Robot, Target, open_stream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

const T0: i64 = 1_700_000_000_000_000_000;

#[test]
fn live_events_from_another_thread_reach_the_recording() {
    let root = std::env::temp_dir().join(format!("kotoba-replay-live-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let rrd = root.join("live.rrd");
    let rec = open_stream(&Target::Rrd(rrd.clone()), "live").unwrap();
    let cams = ["/camera/image_raw".to_string()];
    // Large enough that nothing is dropped here; dropping is tested below.
    let live = LiveView::start(rec, Some(Robot::kotoba_arm().unwrap()), T0, &cams, 4096).unwrap();
    let tx = live.sender();
    let producer = std::thread::spawn(move || {
        let names: Arc<[String]> = JOINTS.iter().map(|s| s.to_string()).collect();
        for k in 0..300i64 {
            let t = T0 + k * 1_000_000;
            assert!(tx.send(LiveEvent::JointState { t_ns: t, names: names.clone(), positions: vec![k as f64 * 1e-3; 7] }));
            if k % 30 == 0 {
                let image = ImageRgb8 { width: 16, height: 12, data: vec![k as u8; 16 * 12 * 3] };
                assert!(tx.send(LiveEvent::Image { t_ns: t, topic: cams[0].clone(), image }));
                assert!(tx.send(LiveEvent::Targets { t_ns: t, names: names.clone(), positions: vec![0.1; 7] }));
                assert!(tx.send(LiveEvent::Attention { t_ns: t, topic: cams[0].clone(), xy: vec![0.5, 0.5] }));
            }
        }
        tx.send(LiveEvent::PredictedLabel { t_ns: T0, text: "grasping the corner".into() });
        tx.send(LiveEvent::Label { t_ns: T0, text: "grasping the corner".into() });
        tx.send(LiveEvent::Diagnostic { t_ns: T0, level: 1, text: "watchdog: late target".into() });
    });
    producer.join().unwrap();
    let (sent, dropped) = (live.stats().sent.load(Ordering::Relaxed), live.stats().dropped.load(Ordering::Relaxed));
    live.close().unwrap();
    assert_eq!((sent, dropped), (300 + 10 * 3 + 3, 0));

    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/read_rrd.py");
    let out = std::process::Command::new(py).arg(script).arg(&rrd).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = |e: &str| v["entities"][e]["rows"].as_u64().unwrap_or_else(|| panic!("no {e}: {v:#}"));
    assert_eq!(rows("/joints/elbow_joint/position"), 300);
    assert_eq!(rows("/joints/elbow_joint/target"), 10);
    assert_eq!(rows("/cameras/camera/image_raw"), 10);
    assert_eq!(rows("/cameras/camera/image_raw/attention"), 10);
    assert_eq!(rows("/language/predicted_label"), 1);
    assert_eq!(rows("/language/labels"), 1);
    assert_eq!(rows("/diagnostics"), 1);
    // Poses at the live rate (60 Hz) from 1 kHz joint states: every 17th ms or so.
    let poses = rows("/robot/tcp");
    assert!((17..=19).contains(&poses), "{poses}");
    assert_eq!(v["stores"]["blueprints"], 1);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn a_full_queue_drops_instead_of_blocking() {
    let rec = kotoba_replay::rerun::RecordingStreamBuilder::new("kotoba-test").buffered().unwrap();
    let live = LiveView::start(rec, None, T0, &[], 1).unwrap();
    let tx = live.sender();
    let names: Arc<[String]> = Arc::from(vec!["j".to_string()]);
    let t = std::time::Instant::now();
    for k in 0..20_000 {
        tx.send(LiveEvent::JointState { t_ns: T0 + k, names: names.clone(), positions: vec![0.0] });
    }
    let elapsed = t.elapsed();
    let s = live.stats();
    let (sent, dropped) = (s.sent.load(Ordering::Relaxed), s.dropped.load(Ordering::Relaxed));
    assert_eq!(sent + dropped, 20_000);
    live.close().unwrap();
    println!("20000 sends into a 1-slot queue: {sent} queued, {dropped} dropped, {elapsed:?}");
    assert!(elapsed < std::time::Duration::from_secs(2), "send must not wait for the logger");
}
