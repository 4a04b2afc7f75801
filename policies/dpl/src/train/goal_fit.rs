//! The subgoal head fitted in closed form on the training episodes.

use super::Trainer;
use crate::error::Result;

impl Trainer {
    /// Sets the subgoal head to its ridge (`lambda`) least-squares fit over
    /// every step of the training episodes (clean inputs, no augmentation) and
    /// returns the fit's RMS per joint, normalised units. See
    /// [`crate::Sarnn::fit_goal_head`].
    pub fn fit_goal_head(&self, lambda: f64) -> Result<Vec<f64>> {
        let b = self.batch(&self.train_idx, None)?;
        let points = match &b.points {
            Some(p) => p.clone(),
            None => self.forward(&b)?.enc_pts,
        };
        self.ckpt.model.fit_goal_head(&points, &b.goal_key, &b.instr, &b.label_emb, &b.goals, lambda)
    }
}
