#![doc = include_str!("../README.md")]

mod augment;
pub mod bench;
mod checkpoint;
mod config;
mod conv;
mod conv_cols;
mod data;
mod direct;
#[cfg(target_arch = "x86_64")]
mod direct_avx512;
mod ensemble;
mod error;
mod fit;
mod model;
mod optim;
mod params;
pub mod phases;
mod policy;
pub mod prep;
mod regress;
mod regress_fast;
mod replay_check;
mod settle;
pub mod synthetic;
mod train;

pub use augment::AugmentConfig;
pub use checkpoint::{CONFIG_FILE, Checkpoint, CheckpointConfig, InstructionStart, MODEL_FILE};
pub use config::{Conditioning, GoalEncoder, JointNorm, ModelConfig, ResidualBase};
pub use data::{Dataset, DatasetShape, Episode, LabelVocab};
pub use error::{DplError, Result};
pub use fit::{
    BEST_DIR, EpochLog, FitOptions, LAST_DIR, build_trainer, fit, fit_motor, format_epoch, save_run,
};
pub use model::{CoreOut, LstmState, NewCore, Sarnn, SeqOut, Words};
pub use optim::Adam;
pub use params::Params;
pub use ensemble::EnsemblePolicy;
pub use policy::{
    JointChunk, Observation, Policy, PolicyOutput, PolicySpec, RuntimeConfig, SarnnPolicy,
};
pub use replay_check::{StepReplay, step_replay};
pub use settle::{SettleAtSubgoal, SettleConfig};
pub use regress::{ErrorRegression, RegressConfig, RegressTarget, WindowStep};
pub use train::{Batch, Losses, Span, TrainConfig, TrainState, Trainer, check_compatible, point_ramp};

pub use candle_core::Device;

/// CUDA device 0 when `prefer_cuda` and the crate was built with the `cuda`
/// feature and a GPU is present; otherwise the CPU.
pub fn device(prefer_cuda: bool) -> Result<Device> {
    if prefer_cuda {
        Ok(Device::cuda_if_available(0)?)
    } else {
        Ok(Device::Cpu)
    }
}
