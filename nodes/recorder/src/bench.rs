//! `kotoba bench recorder`: two 640×480 rgb8 cameras at 30 Hz, JointState at
//! 1 kHz and labels, recorded live through the same [`Session`] as `kotoba
//! record` (in-process bus), then the same bytes written by a plain
//! sequential writer to the same disk for comparison.

use crate::config::{RecordConfig, TopicConfig};
use crate::dataset::Dataset;
use crate::error::{RecorderError, Result};
use crate::session::{Schedule, Session};
use crate::synthetic::{SyntheticRobot, SyntheticSpec};
use crate::writer::{Compression, EpisodeWriter, WriterOptions};
use kotoba_bus::Bus;
use kotoba_core::{BenchReport, BenchRow, Better, SystemClock};
use kotoba_msgs::Qos;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Process CPU time (user + system), s.
fn cpu_s() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn bench_dir() -> PathBuf {
    // target/ is on the same disk as the workspace; /tmp may be a tmpfs.
    std::env::current_dir().unwrap_or_else(|_| std::env::temp_dir()).join("target").join("bench-recorder")
}

/// Runs the benchmark; `quick` records 5 s instead of 60 s.
pub fn run(quick: bool) -> Result<BenchReport> {
    let secs = if quick { 5.0 } else { 60.0 };
    let root = bench_dir();
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| RecorderError::io(&root, e))?;
    let mut report = BenchReport::new("recorder");
    report.note(format!(
        "2 cameras 640x480 rgb8 @ 30 Hz + JointState(7) @ 1 kHz + labels @ 1 Hz for {secs} s, in-process bus, into {}",
        root.display()
    ));
    let opts = WriterOptions::default();
    let live = live(&root.join("live"), secs, &opts)?;
    let (rec_bytes, rec_msgs) = (live.payload_bytes, live.recorded);
    report.note(format!(
        "published {} messages, recorded {rec_msgs}, {:.0} MB payload ({:.1} MB/s), file {:.0} MB (default writer options: compression {:?})",
        live.published,
        rec_bytes as f64 / 1e6,
        rec_bytes as f64 / 1e6 / secs,
        live.file_bytes as f64 / 1e6,
        opts.compression
    ));
    report.push(BenchRow::new("messages dropped", live.published.saturating_sub(rec_msgs) as f64, "msgs").target(0.0, Better::Lower));
    report.push(
        BenchRow::new("recorder CPU (whole process incl. publishers)", live.cpu_s / secs * 100.0, "% of one core")
            .target(100.0, Better::Lower),
    );
    report.push(BenchRow::new("CPU time used", live.cpu_s, "s"));

    // Write rate: the recorded episode's messages re-written through the
    // episode writer as fast as it goes, against a plain sequential write
    // (1 MiB writes + fsync) of the same payload bytes to the same disk.
    // (At most 1 GB of it, to bound memory and time.)
    let msgs = load(&live.bag, 1 << 30)?;
    let rec_bytes: u64 = msgs.iter().map(|m| m.data.len() as u64).sum();
    report.note(format!("write-rate comparison over the first {:.0} MB of recorded payload", rec_bytes as f64 / 1e6));
    for (label, compression) in [("zstd", Compression::Zstd), ("lz4", Compression::Lz4), ("none", Compression::None)] {
        let o = WriterOptions { compression, ..opts.clone() };
        let t_rec = rewrite(&root.join(format!("rewrite_{label}")), &msgs, &o)?;
        let t_plain = plain_write(&root.join(format!("plain_{label}.bin")), rec_bytes)?;
        let rate = rec_bytes as f64 / t_rec / 1e6;
        let plain = rec_bytes as f64 / t_plain / 1e6;
        report.push(
            BenchRow::new(format!("write rate, compression {label} (peer: plain sequential write)"), rate, "MB/s")
                .peer(plain, Better::Higher)
                .ratio_target(0.7),
        );
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(report)
}

struct Live {
    published: u64,
    recorded: u64,
    payload_bytes: u64,
    file_bytes: u64,
    cpu_s: f64,
    bag: PathBuf,
}

