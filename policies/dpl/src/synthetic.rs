//! A small synthetic task for tests and `kotoba train --synthetic`: a blob moves
//! across a grey image in a direction chosen by the instruction; the joints follow
//! the blob, and the gripper closes when the label switches from "reach" to "hold"
//! half-way (the blob keeps moving: it is carried).
//! The first frames of every instruction look the same, so only language tells the
//! model where to go.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::{Dataset, Episode, LabelVocab};
use crate::prep::cos_smooth;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    pub episodes: usize,
    pub steps: usize,
    pub height: usize,
    pub width: usize,
    /// At least 3: blob x, blob y, gripper; further joints are smooth functions of those.
    pub joints: usize,
    pub embed_dim: usize,
    /// Number of instructions (directions of motion), at most 4.
    pub instructions: usize,
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            episodes: 16,
            steps: 20,
            height: 64,
            width: 64,
            joints: 4,
            embed_dim: 384,
            instructions: 2,
            seed: 0,
        }
    }
}

/// Unit-norm random vector, a stand-in for a sentence embedding.
fn embedding(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
    let v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.into_iter().map(|x| x / n).collect()
}

/// Directions of travel per instruction (x, y per step, in image fractions).
const DIRS: [(f32, f32); 4] = [(1.0, 0.3), (-1.0, 0.3), (0.3, 1.0), (0.3, -1.0)];

/// The instruction embeddings used by [`generate`] for `cfg` (one per instruction id).
pub fn instruction_embeddings(cfg: &SyntheticConfig) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x1a5d);
    (0..cfg.instructions.clamp(1, 4))
        .map(|_| embedding(&mut rng, cfg.embed_dim))
        .collect()
}

/// Generates `cfg.episodes` episodes, instructions taken in turn.
pub fn generate(cfg: &SyntheticConfig) -> Dataset {
    let instr = instruction_embeddings(cfg);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut lrng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7ab3);
    let names = vec!["reach".to_string(), "hold".to_string()];
    let mut embeddings = embedding(&mut lrng, cfg.embed_dim);
    embeddings.extend(embedding(&mut lrng, cfg.embed_dim));
    let labels = LabelVocab {
        names,
        embeddings,
        embed_dim: cfg.embed_dim,
    };
    let (h, w, t_len) = (cfg.height, cfg.width, cfg.steps.max(2));
    let radius = (h.min(w) as f32 / 8.0).max(1.5);
    let episodes = (0..cfg.episodes)
        .map(|e| {
            let id = e % instr.len();
            let (dx, dy) = DIRS[id];
            let speed = 0.5 / t_len as f32 * rng.random_range(0.9f32..1.1);
            let (x0, y0) = (
                0.5 + rng.random_range(-0.04f32..0.04),
                0.5 + rng.random_range(-0.04f32..0.04),
            );
            let switch = t_len / 2;
            let grip: Vec<f32> = (0..t_len)
                .map(|t| if t >= switch { 1.0 } else { 0.0 })
                .collect();
            let grip = cos_smooth(&grip, 2);
            let mut images = Vec::with_capacity(t_len * h * w * 3);
            let mut joints = Vec::with_capacity(t_len * cfg.joints);
            for t in 0..t_len {
                // The blob travels the whole episode (carried once held).
                let s = t as f32;
                let (bx, by) = (x0 + dx * speed * s, y0 + dy * speed * s);
                for yy in 0..h {
                    for xx in 0..w {
                        let d2 = (xx as f32 - bx * w as f32).powi(2)
                            + (yy as f32 - by * h as f32).powi(2);
                        let a = (-d2 / (radius * radius)).exp();
                        let g = 0.35 * (1.0 - a);
                        images.extend_from_slice(&[
                            ((g + 0.9 * a) * 255.0) as u8,
                            ((g + 0.2 * a) * 255.0) as u8,
                            ((g + 0.1 * a) * 255.0) as u8,
                        ]);
                    }
                }
                let base = [bx * 2.0 - 1.0, by * 2.0 - 1.0, grip[t]];
                for j in 0..cfg.joints.max(3) {
                    joints.push(if j < 3 {
                        base[j]
                    } else {
                        (j as f32 * base[0] + base[1]).sin() * 0.5
                    });
                }
            }
            Episode {
                images,
                height: h,
                width: w,
                joints,
                num_joints: cfg.joints.max(3),
                instruction: instr[id].clone(),
                labels: (0..t_len).map(|t| usize::from(t >= switch)).collect(),
                targets: None,
            }
        })
        .collect();
    Dataset { episodes, labels }
}
