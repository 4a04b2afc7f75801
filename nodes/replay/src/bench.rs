//! `kotoba bench replay`: the time to export a synthetic episode (two rgb8
//! cameras at 30 Hz, 7-joint JointState at 1 kHz, commands, labels, the
//! instruction) to an `.rrd` file, against the time to only read and decode
//! the same bag.

use crate::error::{ReplayError, Result};
use crate::export::{ReplayOptions, export_episode};
use crate::source::{Target, find_episodes, open_stream};
use kotoba_core::{BenchReport, BenchRow, Better};
use kotoba_msgs::{Qos, ZBuf, sensor_msgs, std_msgs};
use kotoba_recorder::{Compression, Dataset, EpisodeMeta, WriterOptions, bag_file, bag_messages};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What [`write_synthetic`] records.
#[derive(Debug, Clone)]
pub struct SyntheticEpisode {
    pub seconds: f64,
    pub cameras: Vec<String>,
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub joint_hz: f64,
    /// `/arm_controller/commands` rate (0 = none).
    pub command_hz: f64,
    /// A label every this many seconds (0 = none).
    pub label_every_s: f64,
    pub instruction: String,
    pub compression: Compression,
    /// MCAP chunk size, uncompressed bytes.
    pub chunk_size: u64,
}

impl Default for SyntheticEpisode {
    fn default() -> Self {
        SyntheticEpisode {
            seconds: 60.0,
            cameras: vec!["/camera/image_raw".into(), "/wrist/image_raw".into()],
            width: 640,
            height: 480,
            fps: 30.0,
            joint_hz: 1000.0,
            command_hz: 1000.0,
            label_every_s: 5.0,
            instruction: "fold the towel in half".into(),
            compression: Compression::None,
            chunk_size: 4 << 20,
        }
    }
}

/// The arm's joints as the simulator publishes them.
pub const JOINTS: [&str; 7] = [
    "shoulder_pan_joint",
    "shoulder_lift_joint",
    "elbow_joint",
    "wrist_1_joint",
    "wrist_2_joint",
    "wrist_3_joint",
    "gripper_joint",
];

/// Records `spec` as one episode of a new dataset in `root`; returns the
/// episode directory. Messages are written in time order, stamped from
/// `t0_ns`.
pub fn write_synthetic(root: &Path, spec: &SyntheticEpisode, t0_ns: i64) -> Result<PathBuf> {
    let mut ds = Dataset::create(root, "/labels", "/instruction")?;
    let opts = WriterOptions { compression: spec.compression, chunk_size: spec.chunk_size, ..Default::default() };
    let meta = EpisodeMeta { instruction: spec.instruction.clone(), ..Default::default() };
    let mut ep = ds.begin_episode(meta, &opts)?;
    let (qos, sensor) = (Qos::default(), Qos::sensor_data());
    let period = |hz: f64| if hz > 0.0 { (1e9 / hz) as i64 } else { i64::MAX };
    let (dj, dc, di) = (period(spec.joint_hz), period(spec.command_hz), period(spec.fps));
    let dl = if spec.label_every_s > 0.0 { (spec.label_every_s * 1e9) as i64 } else { i64::MAX };
    let end = (spec.seconds * 1e9) as i64;
    let labels = ["reaching for the corner", "grasping the corner", "folding", ""];
    ep.write_msg("/instruction", &qos, &std_msgs::String { data: spec.instruction.clone() }, t0_ns, t0_ns)?;
    let first = |d: i64| if d == i64::MAX { i64::MAX } else { 0 };
    let (mut tj, mut tc, mut ti, mut tl) = (first(dj), first(dc), first(di), first(dl));
    let (mut frame, mut label) = (0u64, 0usize);
    let names: Vec<String> = JOINTS.iter().map(|s| s.to_string()).collect();
    let mut pixels = vec![0u8; (spec.width * spec.height * 3) as usize];
    while tj < end || ti < end {
        let next = tj.min(tc).min(ti).min(tl);
        let t = t0_ns + next;
        if next == tj {
            let x = next as f64 * 1e-9;
            let position: Vec<f64> = (0..JOINTS.len()).map(|k| 0.5 * (x * 0.5 + k as f64).sin()).collect();
            let js = sensor_msgs::JointState { name: names.clone(), position, ..Default::default() };
            ep.write_msg("/joint_states", &sensor, &js, t, t)?;
            tj = tj.saturating_add(dj);
        } else if next == tc {
            let x = next as f64 * 1e-9;
            let data: Vec<f64> = (0..JOINTS.len()).map(|k| 0.5 * (x * 0.5 + k as f64 + 0.05).sin()).collect();
            ep.write_msg("/arm_controller/commands", &qos, &std_msgs::Float64MultiArray { data, ..Default::default() }, t, t)?;
            tc = tc.saturating_add(dc);
        } else if next == ti {
            for (c, topic) in spec.cameras.iter().enumerate() {
                // A moving diagonal gradient: cheap, and not all one colour.
                let shift = (frame as usize * 4 + c * 64) % 256;
                for (i, px) in pixels.chunks_exact_mut(3).enumerate() {
                    let (x, y) = (i % spec.width as usize, i / spec.width as usize);
                    px[0] = ((x + shift) % 256) as u8;
                    px[1] = ((y + shift) % 256) as u8;
                    px[2] = (c * 120) as u8;
                }
                let img = sensor_msgs::Image {
                    width: spec.width,
                    height: spec.height,
                    encoding: "rgb8".into(),
                    step: spec.width * 3,
                    data: ZBuf::from(pixels.clone()),
                    ..Default::default()
                };
                ep.write_msg(topic, &sensor, &img, t, t)?;
            }
            frame += 1;
            ti = ti.saturating_add(di);
        } else {
            let text = labels[label % labels.len()].to_string();
            ep.write_msg("/labels", &qos, &std_msgs::String { data: text }, t, t)?;
            label += 1;
            tl = tl.saturating_add(dl);
        }
        if tc >= end {
            tc = i64::MAX;
        }
        if tl >= end {
            tl = i64::MAX;
        }
        if ti >= end {
            ti = i64::MAX;
        }
        if tj >= end {
            tj = i64::MAX;
        }
    }
    let dir = ep.dir().to_path_buf();
    ds.save_episode(ep, true)?;
    Ok(dir)
}

