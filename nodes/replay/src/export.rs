//! One recorded episode → rerun: every message of the bag, in file order,
//! decoded by type and logged through a [`Logger`]. What cannot be shown is
//! counted in the [`ExportReport`], never fatal.

use crate::error::{ReplayError, Result};
use crate::logger::{Logger, Stamp};
use crate::robot::Robot;
use kotoba_msgs::{diagnostic_msgs, sensor_msgs, std_msgs, trajectory_msgs};
use kotoba_recorder::{EpisodeEntry, RawMessage, bag_file, bag_messages, decode_image};
use rerun::RecordingStream;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Topic names and limits of a replay. The defaults match `kotoba sim` and
/// `kotoba record`.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The measured joint states that animate the robot.
    pub joint_states_topic: String,
    /// `trajectory_msgs/JointTrajectory` from the policy (first point = next target).
    pub targets_topic: String,
    /// `std_msgs/String`, the policy's predicted label.
    pub predicted_label_topic: String,
    /// `std_msgs/Float64MultiArray`, attention points `[x0, y0, ...]` in 0..1.
    pub attention_topic: String,
    /// The camera the attention points belong to.
    pub attention_camera: String,
    /// Labels and instruction topics when the episode has no dataset index.
    pub labels_topic: String,
    pub instruction_topic: String,
    /// Topics a complete episode has; each one without a message is reported.
    pub expected_topics: Vec<String>,
    /// Robot poses per second (0 = one per joint state). Series keep every sample.
    pub robot_pose_hz: f64,
    /// The robot description; `None` = the embedded `urdf/kotoba_arm.urdf`.
    pub urdf: Option<String>,
    /// Send kotoba's layout ([`crate::default_blueprint`]) with the recording.
    pub blueprint: bool,
    /// How long to wait at the end of an episode for the sink (a viewer at
    /// `--connect`) to confirm it has everything before reporting a `sink_error`.
    pub flush_timeout: std::time::Duration,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            joint_states_topic: "/joint_states".into(),
            targets_topic: "/policy/joint_targets".into(),
            predicted_label_topic: "/policy/label".into(),
            attention_topic: "/policy/attention".into(),
            attention_camera: "/camera/image_raw".into(),
            labels_topic: "/labels".into(),
            instruction_topic: "/instruction".into(),
            expected_topics: vec!["/joint_states".into(), "/camera/image_raw".into()],
            robot_pose_hz: 100.0,
            urdf: None,
            blueprint: true,
            flush_timeout: std::time::Duration::from_secs(120),
        }
    }
}

impl ReplayOptions {
    /// The robot these options describe.
    pub fn robot(&self) -> Result<Robot> {
        match &self.urdf {
            Some(u) => Robot::from_urdf_str(u),
            None => Robot::kotoba_arm(),
        }
    }
}

/// One episode to replay: its bag and, when it is indexed, its index entry.
#[derive(Debug, Clone)]
pub struct EpisodeSource {
    pub name: String,
    /// The rosbag2 directory (or a bare `.mcap` file).
    pub bag: PathBuf,
    /// Its index entry, or the pending sidecar of an interrupted recording.
    pub entry: Option<EpisodeEntry>,
    /// The dataset the episode directory belongs to, if any.
    pub dataset: Option<PathBuf>,
    /// True when that dataset's index lists the episode.
    pub indexed: bool,
    pub labels_topic: String,
    pub instruction_topic: String,
}

/// What a replay showed and what it could not.
#[derive(Debug, Clone, Default)]
pub struct ExportReport {
    pub episode: String,
    /// Messages read per topic.
    pub messages: BTreeMap<String, u64>,
    /// Rows logged per kind (`images`, `joint_states`, `labels`, ...).
    pub rows: BTreeMap<String, u64>,
    /// Expected or indexed topics with no message in the bag.
    pub missing_topics: Vec<String>,
    /// Topics with fewer messages than the index lists: `(topic, indexed, read)`.
    pub short_topics: Vec<(String, u64, u64)>,
    /// Why reading stopped early, for a truncated file.
    pub truncated: Option<String>,
    /// Messages that did not decode as their type, per topic.
    pub malformed: BTreeMap<String, u64>,
    /// Topics not shown, with their type.
    pub skipped_topics: BTreeMap<String, String>,
    /// The sink could not confirm it received everything (no viewer at the address, ...).
    pub sink_error: Option<String>,
    /// True when the episode is not in its dataset's index (interrupted, not recovered).
    pub unindexed: bool,
    pub notes: Vec<String>,
}

