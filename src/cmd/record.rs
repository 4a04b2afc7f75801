//! `kotoba record`: record demonstrations into a dataset of rosbag2 episodes.

use crate::cmd::conn::ConnArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use kotoba_core::SystemClock;
use kotoba_recorder::{
    Compression, Control, Dataset, KEY_HELP, KeyReader, Phase, RecordConfig, Report, Schedule, Session, Status,
    SyntheticRobot, SyntheticSpec, TopicConfig,
};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, ValueEnum)]
pub enum CompressionArg {
    /// No chunk compression (rosbag2's default).
    None,
    /// zstd chunk compression (level from the config, default 1).
    Zstd,
    /// lz4 chunk compression: faster than zstd, larger files.
    Lz4,
}

#[derive(Args)]
pub struct RecordArgs {
    /// Dataset folder: one rosbag2 directory bag per episode plus index.json.
    /// Created if missing.
    pub dataset: PathBuf,
    /// TOML config (topics, labels/instruction/command topics, reset time,
    /// writer options); flags override it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Extra topic to record, `TOPIC:TYPE[:latched|sensor|reliable]`, e.g.
    /// `/wrist/image_raw:sensor_msgs/msg/Image:sensor`. Repeatable.
    #[arg(long = "topic", value_name = "TOPIC:TYPE[:QOS]")]
    pub topics: Vec<String>,
    /// Record only the `--topic` topics (drop the defaults / config list).
    #[arg(long)]
    pub only_topics: bool,
    /// Instruction stored with each episode when none arrives on the instruction topic.
    #[arg(long)]
    pub instruction: Option<String>,
    /// Operator name stored in the index.
    #[arg(long)]
    pub operator: Option<String>,
    /// Robot description (URDF) whose sha256 goes into the index.
    #[arg(long, value_name = "FILE")]
    pub robot_description: Option<PathBuf>,
    /// Append to an existing dataset (interrupted episodes are recovered first).
    #[arg(long)]
    pub resume: bool,
    /// Recover the dataset's interrupted episodes (after a crash) and exit.
    #[arg(long)]
    pub recover: bool,
    /// Record this many episodes, then exit. Implies starting automatically.
    #[arg(long, value_name = "N")]
    pub episodes: Option<usize>,
    /// Save each episode after this many seconds. Implies starting automatically.
    #[arg(long, value_name = "SECONDS")]
    pub episode_duration: Option<f64>,
    /// Reset phase between episodes, seconds (nothing is recorded).
    #[arg(long, value_name = "SECONDS")]
    pub reset: Option<f64>,
    /// Start the first episode immediately.
    #[arg(long)]
    pub auto_start: bool,
    /// Do not read keys from the terminal (control by topic or schedule only).
    #[arg(long)]
    pub no_keys: bool,
    /// Chunk compression.
    #[arg(long, value_enum)]
    pub compression: Option<CompressionArg>,
    /// Close and flush a chunk at least this often; bounds what a crash loses.
    #[arg(long, value_name = "MS")]
    pub flush_interval_ms: Option<u64>,
    /// Publish a synthetic robot (camera, 100 Hz joint states, labels,
    /// instruction) in-process and record it: for drills and tests without
    /// a robot. Use with `--backend inproc`.
    #[arg(long)]
    pub synthetic: bool,
    /// Make each episode file fail past this many bytes, as if the disk were
    /// full (a drill for the disk-full path).
    #[arg(long, value_name = "BYTES", hide = true)]
    pub size_cap: Option<u64>,
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(flatten)]
    pub view: crate::cmd::view::ViewArgs,
}

