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
