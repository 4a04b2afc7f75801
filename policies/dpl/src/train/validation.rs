//! Validation: losses on the held-out episodes, and per-joint errors next to the
//! simplest baseline (holding still).

use candle_core::DType;

use super::{Trainer, point_ramp};
use crate::error::Result;
use crate::train::Losses;

impl Trainer {
    /// Mean losses over the validation episodes, clean inputs (no augmentation).
    pub fn evaluate(&self) -> Result<Option<Losses>> {
        if self.val_idx.is_empty() {
            return Ok(None);
        }
        let ramp = point_ramp(self.state.batches, self.cfg.point_ramp_batches);
        let mut sum = Losses::default();
        let spans = self.spans(&self.val_idx, None);
        for chunk in spans.chunks(self.cfg.batch_size) {
            let (_, l) = self.loss(&self.batch_spans(chunk, None)?, ramp)?;
            sum.add_scaled(&l, chunk.len() as f64);
        }
        let mut mean = Losses::default();
        mean.add_scaled(&sum, 1.0 / spans.len().max(1) as f64);
        Ok(Some(mean))
    }

    /// Per-joint mean squared error on the validation episodes (clean inputs,
    /// normalised units) of the model's next-joint prediction and of holding
    /// still: where the model beats "no motion" and where it does not.
    pub fn joint_errors(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let d = self.shape.joints;
        let (mut model, mut hold, mut n) = (vec![0f64; d], vec![0f64; d], 0usize);
        let spans = self.spans(&self.val_idx, None);
        for chunk in spans.chunks(self.cfg.batch_size) {
            let b = self.batch_spans(chunk, None)?;
            let t = b.joints_in.dim(1)?;
            let pred = self.forward(&b)?.joints.narrow(1, 0, t - 1)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
            let tgt = b.joints_target.narrow(1, 1, t - 1)?.flatten_all()?.to_vec1::<f32>()?;
            let cur = b.joints_clean.narrow(1, 0, t - 1)?.flatten_all()?.to_vec1::<f32>()?;
            for (i, ((p, g), c)) in pred.iter().zip(&tgt).zip(&cur).enumerate() {
                model[i % d] += f64::from(p - g).powi(2);
                hold[i % d] += f64::from(c - g).powi(2);
            }
            n += pred.len() / d;
        }
        let mean = |v: Vec<f64>| v.into_iter().map(|x| x / n.max(1) as f64).collect();
        Ok((mean(model), mean(hold)))
    }

    /// Joint MSE of predicting "no motion" (the next target = the current joint
    /// reading) on the validation set: the bar a model must clear to have
    /// learned anything about motion.
    pub fn hold_still_joint_mse(&self) -> f64 {
        let d = self.shape.joints;
        let (mut se, mut n) = (0.0f64, 0usize);
        for &i in &self.val_idx {
            let p = &self.prepared[i];
            for t in 0..p.len - 1 {
                for j in 0..d {
                    se += (p.targets[(t + 1) * d + j] - p.joints[t * d + j]).powi(2) as f64;
                    n += 1;
                }
            }
        }
        se / n.max(1) as f64
    }
}
