//! Several policies trained the same way from different seeds, run side by
//! side on the same observations, their joint targets averaged.
//!
//! Behaviour cloning from a few demonstrations varies a lot with the seed
//! (the same recipe folds 7 of 15 scenes with one seed and 1 with the next);
//! averaging members is the plain way to trade compute for that variance.
//! Each member keeps its own recurrent state but is told the mean target
//! ([`Policy::follow`]), so a residual member integrates what the robot was
//! actually sent rather than its own proposal.

use crate::error::{DplError, Result};
use crate::policy::{JointChunk, Observation, Policy, PolicyOutput, PolicySpec, most_likely};

pub struct EnsemblePolicy {
    members: Vec<Box<dyn Policy>>,
}

impl EnsemblePolicy {
    /// Members must agree on what they read and write (the [`PolicySpec`]).
    pub fn new(members: Vec<Box<dyn Policy>>) -> Result<Self> {
        let Some(first) = members.first() else {
            return Err(DplError::Config("an ensemble needs at least one policy".into()));
        };
        for (i, m) in members.iter().enumerate().skip(1) {
            if m.spec() != first.spec() {
                return Err(DplError::Config(format!(
                    "ensemble member {i} does not take the inputs member 0 takes: {:?} vs {:?}",
                    m.spec(),
                    first.spec()
                )));
            }
        }
        Ok(Self { members })
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// Element-wise mean of equally long vectors.
fn mean<'a>(vs: impl Iterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut n = 0f32;
    for v in vs {
        if sum.is_empty() {
            sum = v.to_vec();
        } else {
            sum.iter_mut().zip(v).for_each(|(s, x)| *s += x);
        }
        n += 1.0;
    }
    sum.iter_mut().for_each(|s| *s /= n.max(1.0));
    sum
}

impl Policy for EnsemblePolicy {
    fn spec(&self) -> &PolicySpec {
        self.members[0].spec()
    }

    fn reset(&mut self) {
        self.members.iter_mut().for_each(|m| m.reset());
    }

    /// The mean of the members' chunks, label distributions and subgoals;
    /// attention points are member 0's (points of different members are
    /// different features, so their mean would mean nothing).
    fn step(&mut self, obs: &Observation<'_>) -> Result<PolicyOutput> {
        let outs = self.members.iter_mut().map(|m| m.step(obs)).collect::<Result<Vec<_>>>()?;
        let targets = mean(outs.iter().map(|o| o.chunk.targets.as_slice()));
        let label_probs = mean(outs.iter().map(|o| o.label_probs.as_slice()));
        let subgoals: Option<Vec<&[f32]>> = outs.iter().map(|o| o.subgoal.as_deref()).collect();
        let subgoal = subgoals.map(|s| mean(s.into_iter()));
        let joints = outs[0].chunk.joints;
        self.follow(&targets[..joints])?;
        let label = most_likely(&label_probs);
        let errors: Option<Vec<(f32, f32)>> = outs.iter().map(|o| o.window_error).collect();
        let window_error = errors.map(|e| {
            let n = e.len() as f32;
            e.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n))
        });
        let first = outs.into_iter().next().expect("at least one member");
        Ok(PolicyOutput {
            chunk: JointChunk { targets, ..first.chunk },
            label,
            label_probs,
            attention: first.attention,
            predicted_attention: first.predicted_attention,
            window_error,
            subgoal,
        })
    }

    fn follow(&mut self, target: &[f32]) -> Result<()> {
        self.members.iter_mut().try_for_each(|m| m.follow(target))
    }
}
