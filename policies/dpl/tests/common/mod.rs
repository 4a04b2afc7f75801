//! Small shared fixtures: a 16x16 synthetic task that trains in seconds on 2 cores.
#![allow(dead_code)]

use kotoba_dpl::synthetic::{SyntheticConfig, generate};
use kotoba_dpl::{Checkpoint, Conditioning, Dataset, Device, ModelConfig, Sarnn, TrainConfig, Trainer};

pub fn syn_cfg() -> SyntheticConfig {
    SyntheticConfig {
        episodes: 8,
        steps: 10,
        height: 16,
        width: 16,
        joints: 3,
        embed_dim: 32,
        instructions: 2,
        seed: 3,
    }
}

pub fn dataset() -> Dataset {
    generate(&syn_cfg())
}

pub fn model_cfg(cond: Conditioning) -> ModelConfig {
    let s = syn_cfg();
    ModelConfig {
        image_height: s.height,
        image_width: s.width,
        joints: s.joints,
        embed_dim: s.embed_dim,
        labels: 2,
        lang_dim: 8,
        hidden: 32,
        conditioning: cond,
        ..ModelConfig::default()
    }
}

pub fn train_cfg(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 3,
        seed: 7,
        val_fraction: 0.25,
        point_ramp_batches: 50,
        ..TrainConfig::default()
    }
}

/// A frozen copy of a trainer's checkpoint for a policy, starting every
/// instruction from label 0.
pub fn frozen_checkpoint(t: &Trainer) -> Checkpoint {
    Checkpoint { model: t.ckpt.model.frozen(), norm: t.ckpt.norm.clone(), labels: t.ckpt.labels.clone(), start_label: 0, start_labels: Vec::new() }
}

pub fn cpu() -> Device {
    Device::Cpu
}

pub fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kotoba-dpl-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A tensor's values as bit patterns, for bit-exact comparisons.
pub fn bits(t: &candle_core::Tensor) -> Vec<u32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|x| x.to_bits()).collect()
}

pub fn all_params(m: &Sarnn) -> Vec<(String, Vec<u32>)> {
    m.params().iter().map(|(n, v)| (n.clone(), bits(v.as_tensor()))).collect()
}

/// The encoders' and the image decoder's weights.
pub fn vision_params(m: &Sarnn) -> Vec<(String, Vec<u32>)> {
    all_params(m).into_iter().filter(|(n, _)| Sarnn::VISION.iter().any(|v| n.starts_with(v))).collect()
}
