//! The recurrent core and its heads over whole sequences from attention points
//! already read from the images: what training with the vision frozen runs.

use candle_core::Tensor;

use super::{CoreOut, LstmState, Sarnn, Words};
use crate::error::{DplError, Result};

impl Sarnn {
    /// The recurrent core and its heads over whole sequences, from attention
    /// points already read from the images: `points (B, T, 2K)`, `joints (B, T,
    /// D)` and what the sequences say. Training with the vision frozen runs
    /// only this, on points computed once per dataset.
    pub fn core_seq(
        &self,
        points: &Tensor,
        joints: &Tensor,
        residual_base: Option<&Tensor>,
        words: Words<'_>,
        state: Option<LstmState>,
    ) -> Result<CoreOut> {
        let (b, t, d) = joints.dims3()?;
        let k2 = 2 * self.cfg.keypoints;
        let z = self.seq_latent(points, b, t, words.instr, words.labels)?;
        let goal = self.core_goal(points, &words, &z)?;
        let joints_flat = joints.reshape((b * t, d))?;
        let x = self.core_input(&points.reshape((b * t, k2))?, &joints_flat, goal.as_ref(), &z)?;
        let gx = self.input_gates(&x)?.reshape((b, t, ()))?;
        let mut s = match state {
            Some(s) => s,
            None => self.zero_state(b)?,
        };
        let mut hs = Vec::with_capacity(t);
        for step in 0..t {
            s = self.lstm_step(&gx.narrow(1, step, 1)?.squeeze(1)?, &s)?;
            hs.push(s.h.clone());
        }
        let h = Tensor::stack(&hs, 1)?.reshape((b * t, self.cfg.hidden))?;
        let base = match residual_base {
            Some(r) => r.reshape((b * t, d))?,
            None => joints_flat,
        };
        let (yj, dec_pts) = self.motor_heads(&h, &base, goal.as_ref())?;
        let logits = self.label_logits(&h)?;
        Ok(CoreOut {
            joints: yj.reshape((b, t, d))?,
            dec_pts: dec_pts.reshape((b, t, ()))?,
            label_logits: logits.reshape((b, t, ()))?,
            last: s,
        })
    }

    /// [`Sarnn::core_seq`] with the model's own predictions fed back: the joint
    /// input at step `t > 0` is `(1 − feedback)·joints_t + feedback·prediction_{t−1}`
    /// (its residual base too), as a policy with `joint_input_param = 1 − feedback`
    /// runs. Back-propagation goes through the fed-back predictions, so the
    /// core is trained on the errors it makes in closed loop. `joints` are clean.
    pub fn core_seq_feedback(
        &self,
        points: &Tensor,
        joints: &Tensor,
        feedback: f64,
        words: Words<'_>,
    ) -> Result<CoreOut> {
        let (b, t, _) = joints.dims3()?;
        let z = self.seq_latent(points, b, t, words.instr, words.labels)?;
        let goal = match self.core_goal(points, &words, &z)? {
            Some(g) => Some(g.reshape((b, t, ()))?),
            None => None,
        };
        let z = z.reshape((b, t, ()))?;
        let mut s = self.zero_state(b)?;
        let (mut ys, mut ps, mut ls) = (Vec::with_capacity(t), Vec::with_capacity(t), Vec::with_capacity(t));
        let mut prev: Option<Tensor> = None;
        for step in 0..t {
            let truth = joints.narrow(1, step, 1)?.squeeze(1)?;
            let jin = match &prev {
                Some(p) => ((&truth * (1.0 - feedback))? + (p * feedback)?)?,
                None => truth,
            };
            let at = |x: &Tensor| x.narrow(1, step, 1)?.squeeze(1);
            let goal = goal.as_ref().map(at).transpose()?;
            let x = self.core_input(&at(points)?, &jin, goal.as_ref(), &at(&z)?)?;
            s = self.lstm_step(&self.input_gates(&x)?, &s)?;
            let (yj, pt) = self.motor_heads(&s.h, &jin, goal.as_ref())?;
            ls.push(self.label_logits(&s.h)?);
            prev = Some(yj.clone());
            ys.push(yj);
            ps.push(pt);
        }
        Ok(CoreOut {
            joints: Tensor::stack(&ys, 1)?,
            dec_pts: Tensor::stack(&ps, 1)?,
            label_logits: Tensor::stack(&ls, 1)?,
            last: s,
        })
    }

    /// Checks that `points` is `(b, t, 2K)` and returns the language latent of
    /// every step, `(b·t, Z)`, from `instr (b, E)` and `labels (b, t, E)`.
    pub(super) fn seq_latent(&self, points: &Tensor, b: usize, t: usize, instr: &Tensor, labels: &Tensor) -> Result<Tensor> {
        let (e, k2) = (self.cfg.embed_dim, 2 * self.cfg.keypoints);
        if points.dims() != [b, t, k2] {
            return Err(DplError::mismatch("point batch shape", format!("{:?}", [b, t, k2]), format!("{:?}", points.dims())));
        }
        let instr_bt = instr.unsqueeze(1)?.broadcast_as((b, t, e))?.reshape((b * t, e))?;
        Ok(self.lang_latent(&instr_bt, &labels.reshape((b * t, e))?)?)
    }
}
