//! EIPL-style input augmentation. Only the network's inputs are perturbed; the
//! targets stay clean so the model learns a noiseless internal representation.
//! One random draw covers a whole sequence, as EIPL's clip-level transforms do.

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    pub enabled: bool,
    /// Brightness factor drawn from `[1 - b, 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[1 - c, 1 + c]`.
    pub contrast: f32,
    /// Std-dev of per-pixel Gaussian noise (images in [0, 1]).
    pub image_noise: f32,
    /// Probability of erasing one random rectangle in every frame of the sequence.
    pub erase_prob: f32,
    /// Std-dev of joint noise in normalised units (EIPL: 0.1).
    pub joint_noise: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            brightness: 0.4,
            contrast: 0.4,
            image_noise: 0.02,
            erase_prob: 0.5,
            joint_noise: 0.1,
        }
    }
}

fn normal<R: Rng>(rng: &mut R) -> f32 {
    let u: f32 = rng.random();
    let v: f32 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
}

/// Perturbs one sequence of CHW images in [0, 1] (`frames x 3 x h x w`) in place.
pub fn augment_images<R: Rng>(
    cfg: &AugmentConfig,
    rng: &mut R,
    imgs: &mut [f32],
    h: usize,
    w: usize,
) {
    if !cfg.enabled {
        return;
    }
    let bright = 1.0 + cfg.brightness * (2.0 * rng.random::<f32>() - 1.0);
    let contrast = 1.0 + cfg.contrast * (2.0 * rng.random::<f32>() - 1.0);
    let erase = if rng.random::<f32>() < cfg.erase_prob {
        let eh = rng.random_range(1..=h.div_ceil(3));
        let ew = rng.random_range(1..=w.div_ceil(3));
        Some((
            rng.random_range(0..=h - eh),
            rng.random_range(0..=w - ew),
            eh,
            ew,
            rng.random::<f32>(),
        ))
    } else {
        None
    };
    let plane = h * w;
    for frame in imgs.chunks_mut(3 * plane) {
        let mean = frame.iter().sum::<f32>() / frame.len() as f32;
        for x in frame.iter_mut() {
            let y = ((*x * bright - mean) * contrast + mean) + cfg.image_noise * normal(rng);
            *x = y.clamp(0.0, 1.0);
        }
        if let Some((y0, x0, eh, ew, v)) = erase {
            for c in 0..3 {
                for y in y0..y0 + eh {
                    frame[c * plane + y * w + x0..c * plane + y * w + x0 + ew].fill(v);
                }
            }
        }
    }
}

/// Adds Gaussian noise to normalised joints in place.
pub fn augment_joints<R: Rng>(cfg: &AugmentConfig, rng: &mut R, joints: &mut [f32]) {
    if cfg.enabled && cfg.joint_noise > 0.0 {
        for x in joints {
            *x += cfg.joint_noise * normal(rng);
        }
    }
}
