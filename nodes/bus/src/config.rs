use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Which transport a node uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// Zenoh with rmw_zenoh's wire format (default; needs no ROS install).
    #[default]
    Zenoh,
    /// In-process only (tests, all nodes in one process).
    Inproc,
    /// r2r on a sourced ROS 2 (build with `--features ros2`).
    Ros2,
}

/// Transport configuration shared by every node.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusConfig {
    pub backend: BackendKind,
    /// ROS namespace of the node (`/` by default).
    pub namespace: String,
    pub zenoh: ZenohConfig,
}

/// Zenoh session settings. Defaults are rmw_zenoh's own: peer mode, connect to
/// a router on `tcp/localhost:7447`, listen on an ephemeral localhost port,
/// multicast scouting off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ZenohConfig {
    /// ROS domain id; `None` reads `ROS_DOMAIN_ID` (default 0), like every ROS 2 client.
    pub domain_id: Option<usize>,
    pub mode: String,
    pub connect: Vec<String>,
    pub listen: Vec<String>,
    /// A full Zenoh JSON5 config file; when set, `mode`, `connect` and `listen`
    /// are ignored. (`ZENOH_SESSION_CONFIG_URI` and `ZENOH_CONFIG_OVERRIDE` are
    /// honoured too, as in rmw_zenoh.)
    pub config_file: Option<PathBuf>,
    /// How long to wait for the router at start-up before warning.
    #[serde(with = "millis")]
    pub router_wait: Duration,
}

impl Default for ZenohConfig {
    fn default() -> Self {
        ZenohConfig {
            domain_id: None,
            mode: "peer".into(),
            connect: vec!["tcp/localhost:7447".into()],
            listen: vec!["tcp/localhost:0".into()],
            config_file: None,
            router_wait: Duration::from_millis(1000),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
