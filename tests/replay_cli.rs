//! `kotoba replay` end to end: a synthetic dataset → .rrd files, and bad input
//! → an error message, not a panic.

use kotoba_replay::bench::{SyntheticEpisode, write_synthetic};
use std::path::PathBuf;
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("kotoba-replay-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

#[test]
fn replay_writes_rrd_for_an_episode_and_a_dataset() {
    let root = scratch("ok");
    let spec = SyntheticEpisode { seconds: 1.0, width: 32, height: 24, fps: 10.0, joint_hz: 100.0, ..Default::default() };
    let ep = write_synthetic(&root.join("ds"), &spec, 1_700_000_000_000_000_000).unwrap();

    let one = root.join("one.rrd");
    let out = Command::new(env!("CARGO_BIN_EXE_kotoba")).arg("replay").arg(&ep).arg("--rrd").arg(&one).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("episode_0000: ") && stdout.contains("joint_states 100"), "{stdout}");
    assert!(std::fs::metadata(&one).unwrap().len() > 0);

    let dir = root.join("all");
    let out = Command::new(env!("CARGO_BIN_EXE_kotoba")).arg("replay").arg(root.join("ds")).arg("--rrd").arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("episode_0000.rrd").exists());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn replay_of_nothing_fails_cleanly() {
    let root = scratch("bad");
    std::fs::create_dir_all(&root).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kotoba")).arg("replay").arg(&root).arg("--rrd").arg(root.join("x.rrd")).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("error:") && stderr.contains("neither a dataset") && !stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&root);
}

/// `kotoba record --view-rrd`: what is being recorded streams live to rerun
/// (read back by the Python rerun-sdk): joints, robot, camera, labels, instruction.
#[test]
fn record_streams_what_it_records_to_a_live_view() {
    let root = scratch("live");
    let rrd = root.join("live.rrd");
    let out = Command::new(env!("CARGO_BIN_EXE_kotoba"))
        .arg("record")
        .arg(root.join("ds"))
        .args(["--synthetic", "--episodes", "1", "--episode-duration", "2", "--no-keys", "--view-rrd"])
        .arg(&rrd)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("live view: ") && stdout.contains(" 0 dropped"), "{stdout}");
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let r = Command::new(manifest.join(".venv/bin/python")).arg(manifest.join("nodes/replay/tests/read_rrd.py")).arg(&rrd).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    let ents = v["entities"].as_object().unwrap();
    let rows = |p: &str| -> u64 { ents.iter().filter(|(k, _)| k.starts_with(p)).map(|(_, e)| e["rows"].as_u64().unwrap()).sum() };
    // 2 s of 100 Hz joints (7 series), 30 Hz camera, the labels and the instruction.
    assert!(rows("/joints/joint_1/position") >= 150, "{:?}", ents.keys());
    assert!(rows("/cameras/") >= 40, "{:?}", ents.keys());
    assert!(rows("/robot/tcp") > 0 && rows("/language/labels") > 0 && rows("/language/instruction") > 0, "{:?}", ents.keys());
    let _ = std::fs::remove_dir_all(&root);
}
