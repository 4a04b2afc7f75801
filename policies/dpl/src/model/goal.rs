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
//!
//! With [`crate::ModelConfig::goal_input`] the core reads the prediction,
//! detached, so the core's losses leave the head and the vision alone.

use candle_core::Tensor;

use super::{Dense, Sarnn, Words};
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

/// Prefix of the head's parameter names.
pub(super) const PARAMS: &str = "goal_head";

/// The gate of [`crate::ModelConfig::goal_pull`], `(H) -> (D)`. Its bias
/// starts at [`crate::ModelConfig::goal_gate_init`]: at the default −3 a pull
/// of about 5 % of the way per step, so an untrained model mostly holds still.
pub(super) fn gate(init: &mut Init, cfg: &ModelConfig) -> Result<Dense> {
    let mut g = Dense::new(init, "goal_gate", cfg.hidden, cfg.joints)?;
    g.b = init.constant("goal_gate.bias", &[cfg.joints], cfg.goal_gate_init as f32)?;
    Ok(g)
}

/// How the head reads pixel goal points: `PIXEL_GAIN × (coordinate − 0.5)`.
/// Between scenes the towel moves by a pixel or two, a few hundredths of the
/// image, so in plain coordinates the head needs slopes of several units per
/// coordinate, which a few hundred Adam steps at 1e-3 (at most 1e-3 each) do
/// not reach: in session 13 such a head missed the grasp by 0.088 rad of pan on
/// its own training scenes, where a least-squares fit on the same points was
/// within 0.013. Its weights start at zero, so the gain does not blow up the
/// first predictions.
const PIXEL_GAIN: f64 = 10.0;

fn pixel_points(cfg: &ModelConfig) -> bool {
    cfg.goal_encoder == crate::config::GoalEncoder::Pixels
}

impl GoalHead {
    pub(super) fn new(init: &mut Init, cfg: &ModelConfig) -> Result<Self> {
        let cin = cfg.goal_maps() * (read_width(cfg) + 1) + cfg.lang_dim;
        let mut map = Dense::new(init, PARAMS, cin, cfg.joints)?;
        if pixel_points(cfg) {
            map.w = init.zeros(&format!("{PARAMS}.weight"), &[cfg.joints, cin])?;
        }
        Ok(Self { map })
    }

    pub(super) fn frozen(&self) -> Self {
        Self { map: self.map.frozen() }
    }
}

impl Sarnn {
    /// Predicted subgoals `(B, T, D)` from encoder points `(B, T, 2K)`, the
    /// indices of the head's map for each step `(B, T)` (u32, see
    /// [`crate::ModelConfig::goal_instructions`]: the label, or instruction ×
    /// labels + label), the instruction `(B, E)` and label embeddings `(B, T,
    /// E)`; `None` for a model without the head. The latent enters detached:
    /// this head shapes the vision, not the core's language input.
    pub fn predict_goal(
        &self,
        points: &Tensor,
        goal_key: &Tensor,
        instr: &Tensor,
        labels: &Tensor,
    ) -> Result<Option<Tensor>> {
        if self.goal.is_none() {
            return Ok(None);
        }
        let (b, t, _) = points.dims3()?;
        let z = self.seq_latent(points, b, t, instr, labels)?;
        let goal = self.goal_from(points, &self.goal_hot(goal_key)?, &z)?;
        Ok(Some(goal.reshape((b, t, self.cfg.joints))?))
    }

    /// The subgoal `(B·T, D)` from points `(B, T, 2K)`, per-step map weights
    /// `(B·T, M)` (M = [`crate::ModelConfig::goal_maps`]; one-hot in training,
    /// a running policy may pass its predicted label distribution, which mixes
    /// the labels' maps) and the language latent `(B·T, Z)`, which enters detached.
    pub fn goal_from(&self, points: &Tensor, label_weights: &Tensor, z: &Tensor) -> Result<Tensor> {
        let head = self.goal_head()?;
        Ok(head.map.forward(&self.goal_features(points, label_weights, z)?)?)
    }

    fn goal_head(&self) -> Result<&GoalHead> {
        self.goal.as_ref().ok_or_else(|| crate::error::DplError::Config("this model has no subgoal head".into()))
    }

