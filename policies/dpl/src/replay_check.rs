//! The running policy fed a recorded episode, step by step, exactly as it runs
//! on a robot (raw joints and frames in, denormalised targets out): per-joint
//! RMS of its one-step prediction against the next recorded target, next to
//! holding still. Training losses come from the sequence path; this checks the
//! step path, so a mismatch between the two shows up as a gap between them.

use crate::data::{Episode, LabelVocab};
use crate::error::Result;
use crate::policy::{Observation, Policy};
use kotoba_core::Stamp;

/// Per-joint RMS (raw units, e.g. rad) over the steps of some episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct StepReplay {
    pub policy_rms: Vec<f64>,
    pub hold_rms: Vec<f64>,
    pub steps: usize,
}

/// Runs `policy` through each episode from a fresh state and scores every
/// one-step prediction. With `labels`, the episode's own labels are fed in (as
/// in training); without, the policy feeds back its own, as it runs.
pub fn step_replay<P: Policy>(policy: &mut P, episodes: &[&Episode], labels: Option<&LabelVocab>) -> Result<StepReplay> {
    let d = policy.spec().joints;
    let (mut err, mut hold, mut n) = (vec![0f64; d], vec![0f64; d], 0usize);
    for ep in episodes {
        policy.reset();
        for t in 0..ep.len().saturating_sub(1) {
            let obs = Observation {
                stamp: Stamp::from_nanos(1_000_000_000 + t as i64 * 100_000_000),
                image: ep.image(t),
                joints: ep.joint_row(t),
                instruction: &ep.instruction,
                label: labels.map(|l| l.embedding(ep.labels[t])),
            };
            let out = policy.step(&obs)?;
            let next = match &ep.targets {
                Some(tg) => &tg[(t + 1) * d..(t + 2) * d],
                None => ep.joint_row(t + 1),
            };
            let pred = out.chunk.target(0);
            for j in 0..d {
                err[j] += f64::from(pred[j] - next[j]).powi(2);
                hold[j] += f64::from(ep.joint_row(t)[j] - next[j]).powi(2);
            }
            n += 1;
        }
    }
    let rms = |v: Vec<f64>| v.into_iter().map(|s| (s / n.max(1) as f64).sqrt()).collect();
    Ok(StepReplay { policy_rms: rms(err), hold_rms: rms(hold), steps: n })
}