impl ExportReport {
    /// Nothing missing, short, truncated or malformed.
    pub fn is_complete(&self) -> bool {
        self.missing_topics.is_empty() && self.short_topics.is_empty() && self.truncated.is_none() && self.malformed.is_empty()
    }
}

impl std::fmt::Display for ExportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let total: u64 = self.messages.values().sum();
        let rows: Vec<String> = self.rows.iter().map(|(k, v)| format!("{k} {v}")).collect();
        writeln!(f, "{}: {total} messages; logged {}", self.episode, rows.join(", "))?;
        if let Some(t) = &self.truncated {
            writeln!(f, "  truncated: {t} (everything before it is shown)")?;
        }
        if self.unindexed {
            writeln!(f, "  not in the dataset index (interrupted recording)")?;
        }
        for t in &self.missing_topics {
            writeln!(f, "  missing: no message on {t}")?;
        }
        for (t, want, got) in &self.short_topics {
            writeln!(f, "  short: {t} has {got} of {want} indexed messages")?;
        }
        for (t, n) in &self.malformed {
            writeln!(f, "  malformed: {n} messages on {t} not shown")?;
        }
        for (t, ty) in &self.skipped_topics {
            writeln!(f, "  skipped: {t} ({ty}) is not shown")?;
        }
        if let Some(e) = &self.sink_error {
            writeln!(f, "  NOT DELIVERED: the rerun sink did not confirm it has everything: {e}")?;
        }
        for n in &self.notes {
            writeln!(f, "  note: {n}")?;
        }
        Ok(())
    }
}

/// Exports one episode to `rec` (the robot, cameras, series, language,
/// predictions, diagnostics), then flushes. A truncated bag is read up to its
/// last complete record.
pub fn export_episode(rec: &RecordingStream, src: &EpisodeSource, opts: &ReplayOptions) -> Result<ExportReport> {
    let file = if src.bag.is_file() { src.bag.clone() } else { bag_file(&src.bag)? };
    let mut report = ExportReport { episode: src.name.clone(), ..Default::default() };
    let start_ns = match &src.entry {
        Some(e) if e.start_ns > 0 => e.start_ns,
        _ => first_log_time(&file)?.unwrap_or(0),
    };
    let robot = match opts.robot() {
        Ok(r) => Some(r),
        Err(e) => {
            report.notes.push(format!("robot not drawn: {e}"));
            None
        }
    };
    let mut lg = Logger::new(rec.clone(), robot, start_ns, opts.robot_pose_hz)?;
    let mut msgs = bag_messages(&file, true)?;
    let mut samples: i64 = 0;
    let mut instruction_seen = false;
    let mut attention_early = 0u64;
    let mut last = Stamp { t_ns: start_ns, sample: 0 };
    for m in msgs.by_ref() {
        let m = m?;
        *report.messages.entry(m.topic().to_string()).or_default() += 1;
        let topic = m.topic();
        let is_joints = topic == opts.joint_states_topic;
        if is_joints {
            samples += 1;
        }
        let s = Stamp { t_ns: m.log_time, sample: samples.max(1) - 1 };
        last = s;
        match dispatch(&mut lg, &m, s, src, opts, is_joints) {
            Ok(Shown::Yes) => {}
            Ok(Shown::Instruction) => instruction_seen = true,
            Ok(Shown::AttentionBeforeImage) => attention_early += 1,
            Ok(Shown::No) => {
                report.skipped_topics.entry(topic.to_string()).or_insert_with(|| m.ros_type().to_string());
            }
            Err(Bad(reason)) => {
                tracing::debug!("{}: {topic}: {reason}", src.name);
                *report.malformed.entry(topic.to_string()).or_default() += 1;
            }
        }
    }
    report.truncated = msgs.truncation().map(str::to_string);
    if let Some(t) = &report.truncated {
        lg.note(last, "WARN", &format!("recording ends here: truncated ({t})"))?;
    }
    if !instruction_seen {
        match src.entry.as_ref().map(|e| e.instruction.as_str()).filter(|i| !i.is_empty()) {
            Some(i) => lg.instruction(Stamp { t_ns: start_ns, sample: 0 }, i)?,
            None => report.notes.push("no instruction (neither a message nor the index)".into()),
        }
    }
    if attention_early > 0 {
        report.notes.push(format!("{attention_early} attention messages before the first {} frame: not drawn", opts.attention_camera));
    }
    if opts.blueprint {
        let blueprint = crate::blueprint::default_blueprint(&lg.cameras());
        rec.send_blueprint_opts(&rerun::blueprint::BlueprintOpts {
            blueprint,
            activation: rerun::blueprint::BlueprintActivation { make_active: true, make_default: true },
        })?;
    }
    report.sink_error = lg.finish(opts.flush_timeout)?;
    report.rows = lg.rows().iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let indexed = src.entry.as_ref().map(|e| e.message_counts.clone()).unwrap_or_default();
    for t in opts.expected_topics.iter().chain(indexed.keys()) {
        if report.messages.get(t).copied().unwrap_or(0) == 0 && !report.missing_topics.contains(t) {
            report.missing_topics.push(t.clone());
        }
    }
    for (t, &want) in &indexed {
        let got = report.messages.get(t).copied().unwrap_or(0);
        if got < want && got > 0 {
            report.short_topics.push((t.clone(), want, got));
        }
    }
    report.unindexed = src.dataset.is_some() && !src.indexed;
    Ok(report)
}

