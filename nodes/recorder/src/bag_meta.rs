//! rosbag2 `metadata.yaml`, version 9, laid out like rosbag2's own
//! (`rosbag2_storage/yaml.hpp`), and written atomically (temp file + rename).

use crate::error::{RecorderError, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One topic of a bag with its message count.
#[derive(Debug, Clone, PartialEq)]
pub struct BagTopic {
    pub name: String,
    /// `pkg/msg/Name`.
    pub ros_type: String,
    /// The `offered_qos_profiles` YAML list (see `kotoba_msgs::Qos::rosbag2_yaml`).
    pub qos_yaml: String,
    /// `RIHS01_…`.
    pub type_hash: String,
    pub count: u64,
}

/// What `metadata.yaml` and the MCAP `rosbag2` metadata record describe.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BagInfo {
    /// The storage file's name inside the bag directory (`<bag>_0.mcap`).
    pub file_name: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub topics: Vec<BagTopic>,
    /// rosbag2's free-form `custom_data` (string → string).
    pub custom_data: BTreeMap<String, String>,
}

impl BagInfo {
    pub fn message_count(&self) -> u64 {
        self.topics.iter().map(|t| t.count).sum()
    }

    fn duration_ns(&self) -> i64 {
        (self.end_ns - self.start_ns).max(0)
    }

    /// The body rosbag2 stores both in `metadata.yaml` (under
    /// `rosbag2_bagfile_information`) and in the MCAP `rosbag2` metadata record.
    /// `indent` is prepended to every line.
    pub fn body_yaml(&self, indent: &str) -> String {
        let (start, dur, count) = (self.start_ns, self.duration_ns(), self.message_count());
        let mut s = String::new();
        let mut line = |l: &str| {
            s.push_str(indent);
            s.push_str(l);
            s.push('\n');
        };
        line("version: 9");
        line("storage_identifier: mcap");
        line(&format!("duration:\n{indent}  nanoseconds: {dur}"));
        line(&format!("starting_time:\n{indent}  nanoseconds_since_epoch: {start}"));
        line(&format!("message_count: {count}"));
        if self.topics.is_empty() {
            line("topics_with_message_count: []");
        } else {
            line("topics_with_message_count:");
        }
        for t in &self.topics {
            line("  - topic_metadata:");
            line(&format!("      name: {}", t.name));
            line(&format!("      type: {}", t.ros_type));
            line("      serialization_format: cdr");
            line("      offered_qos_profiles:");
            for q in t.qos_yaml.lines() {
                line(&format!("        {q}"));
            }
            line(&format!("      type_description_hash: {}", t.type_hash));
            line(&format!("    message_count: {}", t.count));
        }
        line("compression_format: \"\"");
        line("compression_mode: \"\"");
        line("relative_file_paths:");
        line(&format!("  - {}", self.file_name));
        line("files:");
        line(&format!("  - path: {}", self.file_name));
        line("    starting_time:");
        line(&format!("      nanoseconds_since_epoch: {start}"));
        line("    duration:");
        line(&format!("      nanoseconds: {dur}"));
        line(&format!("    message_count: {count}"));
        if self.custom_data.is_empty() {
            line("custom_data: ~");
        } else {
            line("custom_data:");
            for (k, v) in &self.custom_data {
                // A JSON string literal is a valid YAML double-quoted scalar.
                line(&format!("  {}: {}", json_str(k), json_str(v)));
            }
        }
        line("ros_distro: jazzy");
        s
    }

    /// The whole `metadata.yaml` text.
    pub fn metadata_yaml(&self) -> String {
        format!("rosbag2_bagfile_information:\n{}", self.body_yaml("  "))
    }

    /// Writes `dir/metadata.yaml` atomically.
    pub fn write_metadata_yaml(&self, dir: &Path) -> Result<()> {
        write_atomic(&dir.join("metadata.yaml"), self.metadata_yaml().as_bytes())
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Writes `path` so that readers see either the old or the new content, never
/// a mix: write a sibling temp file, fsync it, rename it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_data()?;
        std::fs::rename(&tmp, path)
    })();
    res.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        if crate::error::is_enospc(&e) {
            RecorderError::DiskFull {
                path: path.to_path_buf(),
                dataset: path.parent().unwrap_or(path).to_path_buf(),
                written: 0,
            }
        } else {
            RecorderError::io(path, e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_has_rosbag2_layout() {
        let info = BagInfo {
            file_name: "ep_0.mcap".into(),
            start_ns: 10,
            end_ns: 25,
            topics: vec![BagTopic {
                name: "/labels".into(),
                ros_type: "std_msgs/msg/String".into(),
                qos_yaml: kotoba_msgs::Qos::default().rosbag2_yaml(),
                type_hash: "RIHS01_x".into(),
                count: 3,
            }],
            custom_data: BTreeMap::from([("kotoba.instruction".into(), "fold \"it\"".into())]),
        };
        let y = info.metadata_yaml();
        assert!(y.starts_with("rosbag2_bagfile_information:\n  version: 9\n"));
        assert!(y.contains("  duration:\n    nanoseconds: 15\n"));
        assert!(y.contains("      offered_qos_profiles:\n          - history: keep_last\n            depth: 10\n"));
        assert!(y.contains("  message_count: 3\n"));
        assert!(y.contains("  \"kotoba.instruction\": \"fold \\\"it\\\"\"\n"));
    }
}
