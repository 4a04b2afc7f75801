#![doc = include_str!("../README.md")]

mod aic;
mod controller;
mod events;
mod gravity;
mod joint_map;
mod limits;
pub mod lockstep;
pub mod metrics;
#[cfg(feature = "mujoco")]
pub mod mujoco;
mod pd;
pub mod plant;
mod reference;
pub mod rt;
pub mod rtsys;
mod supervisor;
mod types;
mod uaic;
mod urdf_chain;

pub mod bench;

pub use aic::{ActiveInference, AicGains};
pub use controller::JointController;
pub use events::{Event, EventKind, EventQueue, Level};
pub use gravity::{ChainGravity, ChainLink, GravityModel, NoGravity};
pub use joint_map::{JointMap, JointMapError};
pub use limits::{ARM_JOINTS, JointLimits, LimitsError};
pub use pd::{PdGains, PdGravity};
pub use reference::{
    ChunkError, Interpolation, Interpolator, MAX_POINTS, TargetChunk, VelocityEstimator,
};
pub use supervisor::{
    Command, EVENT_CAPACITY, EncoderSample, LimitAction, Mode, OutputMode, Supervisor,
    SupervisorConfig,
};
pub use types::{JVec, JointState, PerJoint, Reference, all_finite};
pub use uaic::{UaicGains, UnbiasedActiveInference};

/// A configuration the controllers cannot run with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    #[error("{got} per-joint gains given, the controller has {need} joints")]
    TooFewGains { got: usize, need: usize },
    #[error("{0} must be finite and positive")]
    NotPositive(&'static str),
}
