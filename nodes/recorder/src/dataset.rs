//! The dataset folder: one rosbag2 directory bag per episode plus `index.json`,
//! rewritten atomically after each episode so tools and training always see a
//! complete, valid list.

use crate::bag_meta::write_atomic;
use crate::error::{RecorderError, Result};
use crate::labels::LabelEvent;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `index.json`'s `format` value.
pub const FORMAT: &str = "kotoba-dataset/1";
pub const INDEX_FILE: &str = "index.json";
/// The version written into every index and episode entry.
pub const KOTOBA_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The dataset index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetIndex {
    pub format: String,
    pub kotoba_version: String,
    /// Topic whose `std_msgs/String` messages are label events.
    pub labels_topic: String,
    /// Topic whose `std_msgs/String` messages carry the instruction.
    pub instruction_topic: String,
    pub episodes: Vec<EpisodeEntry>,
}

/// One saved episode.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EpisodeEntry {
    /// Directory (and bag) name, e.g. `episode_0003`.
    pub name: String,
    pub instruction: String,
    /// First message's receive time, ns since the Unix epoch.
    pub start_ns: i64,
    pub duration_s: f64,
    pub message_counts: BTreeMap<String, u64>,
    pub success: bool,
    pub operator: String,
    /// sha256 of the robot description (URDF), hex.
    pub robot_description_hash: Option<String>,
    pub kotoba_version: String,
    pub labels: Vec<LabelEvent>,
    /// Messages received but not written, per topic and reason
    /// (`malformed`, `wrong_type`, `queue_full`, ...).
    #[serde(default)]
    pub skipped: BTreeMap<String, BTreeMap<String, u64>>,
    /// True when the episode was rebuilt from a truncated file after a crash.
    #[serde(default)]
    pub recovered: bool,
}

/// An open dataset folder.
pub struct Dataset {
    root: PathBuf,
    index: DatasetIndex,
}

impl Dataset {
    /// Creates a new dataset in `root` (created if missing; must not hold an index yet).
    pub fn create(root: &Path, labels_topic: &str, instruction_topic: &str) -> Result<Dataset> {
        if root.join(INDEX_FILE).exists() {
            return Err(bad(root, "a dataset already exists here; pass --resume to append to it"));
        }
        std::fs::create_dir_all(root).map_err(|e| RecorderError::io(root, e))?;
        let ds = Dataset {
            root: root.to_path_buf(),
            index: DatasetIndex {
                format: FORMAT.into(),
                kotoba_version: KOTOBA_VERSION.into(),
                labels_topic: labels_topic.into(),
                instruction_topic: instruction_topic.into(),
                episodes: Vec::new(),
            },
        };
        ds.save()?;
        Ok(ds)
    }

    /// Opens an existing dataset.
    pub fn open(root: &Path) -> Result<Dataset> {
        let path = root.join(INDEX_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| RecorderError::io(&path, e))?;
        let index: DatasetIndex = serde_json::from_str(&text).map_err(|e| bad(root, &format!("{INDEX_FILE}: {e}")))?;
        if index.format != FORMAT {
            return Err(bad(root, &format!("unknown format {:?} (expected {FORMAT})", index.format)));
        }
        Ok(Dataset { root: root.to_path_buf(), index })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn index(&self) -> &DatasetIndex {
        &self.index
    }

    pub fn episodes(&self) -> &[EpisodeEntry] {
        &self.index.episodes
    }

    pub fn episode_dir(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The directory for the next episode (`episode_NNNN`, after every
    /// existing one, indexed or not, so nothing is ever overwritten).
    pub fn next_episode_dir(&self) -> Result<PathBuf> {
        let mut n = self.index.episodes.iter().filter_map(|e| episode_number(&e.name)).max().map_or(0, |m| m + 1);
        for name in self.unindexed_dirs()? {
            if let Some(m) = episode_number(&name) {
                n = n.max(m + 1);
            }
        }
        Ok(self.root.join(format!("episode_{n:04}")))
    }

    /// Episode directories on disk that the index does not list: episodes
    /// interrupted by a crash (or a full disk).
    pub fn unindexed_dirs(&self) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(&self.root).map_err(|e| RecorderError::io(&self.root, e))?;
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| episode_number(n).is_some() && !self.index.episodes.iter().any(|e| &e.name == n))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Appends an episode and rewrites the index atomically.
    pub fn add_episode(&mut self, entry: EpisodeEntry) -> Result<()> {
        self.index.episodes.push(entry);
        if let Err(e) = self.save() {
            self.index.episodes.pop();
            return Err(e);
        }
        Ok(())
    }

    fn save(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.index).map_err(|e| bad(&self.root, &e.to_string()))?;
        write_atomic(&self.root.join(INDEX_FILE), &json)
    }
}

fn episode_number(name: &str) -> Option<u32> {
    name.strip_prefix("episode_")?.parse().ok()
}

fn bad(root: &Path, reason: &str) -> RecorderError {
    RecorderError::BadDataset { path: root.to_path_buf(), reason: reason.to_string() }
}
