//! ROS 2 quality-of-service, as far as rmw_zenoh implements it (reliability,
//! durability, history depth; deadline, lifespan and liveliness are ignored there).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reliability {
    #[default]
    Reliable,
    BestEffort,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    #[default]
    Volatile,
    /// Late joiners get the last `depth` samples (latched topics such as
    /// `/robot_description`).
    TransientLocal,
}

/// QoS of one endpoint. `depth` 0 means "keep all".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct Qos {
    pub reliability: Reliability,
    pub durability: Durability,
    pub depth: usize,
}

impl Default for Qos {
    /// ROS 2's default profile: reliable, volatile, keep last 10.
    fn default() -> Self {
        Qos { reliability: Reliability::Reliable, durability: Durability::Volatile, depth: 10 }
    }
}

impl Qos {
    /// ROS 2's sensor-data profile: best effort, keep last 5.
    pub const fn sensor_data() -> Self {
        Qos { reliability: Reliability::BestEffort, durability: Durability::Volatile, depth: 5 }
    }

    /// A latched topic: reliable, transient-local, keep last 1.
    pub const fn latched() -> Self {
        Qos { reliability: Reliability::Reliable, durability: Durability::TransientLocal, depth: 1 }
    }

    pub const fn with_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// The `offered_qos_profiles` YAML entry rosbag2 (metadata version 9) writes
    /// for a publisher with this QoS.
    pub fn rosbag2_yaml(&self) -> String {
        const INF: &str = "{sec: 9223372036, nsec: 854775807}";
        let (history, depth) = if self.depth == 0 { ("keep_all", 0) } else { ("keep_last", self.depth) };
        let reliability = match self.reliability {
            Reliability::Reliable => "reliable",
            Reliability::BestEffort => "best_effort",
        };
        let durability = match self.durability {
            Durability::Volatile => "volatile",
            Durability::TransientLocal => "transient_local",
        };
        format!(
            "- history: {history}\n  depth: {depth}\n  reliability: {reliability}\n  durability: {durability}\n  \
             deadline: {INF}\n  lifespan: {INF}\n  liveliness: automatic\n  liveliness_lease_duration: {INF}\n  \
             avoid_ros_namespace_conventions: false\n"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rosbag2_yaml_matches_version_9_layout() {
        let y = Qos::default().rosbag2_yaml();
        assert_eq!(
            y,
            "- history: keep_last\n  depth: 10\n  reliability: reliable\n  durability: volatile\n  \
             deadline: {sec: 9223372036, nsec: 854775807}\n  lifespan: {sec: 9223372036, nsec: 854775807}\n  \
             liveliness: automatic\n  liveliness_lease_duration: {sec: 9223372036, nsec: 854775807}\n  \
             avoid_ros_namespace_conventions: false\n"
        );
        assert!(Qos::latched().rosbag2_yaml().contains("durability: transient_local"));
        assert!(Qos::sensor_data().rosbag2_yaml().contains("reliability: best_effort"));
    }
}