    /// The head's input rows `(B·T, C)`: [`Sarnn::goal_from`] is one affine map of them.
    fn goal_features(&self, points: &Tensor, label_weights: &Tensor, z: &Tensor) -> Result<Tensor> {
        let (b, t, k2) = points.dims3()?;
        let (n, w, v) = (b * t, read_width(&self.cfg), self.cfg.goal_maps());
        let mut read = points.narrow(2, k2 - w, w)?.reshape((n, w))?;
        if pixel_points(&self.cfg) {
            read = ((read - 0.5)? * PIXEL_GAIN)?;
        }
        let x = Tensor::cat(&[&read, &Tensor::ones((n, 1), read.dtype(), read.device())?], 1)?;
        // One affine map per label: the label weights pick (or mix) its block.
        let per_label = label_weights.reshape((n, v, 1))?.broadcast_mul(&x.unsqueeze(1)?)?.reshape((n, v * (w + 1)))?;
        Ok(Tensor::cat(&[&per_label, &z.detach()], 1)?)
    }

    /// Sets the subgoal head to the ridge (`lambda`) least-squares fit of
    /// `targets` `(B, T, D)` from the inputs [`Sarnn::predict_goal`] takes, and
    /// returns the fit's RMS per joint (normalised units). The head is affine in
    /// its inputs, so this is the best it can do on these steps; gradient
    /// descent gets there slowly (see `PIXEL_GAIN`).
    pub fn fit_goal_head(&self, points: &Tensor, goal_key: &Tensor, instr: &Tensor, labels: &Tensor, targets: &Tensor, lambda: f64) -> Result<Vec<f64>> {
        let head = self.goal_head()?;
        let (b, t, _) = points.dims3()?;
        let z = self.seq_latent(points, b, t, instr, labels)?;
        let x = self.goal_features(points, &self.goal_hot(goal_key)?, &z)?.to_dtype(candle_core::DType::F64)?;
        let d = self.cfg.joints;
        let y = targets.reshape((b * t, d))?.to_dtype(candle_core::DType::F64)?;
        let (n, c) = x.dims2()?;
        let xm = nalgebra::DMatrix::from_row_slice(n, c, &x.flatten_all()?.to_vec1::<f64>()?);
        let ym = nalgebra::DMatrix::from_row_slice(n, d, &y.flatten_all()?.to_vec1::<f64>()?);
        let gram = xm.transpose() * &xm + nalgebra::DMatrix::<f64>::identity(c, c) * lambda;
        let chol = gram
            .cholesky()
            .ok_or_else(|| crate::error::DplError::Config("the subgoal fit is singular: raise the ridge penalty".into()))?;
        let w = chol.solve(&(xm.transpose() * &ym)); // (C, D)
        let resid = &xm * &w - &ym;
        let rms = (0..d).map(|j| (resid.column(j).norm_squared() / n as f64).sqrt()).collect();
        // nalgebra is column-major: (C, D) column by column is (D, C) row by row.
        let wt: Vec<f32> = w.iter().map(|&v| v as f32).collect();
        let dev = head.map.w.device();
        self.param(&format!("{PARAMS}.weight"))?.set(&Tensor::from_vec(wt, (d, c), dev)?)?;
        self.param(&format!("{PARAMS}.bias"))?.set(&Tensor::zeros(d, candle_core::DType::F32, dev)?)?;
        Ok(rms)
    }

    /// One-hot `(B·T, M)` of map indices `(B, T)` (u32).
    pub(super) fn goal_hot(&self, goal_key: &Tensor) -> Result<Tensor> {
        let hot = candle_nn::encoding::one_hot(goal_key.flatten_all()?, self.cfg.goal_maps(), 1f32, 0f32)?;
        Ok(hot)
    }

    /// The detached subgoal the core reads (`(B·T, D)`), plus the words'
    /// `goal_shift` when given, for a model with
    /// [`crate::ModelConfig::goal_input`]; `None` otherwise.
    pub(super) fn core_goal(&self, points: &Tensor, words: &Words<'_>, z: &Tensor) -> Result<Option<Tensor>> {
        if !self.cfg.goal_input {
            return Ok(None);
        }
        let Some(key) = words.goal_key else {
            return Err(crate::error::DplError::Config(
                "this model's core reads a subgoal, which needs the active label indices".into(),
            ));
        };
        let goal = self.goal_from(points, &self.goal_hot(key)?, z)?.detach();
        Ok(Some(match words.goal_shift {
            Some(s) => {
                let shift = s.reshape(goal.shape())?;
                (goal + shift)?
            }
            None => goal,
        }))
    }
}
