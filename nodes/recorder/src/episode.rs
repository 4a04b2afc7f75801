//! Recording one episode into a [`Dataset`]: the writer plus what the index
//! needs (instruction, labels, skip counters), in-process and clock-agnostic,
//! so a simulator can record in lockstep without any network.

use crate::dataset::{Dataset, EpisodeEntry, KOTOBA_VERSION};
use crate::error::{RecorderError, Result};
use crate::labels;
use crate::writer::{EpisodeWriter, WriterOptions};
use kotoba_msgs::{Message, Qos, std_msgs};
use std::collections::BTreeMap;
use std::path::Path;

/// Sidecar written when an episode starts, so a crashed episode can be
/// recovered with its operator and instruction.
pub const PENDING_FILE: &str = "kotoba_episode.json";

/// What the operator says about an episode before it starts.
#[derive(Debug, Clone, Default)]
pub struct EpisodeMeta {
    /// Used when no message arrives on the instruction topic.
    pub instruction: String,
    pub operator: String,
    pub robot_description_hash: Option<String>,
}

/// An episode being recorded. Feed it with [`write`](Self::write); finish it
/// with [`Dataset::save_episode`] or [`discard`](Self::discard).
pub struct Episode {
    writer: EpisodeWriter,
    name: String,
    labels_topic: String,
    instruction_topic: String,
    labels: Vec<(i64, String)>,
    instruction: Option<String>,
    meta: EpisodeMeta,
    skipped: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Dataset {
    /// Starts the next episode (`episode_NNNN`).
    pub fn begin_episode(&self, meta: EpisodeMeta, opts: &WriterOptions) -> Result<Episode> {
        let dir = self.next_episode_dir()?;
        let writer = EpisodeWriter::create(&dir, opts)?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let ep = Episode {
            writer,
            name,
            labels_topic: self.index().labels_topic.clone(),
            instruction_topic: self.index().instruction_topic.clone(),
            labels: Vec::new(),
            instruction: None,
            meta,
            skipped: BTreeMap::new(),
        };
        let pending = ep.entry(false);
        let json = serde_json::to_vec_pretty(&pending).map_err(|e| RecorderError::Config(e.to_string()))?;
        crate::bag_meta::write_atomic(&dir.join(PENDING_FILE), &json)?;
        Ok(ep)
    }

    /// Seals the episode and appends it to the index. Returns its entry.
    pub fn save_episode(&mut self, mut ep: Episode, success: bool) -> Result<EpisodeEntry> {
        let entry = ep.entry(success);
        for (k, v) in custom_data(&entry) {
            ep.writer.set_custom(&k, &v);
        }
        let dir = ep.writer.dir().to_path_buf();
        ep.writer.finish()?;
        self.add_episode(entry.clone())?;
        let _ = std::fs::remove_file(dir.join(PENDING_FILE));
        Ok(entry)
    }
}

impl Episode {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn dir(&self) -> &Path {
        self.writer.dir()
    }

    /// Writes one message (see [`EpisodeWriter::write`]). Labels and the
    /// instruction are picked up from their topics. A malformed payload is
    /// counted under `skipped` and returned as an error; the episode goes on.
    pub fn write(&mut self, topic: &str, ros_type: &str, qos: &Qos, cdr: &[u8], recv_ns: i64, send_ns: i64) -> Result<()> {
        match self.writer.write(topic, ros_type, qos, cdr, recv_ns, send_ns) {
            Ok(()) => {}
            Err(e @ RecorderError::Malformed { .. }) => {
                self.count_skipped(topic, "malformed");
                return Err(e);
            }
            Err(e) => return Err(e),
        }
        let is_string = ros_type == std_msgs::String::ROS_NAME || ros_type == "std_msgs/String";
        if is_string && (topic == self.labels_topic || topic == self.instruction_topic) {
            let s: std_msgs::String = kotoba_msgs::decode(cdr).map_err(|e| RecorderError::Malformed {
                topic: topic.into(),
                ty: ros_type.into(),
                reason: e.to_string(),
            })?;
            if topic == self.labels_topic {
                self.labels.push((recv_ns, s.data));
            } else {
                self.instruction = Some(s.data.trim().to_string());
            }
        }
        Ok(())
    }

    /// Writes a typed message (encodes it; for in-process producers).
    pub fn write_msg<M: Message>(&mut self, topic: &str, qos: &Qos, msg: &M, recv_ns: i64, send_ns: i64) -> Result<()> {
        self.write(topic, M::ROS_NAME, qos, &kotoba_msgs::encode(msg), recv_ns, send_ns)
    }

    /// Declares a topic so it is listed even if nothing arrives on it.
    pub fn declare(&mut self, topic: &str, ros_type: &str, qos: &Qos) -> Result<()> {
        self.writer.declare(topic, ros_type, qos)
    }

    /// Counts a message that was received but not written.
    pub fn count_skipped(&mut self, topic: &str, reason: &str) {
        self.count_skipped_n(topic, reason, 1);
    }

    /// Counts `n` messages that were received but not written.
    pub fn count_skipped_n(&mut self, topic: &str, reason: &str, n: u64) {
        if n > 0 {
            *self.skipped.entry(topic.to_string()).or_default().entry(reason.to_string()).or_default() += n;
        }
    }

    /// Flushes if the flush interval passed; call when idle.
    pub fn tick(&mut self) -> Result<()> {
        self.writer.tick()
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.writer.counts()
    }

    pub fn message_count(&self) -> u64 {
        self.writer.message_count()
    }

    pub fn bytes_written(&self) -> u64 {
        self.writer.bytes_written()
    }

    /// The instruction as known now (topic, else the one given at start).
    pub fn instruction(&self) -> &str {
        self.instruction.as_deref().unwrap_or(&self.meta.instruction)
    }

    /// Throws the episode away (directory deleted).
    pub fn discard(self) -> Result<()> {
        self.writer.discard()
    }

    /// Stops without sealing (after a write error): the directory stays as a
    /// truncated bag for [`recover_episode`](crate::recover_episode).
    pub fn abandon(self) {
        self.writer.abandon()
    }

    fn entry(&self, success: bool) -> EpisodeEntry {
        let (start, end) = self.writer.time_range();
        EpisodeEntry {
            name: self.name.clone(),
            instruction: self.instruction().to_string(),
            start_ns: start,
            duration_s: (end - start) as f64 * 1e-9,
            message_counts: self.writer.counts(),
            success,
            operator: self.meta.operator.clone(),
            robot_description_hash: self.meta.robot_description_hash.clone(),
            kotoba_version: KOTOBA_VERSION.into(),
            labels: labels::events(start, self.labels.clone()),
            skipped: self.skipped.clone(),
            recovered: false,
        }
    }
}

/// The rosbag2 `custom_data` entries kotoba stores in each bag, so a bag
/// copied out of its dataset still carries its instruction and labels.
pub fn custom_data(e: &EpisodeEntry) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kotoba.instruction".to_string(), e.instruction.clone()),
        ("kotoba.success".to_string(), e.success.to_string()),
        ("kotoba.operator".to_string(), e.operator.clone()),
        ("kotoba.labels".to_string(), serde_json::to_string(&e.labels).unwrap_or_default()),
        ("kotoba.version".to_string(), e.kotoba_version.clone()),
    ])
}
