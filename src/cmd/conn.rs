//! Connection arguments shared by every command that joins the ROS 2 graph.

use clap::{Args, ValueEnum};
use kotoba_bus::{BackendKind, BusConfig};
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// Zenoh with rmw_zenoh's wire format (no ROS install needed).
    Zenoh,
    /// In-process only; useful for all-in-one runs and tests.
    Inproc,
    /// r2r on a sourced ROS 2 (binary built with `--features ros2`).
    Ros2,
}

#[derive(Args, Clone)]
pub struct ConnArgs {
    /// Transport backend.
    #[arg(long, value_enum, default_value = "zenoh", help_heading = "Connection")]
    pub backend: Backend,
    /// Zenoh endpoint to connect to (the router), repeatable. Default: rmw_zenoh's `tcp/localhost:7447`.
    #[arg(long, value_name = "ENDPOINT", help_heading = "Connection")]
    pub connect: Vec<String>,
    /// Zenoh endpoint to listen on, repeatable. Default: `tcp/localhost:0`.
    #[arg(long, value_name = "ENDPOINT", help_heading = "Connection")]
    pub listen: Vec<String>,
    /// Zenoh mode: `peer` (rmw_zenoh's default) or `client`.
    #[arg(long, default_value = "peer", help_heading = "Connection")]
    pub mode: String,
    /// ROS domain id. Default: $ROS_DOMAIN_ID, else 0.
    #[arg(long, value_name = "ID", help_heading = "Connection")]
    pub domain_id: Option<usize>,
    /// ROS namespace for this node.
    #[arg(long, default_value = "/", help_heading = "Connection")]
    pub namespace: String,
    /// Full Zenoh JSON5 session config (overrides --connect/--listen/--mode).
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub zenoh_config: Option<PathBuf>,
}

impl ConnArgs {
    pub fn bus_config(&self) -> BusConfig {
        let mut cfg = BusConfig {
            backend: match self.backend {
                Backend::Zenoh => BackendKind::Zenoh,
                Backend::Inproc => BackendKind::Inproc,
                Backend::Ros2 => BackendKind::Ros2,
            },
            namespace: self.namespace.clone(),
            ..Default::default()
        };
        let z = &mut cfg.zenoh;
        z.domain_id = self.domain_id;
        z.mode = self.mode.clone();
        if !self.connect.is_empty() {
            z.connect = self.connect.clone();
        }
        if !self.listen.is_empty() {
            z.listen = self.listen.clone();
        }
        z.config_file = self.zenoh_config.clone();
        cfg
    }

    pub fn open(&self, node: &str) -> anyhow::Result<kotoba_bus::Bus> {
        Ok(kotoba_bus::Bus::open(&self.bus_config(), node)?)
    }
}

/// QoS flags for commands that create one endpoint.
#[derive(Args, Clone)]
pub struct QosArgs {
    /// Best-effort instead of reliable delivery.
    #[arg(long, help_heading = "QoS")]
    pub best_effort: bool,
    /// Transient-local durability (latched topics such as /robot_description).
    #[arg(long, help_heading = "QoS")]
    pub transient_local: bool,
    /// History depth (0 = keep all).
    #[arg(long, default_value_t = 10, help_heading = "QoS")]
    pub depth: usize,
}

impl QosArgs {
    pub fn qos(&self) -> kotoba_bus::Qos {
        kotoba_bus::Qos {
            reliability: if self.best_effort {
                kotoba_bus::Reliability::BestEffort
            } else {
                kotoba_bus::Reliability::Reliable
            },
            durability: if self.transient_local {
                kotoba_bus::Durability::TransientLocal
            } else {
                kotoba_bus::Durability::Volatile
            },
            depth: self.depth,
        }
    }
}
