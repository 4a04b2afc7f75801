//! The subgoal head ([`crate::ModelConfig::goal_head`]): where the arm will be
//! (normalised joints) when the current phase ends, read from the current
//! frame's attention points straight from the encoder, so its loss teaches
//! them where the task is.
//!
//! The head is deliberately weak: for each label an affine map of the points
//! (only the goal points when [`crate::ModelConfig::goal_points`] is set), plus
//! a bias from the instruction latent. A few dozen demonstrated scenes are
//! few enough for a richer head to memorise each scene from wherever the
//! points happen to land; an affine one rewards points that move with the
//! object that sets the goal.

use candle_core::Tensor;

use super::{Dense, Sarnn};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::params::Init;

#[derive(Clone)]
pub(super) struct GoalHead {
    map: Dense,
}

/// Coordinates the head reads: the goal points', else every point's.
fn read_width(cfg: &ModelConfig) -> usize {
    2 * if cfg.goal_points > 0 { cfg.goal_points } else { cfg.keypoints }
}

impl GoalHead {
    pub(super) fn new(init: &mut Init, cfg: &ModelConfig) -> Result<Self> {
        let cin = cfg.labels * (read_width(cfg) + 1) + cfg.lang_dim;
        Ok(Self { map: Dense::new(init, "goal_head", cin, cfg.joints)? })
    }

    pub(super) fn frozen(&self) -> Self {
        Self { map: self.map.frozen() }
    }
}

impl Sarnn {
    /// Predicted subgoals `(B, T, D)` from encoder points `(B, T, 2K)`, the
    /// active label indices `(B, T)` (u32), the instruction `(B, E)` and label
    /// embeddings `(B, T, E)`; `None` for a model without the head. The latent
    /// enters detached: this head shapes the vision, not the core's language input.
    pub fn predict_goal(
        &self,
        points: &Tensor,
        label_idx: &Tensor,
        instr: &Tensor,
        labels: &Tensor,
    ) -> Result<Option<Tensor>> {
        let Some(head) = &self.goal else { return Ok(None) };
        let (b, t, k2) = points.dims3()?;
        let (n, w, v) = (b * t, read_width(&self.cfg), self.cfg.labels);
        let z = self.seq_latent(points, b, t, instr, labels)?.detach();
        let label_hot = candle_nn::encoding::one_hot(label_idx.clone(), v, 1f32, 0f32)?;
        let read = points.narrow(2, k2 - w, w)?.reshape((n, w))?;
        let x = Tensor::cat(&[&read, &Tensor::ones((n, 1), read.dtype(), read.device())?], 1)?;
        // One affine map per label: the one-hot picks its block.
        let per_label = label_hot.reshape((n, v, 1))?.broadcast_mul(&x.unsqueeze(1)?)?.reshape((n, v * (w + 1)))?;
        let y = head.map.forward(&Tensor::cat(&[&per_label, &z], 1)?)?;
        Ok(Some(y.reshape((b, t, self.cfg.joints))?))
    }
}
