//! The subgoal head ([`crate::ModelConfig::goal_head`]): from the attention
//! points of the current frame, the active label and the instruction latent,
//! the (normalised) joints at the end of the current phase. It reads the points
//! straight from the encoder, so its loss teaches them where the task is.

use candle_core::Tensor;

use super::{Dense, Sarnn, leaky};
use crate::error::Result;
use crate::params::Init;

/// Hidden width of the head's two-layer perceptron.
pub(super) const GOAL_HIDDEN: usize = 32;

#[derive(Clone)]
pub(super) struct GoalHead {
    hidden: Dense,
    out: Dense,
}

impl GoalHead {
    /// Input: points (2K), label one-hot (V) and language latent (Z).
    pub(super) fn new(init: &mut Init, cin: usize, joints: usize) -> Result<Self> {
        Ok(Self {
            hidden: Dense::new(init, "goal_head.0", cin, GOAL_HIDDEN)?,
            out: Dense::new(init, "goal_head.1", GOAL_HIDDEN, joints)?,
        })
    }

    pub(super) fn frozen(&self) -> Self {
        Self { hidden: self.hidden.frozen(), out: self.out.frozen() }
    }
}

impl Sarnn {
    /// Predicted subgoals `(B, T, D)` from encoder points `(B, T, 2K)`, label
    /// one-hots `(B, T, V)`, the instruction `(B, E)` and label embeddings
    /// `(B, T, E)`; `None` for a model without the head. The latent enters
    /// detached: this head shapes the vision, not the core's language input.
    pub fn predict_goal(
        &self,
        points: &Tensor,
        label_hot: &Tensor,
        instr: &Tensor,
        labels: &Tensor,
    ) -> Result<Option<Tensor>> {
        let Some(head) = &self.goal else { return Ok(None) };
        let (b, t, _) = points.dims3()?;
        let z = self.seq_latent(points, b, t, instr, labels)?.detach();
        let x = Tensor::cat(&[&points.reshape((b * t, ()))?, &label_hot.reshape((b * t, ()))?, &z], 1)?;
        let y = head.out.forward(&leaky(&head.hidden.forward(&x)?)?)?;
        Ok(Some(y.reshape((b, t, self.cfg.joints))?))
    }
}
