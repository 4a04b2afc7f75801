#![doc = include_str!("../README.md")]

mod bench;
mod camera;
mod config;
mod encoder;
mod episode;
mod episode_run;
mod error;
pub mod expert;
mod grasp;
pub mod ik;
mod mjcf;
mod robot;
mod sim;
pub mod task;

pub use bench::bench_sim;
pub use camera::{Camera, Frame};
pub use config::{
    CameraConfig, EncoderConfig, GraspConfig, RandomizeConfig, ServoGains, SimConfig, TowelConfig,
};
pub use encoder::{Encoder, JointReading};
pub use episode::EpisodeParams;
pub use episode_run::{EpisodeOutcome, run_scripted};
pub use error::{Result, SimError};
pub use nalgebra;
pub use robot::{DEFAULT_URDF, JointSpec, RobotModel};
pub use sim::{Mode, Sim, StepEvent};

/// Default arm start pose (rad): tool above the towel, pointing down.
pub const HOME: [f64; 6] = [0.0, -1.9, 1.9, -1.57, -1.57, 0.0];