fn bench_dir() -> PathBuf {
    // target/ is on the same disk as the workspace; /tmp may be a tmpfs.
    std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()).join("target").join("bench-replay")
}

/// Runs the benchmark; `quick` exports 5 s instead of 60 s.
pub fn run(quick: bool) -> Result<BenchReport> {
    let spec = SyntheticEpisode { seconds: if quick { 5.0 } else { 60.0 }, ..Default::default() };
    let root = bench_dir();
    let _ = std::fs::remove_dir_all(&root);
    let t_write = Instant::now();
    let dir = write_synthetic(&root.join("dataset"), &spec, 1_700_000_000_000_000_000)?;
    let write_s = t_write.elapsed().as_secs_f64();
    let bag = bag_file(&dir)?;
    let bag_bytes = std::fs::metadata(&bag).map_err(|e| ReplayError::io(&bag, e))?.len();

    // Peer: read and decode every message of the bag, no rerun.
    let t_read = Instant::now();
    let mut n = 0u64;
    for m in bag_messages(&bag, false)? {
        let m = m?;
        n += 1;
        if m.ros_type().ends_with("Image") {
            let _ = kotoba_recorder::decode_image(&m.data);
        }
    }
    let read_s = t_read.elapsed().as_secs_f64();

    let opts = ReplayOptions::default();
    let src = find_episodes(&dir, &opts)?.remove(0);
    let rrd = root.join("episode.rrd");
    let t_export = Instant::now();
    let rec = open_stream(&Target::Rrd(rrd.clone()), &src.name)?;
    let report = export_episode(&rec, &src, &opts)?;
    drop(rec);
    let export_s = t_export.elapsed().as_secs_f64();
    let rrd_bytes = std::fs::metadata(&rrd).map_err(|e| ReplayError::io(&rrd, e))?.len();

    let mut out = BenchReport::new("replay");
    out.note(format!(
        "synthetic episode: {} s, {} cameras {}x{} rgb8 @ {} Hz, JointState(7) @ {} Hz, commands @ {} Hz, labels every {} s; \
         bag (uncompressed) {:.0} MB, {n} messages, written in {write_s:.1} s",
        spec.seconds,
        spec.cameras.len(),
        spec.width,
        spec.height,
        spec.fps,
        spec.joint_hz,
        spec.command_hz,
        spec.label_every_s,
        bag_bytes as f64 / 1e6
    ));
    let rows: Vec<String> = report.rows.iter().map(|(k, v)| format!("{k} {v}")).collect();
    out.note(format!("rows logged: {}; .rrd {:.0} MB in {}", rows.join(", "), rrd_bytes as f64 / 1e6, root.display()));
    out.note("peer = reading and decoding the same bag without rerun (the floor for any export)");
    out.push(BenchRow::new("export to .rrd (wall)", export_s, "s").peer(read_s, Better::Lower));
    out.push(BenchRow::new("export speed vs real time", spec.seconds / export_s, "x").target(1.0, Better::Higher));
    out.push(BenchRow::new("export throughput (bag bytes)", bag_bytes as f64 / 1e6 / export_s, "MB/s"));
    out.push(BenchRow::new(".rrd size / bag size", rrd_bytes as f64 / bag_bytes.max(1) as f64, "x"));
    let _ = std::fs::remove_dir_all(&root);
    Ok(out)
}