pub fn run(a: RecordArgs) -> Result<()> {
    let mut cfg = match &a.config {
        Some(p) => RecordConfig::load(p)?,
        None => RecordConfig::default(),
    };
    if a.only_topics {
        cfg.topics.clear();
    }
    for t in &a.topics {
        let t = TopicConfig::parse(t)?;
        cfg.topics.retain(|o| o.topic != t.topic);
        cfg.topics.push(t);
    }
    if let Some(v) = &a.instruction {
        cfg.instruction = v.clone();
    }
    if let Some(v) = &a.operator {
        cfg.operator = v.clone();
    }
    if let Some(v) = &a.robot_description {
        cfg.robot_description = Some(v.clone());
    }
    if let Some(v) = a.reset {
        cfg.reset_s = v;
    }
    if let Some(c) = a.compression {
        cfg.writer.compression = match c {
            CompressionArg::None => Compression::None,
            CompressionArg::Zstd => Compression::Zstd,
            CompressionArg::Lz4 => Compression::Lz4,
        };
    }
    if let Some(v) = a.flush_interval_ms {
        cfg.writer.flush_interval_ms = v;
    }
    if a.size_cap.is_some() {
        cfg.writer.size_cap = a.size_cap;
    }
    cfg.validate()?;

    let exists = a.dataset.join(kotoba_recorder::INDEX_FILE).exists();
    let mut dataset = if a.recover || a.resume {
        if !exists {
            if a.recover {
                bail!("{} holds no dataset (no index.json)", a.dataset.display());
            }
            Dataset::create(&a.dataset, &cfg.labels_topic, &cfg.instruction_topic)?
        } else {
            Dataset::open(&a.dataset)?
        }
    } else {
        Dataset::create(&a.dataset, &cfg.labels_topic, &cfg.instruction_topic)?
    };
    let recovered = dataset.recover_interrupted(&cfg.writer).context("recovering interrupted episodes")?;
    for r in &recovered {
        println!(
            "recovered {}: {} messages, {:.2} s{}",
            r.entry.name,
            r.entry.message_counts.values().sum::<u64>(),
            r.entry.duration_s,
            r.truncation.as_deref().map(|t| format!(" (file was cut: {t})")).unwrap_or_default()
        );
    }
    if a.recover {
        println!("{} episode(s) recovered; index has {}", recovered.len(), dataset.episodes().len());
        return Ok(());
    }

    let bus = a.conn.open("kotoba_recorder")?;
    let clock = Arc::new(SystemClock);
    kotoba_recorder::install_signal_handlers();
    let view = a.view.start("kotoba record", kotoba_replay::DEFAULT_URDF, &crate::cmd::view::camera_topics(&cfg), kotoba_core::Clock::now(&*clock).as_nanos())?;
    let topic_view = match &view {
        Some(v) => Some(crate::cmd::view::TopicView::spawn(&bus, &cfg, v.sender())?),
        None => None,
    };
    let mut session = Session::new(&bus, cfg, dataset, clock.clone())?;
    let _robot = if a.synthetic { Some(SyntheticRobot::spawn(&bus, &SyntheticSpec::default(), clock)?) } else { None };
    let schedule = Schedule {
        auto_start: a.auto_start || a.episodes.is_some() || a.episode_duration.is_some(),
        episodes: a.episodes,
        episode_duration: a.episode_duration.map(Duration::from_secs_f64),
    };
    let interactive = !a.no_keys && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let keys = if interactive {
        let h = session.control_handle();
        Some(KeyReader::spawn(move |c: Control| h.send(c))?)
    } else {
        None
    };
    // Raw mode needs explicit carriage returns.
    let raw = keys.is_some();
    let nl = if raw { "\r\n" } else { "\n" };
    if raw {
        print!("{KEY_HELP}{nl}");
    }
    println!("recording into {} ({} episodes so far)", a.dataset.display(), session.dataset().episodes().len());
    let mut out = std::io::stdout();
    let mut report = |r: Report| {
        let line = match r {
            Report::Status(s) if raw => {
                let _ = write!(out, "\r\x1b[2K{}", status_line(&s));
                let _ = out.flush();
                return;
            }
            Report::Status(s) => status_line(&s),
            Report::Saved(e) => format!(
                "saved {}: {:.1} s, {} messages, success={}, {} label(s), instruction {:?}",
                e.name,
                e.duration_s,
                e.message_counts.values().sum::<u64>(),
                e.success,
                e.labels.len(),
                e.instruction
            ),
            Report::Discarded(n) => format!("discarded {n}"),
            Report::Warning(w) => format!("warning: {w}"),
            Report::Info(i) => i,
        };
        let _ = write!(out, "\r\x1b[2K{line}{nl}");
        let _ = out.flush();
    };
    let res = session.run(&schedule, &mut report);
    drop(keys);
    drop(topic_view);
    let saved = res?;
    println!("session over: {} episode(s) saved", saved.len());
    crate::cmd::view::finish(view)
}

fn status_line(s: &Status) -> String {
    let phase = match s.phase {
        Phase::Waiting => "waiting (space to start)".to_string(),
        Phase::Recording => format!("REC episode {} {:6.1} s", s.episode, s.elapsed_s),
        Phase::Reset { left_s } => format!("reset {left_s:4.1} s"),
    };
    let topics: Vec<String> = s
        .topics
        .iter()
        .map(|t| {
            let drop = if t.dropped > 0 { format!(" drop {}", t.dropped) } else { String::new() };
            format!("{} {:.0} Hz n={}{drop}", t.topic, t.rate_hz, t.recorded)
        })
        .collect();
    format!("{phase} | saved {} | {:.1} MB | {}", s.saved, s.bytes_written as f64 / 1e6, topics.join(" | "))
}
