//! Crash recovery: rebuild an episode whose recorder died (SIGKILL, power,
//! full disk) into a complete bag that every reader accepts, then index it.

use crate::bag_read::{bag_file, bag_messages};
use crate::dataset::{Dataset, EpisodeEntry, KOTOBA_VERSION};
use crate::episode::{PENDING_FILE, custom_data};
use crate::error::{RecorderError, Result};
use crate::labels;
use crate::writer::{EpisodeWriter, WriterOptions};
use kotoba_msgs::std_msgs;
use std::collections::BTreeMap;
use std::path::Path;

/// What a recovery kept.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub entry: EpisodeEntry,
    /// Why the original file ended early (`None`: it was complete).
    pub truncation: Option<String>,
    /// Messages that could not be kept (malformed).
    pub dropped: u64,
}

/// Rewrites the bag directory `dir` in place from whatever complete records
/// its MCAP file holds, and returns its index entry (marked `recovered`,
/// `success: false`). The original is replaced only once the new bag is sealed.
pub fn recover_episode(dir: &Path, labels_topic: &str, instruction_topic: &str, opts: &WriterOptions) -> Result<Recovery> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| RecorderError::Config(format!("bad episode directory {}", dir.display())))?
        .to_string();
    let src = bag_file(dir)?;
    let pending: Option<EpisodeEntry> = std::fs::read(dir.join(PENDING_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let tmp = dir.with_file_name(format!(".{name}.recovering"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| RecorderError::io(&tmp, e))?;
    }
    let mut w = EpisodeWriter::create_named(&tmp, &name, &WriterOptions { size_cap: None, ..opts.clone() })?;
    let mut msgs = bag_messages(&src, true)?;
    let (mut label_raw, mut instruction, mut dropped) = (Vec::new(), None, 0u64);
    for m in msgs.by_ref() {
        let m = m?;
        match w.write_with_qos_yaml(m.topic(), m.ros_type(), m.qos_yaml(), &m.data, m.log_time, m.publish_time) {
            Ok(()) => {}
            Err(RecorderError::Malformed { .. }) => {
                dropped += 1;
                continue;
            }
            Err(e) => return Err(e),
        }
        if (m.topic() == labels_topic || m.topic() == instruction_topic)
            && let Ok(s) = kotoba_msgs::decode::<std_msgs::String>(&m.data)
        {
            if m.topic() == labels_topic {
                label_raw.push((m.log_time, s.data));
            } else {
                instruction = Some(s.data.trim().to_string());
            }
        }
    }
    let truncation = msgs.truncation().map(str::to_string);
    let (start, end) = w.time_range();
    let base = pending.unwrap_or_default();
    let entry = EpisodeEntry {
        name: name.clone(),
        instruction: instruction.unwrap_or(base.instruction),
        start_ns: start,
        duration_s: (end - start) as f64 * 1e-9,
        message_counts: w.counts(),
        success: false,
        operator: base.operator,
        robot_description_hash: base.robot_description_hash,
        kotoba_version: KOTOBA_VERSION.into(),
        labels: labels::events(start, label_raw),
        skipped: if dropped > 0 {
            BTreeMap::from([("*".to_string(), BTreeMap::from([("malformed".to_string(), dropped)]))])
        } else {
            BTreeMap::new()
        },
        recovered: true,
    };
    for (k, v) in custom_data(&entry) {
        w.set_custom(&k, &v);
    }
    w.set_custom("kotoba.recovered", "true");
    w.finish()?;
    // Swap: the old directory goes only after the new one is complete.
    let old = dir.with_file_name(format!(".{name}.truncated"));
    std::fs::rename(dir, &old).map_err(|e| RecorderError::io(dir, e))?;
    std::fs::rename(&tmp, dir).map_err(|e| RecorderError::io(&tmp, e))?;
    std::fs::remove_dir_all(&old).map_err(|e| RecorderError::io(&old, e))?;
    Ok(Recovery { entry, truncation, dropped })
}

impl Dataset {
    /// Recovers every episode directory the index does not list (interrupted
    /// recordings) and appends them to the index, marked `recovered`.
    pub fn recover_interrupted(&mut self, opts: &WriterOptions) -> Result<Vec<Recovery>> {
        let mut out = Vec::new();
        for name in self.unindexed_dirs()? {
            let dir = self.episode_dir(&name);
            if bag_file(&dir).is_err() {
                // Created but nothing written yet: nothing to keep.
                std::fs::remove_dir_all(&dir).map_err(|e| RecorderError::io(&dir, e))?;
                continue;
            }
            let (lt, it) = (self.index().labels_topic.clone(), self.index().instruction_topic.clone());
            let r = recover_episode(&dir, &lt, &it, opts)?;
            self.add_episode(r.entry.clone())?;
            out.push(r);
        }
        Ok(out)
    }
}