fn first_log_time(file: &Path) -> Result<Option<i64>> {
    // File order is receive order except across writer chunks; the first few
    // messages are enough for a time origin.
    let mut min = None;
    for m in bag_messages(file, true)?.take(64) {
        let t = m?.log_time;
        min = Some(min.map_or(t, |x: i64| x.min(t)));
    }
    Ok(min)
}

enum Shown {
    Yes,
    Instruction,
    AttentionBeforeImage,
    No,
}

/// A message that does not decode as its type.
struct Bad(String);

impl From<kotoba_msgs::DecodeError> for Bad {
    fn from(e: kotoba_msgs::DecodeError) -> Self {
        Bad(e.to_string())
    }
}
impl From<ReplayError> for Bad {
    fn from(e: ReplayError) -> Self {
        Bad(e.to_string())
    }
}

fn dispatch(lg: &mut Logger, m: &RawMessage, s: Stamp, src: &EpisodeSource, o: &ReplayOptions, is_joints: bool) -> Result<Shown, Bad> {
    let topic = m.topic();
    // Schema names are `pkg/msg/Name` (rosbag2); bags by older tools say `pkg/Name`.
    let ty = m.ros_type().replacen("/msg/", "/", 1);
    match ty.as_str() {
        "sensor_msgs/JointState" if is_joints => {
            let js: sensor_msgs::JointState = kotoba_msgs::decode(&m.data)?;
            if js.name.len() != js.position.len() {
                return Err(Bad(format!("{} names, {} positions", js.name.len(), js.position.len())));
            }
            lg.joint_state(s, &js.name, &js.position)?;
        }
        "sensor_msgs/Image" => {
            let img = decode_image(&m.data).map_err(|e| Bad(e.to_string()))?;
            lg.image(s, topic, img)?;
        }
        "trajectory_msgs/JointTrajectory" if topic == o.targets_topic => {
            let jt: trajectory_msgs::JointTrajectory = kotoba_msgs::decode(&m.data)?;
            if let Some(p) = jt.points.first() {
                lg.targets(s, &jt.joint_names, &p.positions)?;
            }
        }
        "std_msgs/Float64MultiArray" if topic == o.attention_topic => {
            let a: std_msgs::Float64MultiArray = kotoba_msgs::decode(&m.data)?;
            if !lg.attention(s, &o.attention_camera, &a.data)? {
                return Ok(Shown::AttentionBeforeImage);
            }
        }
        "std_msgs/Float64MultiArray" if topic.ends_with("/commands") => {
            let a: std_msgs::Float64MultiArray = kotoba_msgs::decode(&m.data)?;
            lg.commands(s, &a.data)?;
        }
        "std_msgs/String" if topic == src.labels_topic => {
            let t: std_msgs::String = kotoba_msgs::decode(&m.data)?;
            lg.label(s, t.data.trim())?;
        }
        "std_msgs/String" if topic == src.instruction_topic => {
            let t: std_msgs::String = kotoba_msgs::decode(&m.data)?;
            lg.instruction(s, t.data.trim())?;
            return Ok(Shown::Instruction);
        }
        "std_msgs/String" if topic == o.predicted_label_topic => {
            let t: std_msgs::String = kotoba_msgs::decode(&m.data)?;
            lg.predicted_label(s, t.data.trim())?;
        }
        "diagnostic_msgs/DiagnosticArray" => {
            let d: diagnostic_msgs::DiagnosticArray = kotoba_msgs::decode(&m.data)?;
            for st in &d.status {
                let kv: Vec<String> = st.values.iter().map(|v| format!("{}={}", v.key, v.value)).collect();
                let text = if kv.is_empty() {
                    format!("{}: {}", st.name, st.message)
                } else {
                    format!("{}: {} [{}]", st.name, st.message, kv.join(", "))
                };
                lg.diagnostic(s, st.level, &text)?;
            }
        }
        _ => return Ok(Shown::No),
    }
    Ok(Shown::Yes)
}
