//! Shared helpers: a scratch directory and a small synthetic episode.
#![allow(dead_code)]

use kotoba_msgs::{Qos, ZBuf, sensor_msgs, std_msgs, time_from_nanos};
use kotoba_recorder::{Dataset, EpisodeMeta, WriterOptions};
use std::path::PathBuf;

/// A fresh directory under the system temp dir, removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let p = std::env::temp_dir().join(format!("kotoba-recorder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub const T0: i64 = 1_700_000_000_000_000_000;
pub const MS: i64 = 1_000_000;

pub fn image(w: u32, h: u32, k: u8) -> sensor_msgs::Image {
    let data: Vec<u8> = (0..w * h * 3).map(|i| (i as u8).wrapping_mul(7).wrapping_add(k)).collect();
    sensor_msgs::Image {
        header: std_msgs::Header { stamp: time_from_nanos(T0), frame_id: "cam".into() },
        height: h,
        width: w,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: w * 3,
        data: ZBuf::from(data),
    }
}

/// Joint names deliberately not in the order the reader is asked for.
pub fn joints(t_s: f64) -> sensor_msgs::JointState {
    sensor_msgs::JointState {
        header: std_msgs::Header { stamp: time_from_nanos(T0 + (t_s * 1e9) as i64), frame_id: String::new() },
        name: vec!["elbow".into(), "shoulder".into(), "wrist".into()],
        position: vec![t_s, 10.0 + t_s, 20.0 + t_s],
        velocity: vec![1.0, 1.0, 1.0],
        effort: vec![0.0; 3],
    }
}

/// Writes a 2 s episode: joints at 100 Hz, 8×6 images at 10 Hz with no image
/// between 1.0 s and 1.5 s, labels at 0.5 s and 1.2 s, an instruction.
pub fn write_episode(ds: &mut Dataset, opts: &WriterOptions, success: bool) -> kotoba_recorder::EpisodeEntry {
    let meta = EpisodeMeta { instruction: "fallback".into(), operator: "tester".into(), robot_description_hash: Some("ab".into()) };
    let mut ep = ds.begin_episode(meta, opts).unwrap();
    ep.write_msg("/instruction", &Qos::latched(), &std_msgs::String { data: "fold the towel".into() }, T0, T0).unwrap();
    for k in 0..=200 {
        let t = T0 + k * 10 * MS;
        ep.write_msg("/joint_states", &Qos::default(), &joints(k as f64 * 0.01), t, t - MS).unwrap();
        if k % 10 == 0 && !(100..150).contains(&k) {
            ep.write_msg("/camera/image_raw", &Qos::sensor_data(), &image(8, 6, k as u8), t + MS, t).unwrap();
        }
        if k == 50 || k == 120 {
            let text = if k == 50 { "grasping the corner" } else { "folding now" };
            ep.write_msg("/labels", &Qos::default(), &std_msgs::String { data: text.into() }, t, t).unwrap();
        }
    }
    ds.save_episode(ep, success).unwrap()
}

pub fn python() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(p.exists(), "{} missing: run scripts/setup.sh (the README's test command does)", p.display());
    p
}

/// Runs the independent-reader cross-check on a dataset or episode dirs.
pub fn check_with_python(paths: &[&std::path::Path]) -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/check_bags.py");
    let out = std::process::Command::new(python()).arg(script).args(paths).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "python cross-check failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
