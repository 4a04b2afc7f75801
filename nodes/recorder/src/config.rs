//! `kotoba record` configuration: a TOML file, overridable by flags.

use crate::error::{RecorderError, Result};
use crate::writer::WriterOptions;
use kotoba_msgs::Qos;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One topic to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicConfig {
    pub topic: String,
    /// `pkg/msg/Name` (or `pkg/Name`).
    #[serde(rename = "type")]
    pub ros_type: String,
    #[serde(default)]
    pub qos: Qos,
}

impl TopicConfig {
    pub fn new(topic: &str, ros_type: &str, qos: Qos) -> Self {
        TopicConfig { topic: topic.into(), ros_type: ros_type.into(), qos }
    }

    /// Parses `TOPIC:TYPE[:latched|:sensor|:reliable]`, the `--topic` flag.
    pub fn parse(s: &str) -> Result<Self> {
        let mut parts = s.splitn(3, ':');
        let (topic, ty) = match (parts.next(), parts.next()) {
            (Some(t), Some(ty)) if !t.is_empty() && !ty.is_empty() => (t, ty),
            _ => return Err(RecorderError::Config(format!("--topic {s:?}: expected TOPIC:TYPE[:latched|sensor|reliable]"))),
        };
        let qos = match parts.next() {
            None | Some("reliable") => Qos::default(),
            Some("latched") => Qos::latched(),
            Some("sensor") => Qos::sensor_data(),
            Some(o) => return Err(RecorderError::Config(format!("--topic {s:?}: unknown QoS {o:?} (latched, sensor, reliable)"))),
        };
        Ok(TopicConfig::new(topic, ty, qos))
    }
}

/// Everything `kotoba record` needs besides the connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordConfig {
    pub topics: Vec<TopicConfig>,
    /// `std_msgs/String` label events ("grasping the corner").
    pub labels_topic: String,
    /// `std_msgs/String` instruction (latched).
    pub instruction_topic: String,
    /// `std_msgs/String` commands: start, stop, fail, discard, quit.
    pub command_topic: String,
    /// Seconds between episodes during which nothing is recorded.
    pub reset_s: f64,
    pub operator: String,
    /// URDF whose sha256 goes into every episode's index entry.
    pub robot_description: Option<PathBuf>,
    /// Instruction used when nothing arrives on the instruction topic.
    pub instruction: String,
    /// Bytes of received-but-unwritten messages allowed in memory before new
    /// ones are dropped (and counted).
    pub queue_bytes: usize,
    pub writer: WriterOptions,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            topics: vec![
                TopicConfig::new("/joint_states", "sensor_msgs/msg/JointState", Qos::default().with_depth(100)),
                TopicConfig::new("/camera/image_raw", "sensor_msgs/msg/Image", Qos::sensor_data()),
                TopicConfig::new("/arm_controller/commands", "std_msgs/msg/Float64MultiArray", Qos::default()),
                TopicConfig::new("/policy/joint_targets", "trajectory_msgs/msg/JointTrajectory", Qos::default()),
                TopicConfig::new("/labels", "std_msgs/msg/String", Qos::default()),
                TopicConfig::new("/instruction", "std_msgs/msg/String", Qos::latched()),
            ],
            labels_topic: "/labels".into(),
            instruction_topic: "/instruction".into(),
            command_topic: "/recorder/command".into(),
            reset_s: 5.0,
            operator: String::new(),
            robot_description: None,
            instruction: String::new(),
            queue_bytes: 512 << 20,
            writer: WriterOptions::default(),
        }
    }
}

impl RecordConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| RecorderError::io(path, e))?;
        toml::from_str(&text).map_err(|e| RecorderError::Config(format!("{}: {e}", path.display())))
    }

    /// Checks every topic name and type before anything is opened, so a typo
    /// is an error at start, not an empty episode later.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for t in &self.topics {
            let q = kotoba_bus::qualify(&t.topic).map_err(|_| RecorderError::BadTopic(t.topic.clone()))?;
            if !seen.insert(q.clone()) {
                return Err(RecorderError::Config(format!("topic {q} is listed twice")));
            }
            if kotoba_msgs::lookup(&t.ros_type).is_none() {
                return Err(RecorderError::UnknownType {
                    topic: t.topic.clone(),
                    ty: t.ros_type.clone(),
                    supported: crate::validate::supported_types(),
                });
            }
        }
        for (what, topic) in [("labels", &self.labels_topic), ("instruction", &self.instruction_topic)] {
            if let Some(t) = self.topics.iter().find(|t| kotoba_bus::qualify(&t.topic).ok().as_ref() == Some(topic))
                && kotoba_msgs::lookup(&t.ros_type).map(|e| e.ros_name) != Some("std_msgs/msg/String")
            {
                return Err(RecorderError::Config(format!(
                    "the {what} topic {topic} must be std_msgs/msg/String, not {}",
                    t.ros_type
                )));
            }
        }
        if !(self.reset_s >= 0.0) {
            return Err(RecorderError::Config(format!("reset_s must be >= 0, got {}", self.reset_s)));
        }
        Ok(())
    }

    /// sha256 (hex) of the robot description file, if one is configured.
    pub fn robot_description_hash(&self) -> Result<Option<String>> {
        use sha2::Digest;
        let Some(p) = &self.robot_description else { return Ok(None) };
        let bytes = std::fs::read(p).map_err(|e| RecorderError::io(p, e))?;
        Ok(Some(hex::encode(sha2::Sha256::digest(&bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_parse_flags() {
        RecordConfig::default().validate().unwrap();
        let t = TopicConfig::parse("/camera2/image_raw:sensor_msgs/Image:sensor").unwrap();
        assert_eq!(t.qos, Qos::sensor_data());
        assert!(TopicConfig::parse("/x").is_err());
        assert!(TopicConfig::parse("/x:T:weird").is_err());
        let mut c = RecordConfig::default();
        c.topics.push(TopicConfig::new("/y", "nope_msgs/msg/Nope", Qos::default()));
        assert!(matches!(c.validate(), Err(RecorderError::UnknownType { .. })));
        let toml_text = "reset_s = 2.0\n[[topics]]\ntopic = \"/a\"\ntype = \"std_msgs/msg/String\"\n[writer]\ncompression = \"none\"\n";
        let c: RecordConfig = toml::from_str(toml_text).unwrap();
        assert_eq!(c.topics.len(), 1);
        assert_eq!(c.writer.compression, crate::Compression::None);
    }
}