fn live(root: &Path, secs: f64, opts: &WriterOptions) -> Result<Live> {
    let bus = Bus::inproc();
    let clock = Arc::new(SystemClock);
    let cameras = vec!["/camera/image_raw".to_string(), "/wrist/image_raw".to_string()];
    let mut cfg = RecordConfig { writer: opts.clone(), reset_s: 0.0, ..Default::default() };
    cfg.topics.retain(|t| t.topic != "/camera/image_raw");
    for c in &cameras {
        cfg.topics.push(TopicConfig::new(c, "sensor_msgs/msg/Image", Qos::sensor_data()));
    }
    let ds = Dataset::create(root, &cfg.labels_topic, &cfg.instruction_topic)?;
    let mut session = Session::new(&bus, cfg, ds, clock.clone())?;
    let spec = SyntheticSpec { cameras, width: 640, height: 480, fps: 30.0, joint_hz: 1000.0, ..Default::default() };
    let handle = session.control_handle();
    let cpu0 = cpu_s();
    // Start recording first, then the robot, stop the robot, then save: every
    // published message falls inside the episode.
    handle.send(crate::control::Control::Start);
    let controller = std::thread::spawn(move || -> Result<Vec<(String, u64)>> {
        std::thread::sleep(Duration::from_millis(300));
        let robot = SyntheticRobot::spawn(&bus, &spec, clock).map_err(RecorderError::from)?;
        std::thread::sleep(Duration::from_secs_f64(secs));
        let counts = robot.stop();
        std::thread::sleep(Duration::from_millis(300));
        handle.send(crate::control::Control::Quit);
        Ok(counts)
    });
    let saved = session.run(&Schedule::default(), &mut |_| {})?;
    let cpu = cpu_s() - cpu0;
    let published = controller.join().map_err(|_| RecorderError::Config("bench thread panicked".into()))??;
    let entry = saved.first().ok_or_else(|| RecorderError::Config("no episode saved".into()))?;
    let bag = session.dataset().episode_dir(&entry.name);
    let file_bytes = std::fs::metadata(crate::bag_read::bag_file(&bag)?).map(|m| m.len()).unwrap_or(0);
    // The latched instruction is written once per episode and not "published" in the window.
    let recorded: u64 = entry.message_counts.iter().filter(|(t, _)| t.as_str() != "/instruction").map(|(_, n)| n).sum();
    let published: u64 = published.iter().map(|(_, n)| n).sum();
    let mut payload_bytes = 0u64;
    for m in crate::bag_read::bag_messages(&crate::bag_read::bag_file(&bag)?, false)? {
        payload_bytes += m?.data.len() as u64;
    }
    Ok(Live { published, recorded, payload_bytes, file_bytes, cpu_s: cpu, bag })
}

fn load(bag: &Path, max_bytes: u64) -> Result<Vec<crate::bag_read::RawMessage>> {
    let mut out = Vec::new();
    let mut total = 0u64;
    for m in crate::bag_read::bag_messages(&crate::bag_read::bag_file(bag)?, false)? {
        let m = m?;
        total += m.data.len() as u64;
        out.push(m);
        if total >= max_bytes {
            break;
        }
    }
    Ok(out)
}

fn rewrite(dir: &Path, msgs: &[crate::bag_read::RawMessage], opts: &WriterOptions) -> Result<f64> {
    let t0 = Instant::now();
    let mut w = EpisodeWriter::create(dir, opts)?;
    for m in msgs {
        w.write_with_qos_yaml(m.topic(), m.ros_type(), m.qos_yaml(), &m.data, m.log_time, m.publish_time)?;
    }
    w.finish()?;
    Ok(t0.elapsed().as_secs_f64())
}

fn plain_write(path: &Path, bytes: u64) -> Result<f64> {
    let buf = vec![0x5au8; 1 << 20];
    let t0 = Instant::now();
    let mut f = std::fs::File::create(path).map_err(|e| RecorderError::io(path, e))?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        f.write_all(&buf[..n]).map_err(|e| RecorderError::io(path, e))?;
        left -= n as u64;
    }
    f.sync_data().map_err(|e| RecorderError::io(path, e))?;
    Ok(t0.elapsed().as_secs_f64())
}
