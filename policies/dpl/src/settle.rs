//! Grasp and release at the subgoal, with the arm settled.
//!
//! A core pulled towards its subgoal approaches it exponentially and closes
//! the gripper on the demonstrations' schedule, so on an unseen scene it
//! often closes while the arm is still above the towel (session 15: the arm
//! 0.055 rad of shoulder lift short on average, and the grasp missed on 4 of
//! 15 scenes). [`SettleAtSubgoal`] treats the subgoal head's prediction as a
//! keypose, as keyframe policies do: when the wrapped policy first asks for
//! the gripper to change, the arm is sent to the subgoal of the phase that is
//! ending, with the gripper as it was, until the joints are within
//! `tolerance` of it (or `max_ticks` pass); only then does the gripper move
//! and the policy run on. The policy is not stepped while the arm settles.
//!
//! The keypose is the subgoal read `latch_after` ticks into the phase (the
//! current label), not the latest: late in the fold the towel in the image is
//! half folded, and the head's release pose drifts (0.117 rad RMS of elbow on
//! unseen scenes at the phase's last tick against 0.031 three ticks in).

use serde::{Deserialize, Serialize};

use crate::error::{DplError, Result};
use crate::policy::{Observation, Policy, PolicyOutput, PolicySpec};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleConfig {
    /// Index of the gripper among the joints (the others are the arm).
    pub gripper: usize,
    /// Gripper value (raw units) between open and closed: a target crossing
    /// it is a change of the gripper.
    pub threshold: f32,
    /// The arm has settled when every arm joint reads within this of the
    /// subgoal (raw units, rad).
    pub tolerance: f32,
    /// The gripper moves at the latest this many policy ticks after it was
    /// asked to, wherever the arm is.
    pub max_ticks: usize,
    /// The keypose of a phase is its subgoal this many ticks after its label
    /// began (or the latest, in a phase that ends sooner).
    pub latch_after: usize,
}

/// What is kept of the last output sent.
struct Sent {
    /// Its gripper target, whose side of the threshold a change is read against.
    gripper: f32,
    subgoal: Option<Vec<f32>>,
}

/// A pending gripper change: the arm is being sent to `target`.
struct Hold {
    /// The subgoal's arm joints with the gripper as it was.
    target: Vec<f32>,
    /// The wrapped policy's output that asked for the change.
    asked: PolicyOutput,
    ticks: usize,
}

pub struct SettleAtSubgoal<P> {
    inner: P,
    cfg: SettleConfig,
    last: Option<Sent>,
    hold: Option<Hold>,
    /// The current phase's label, its ticks so far and its latched subgoal.
    phase: Option<(usize, usize)>,
    latched: Option<Vec<f32>>,
}

impl<P: Policy> SettleAtSubgoal<P> {
    pub fn new(inner: P, cfg: SettleConfig) -> Result<Self> {
        let joints = inner.spec().joints;
        if !inner.spec().subgoal {
            return Err(DplError::Config("settling at the subgoal needs a policy with a subgoal head; this one has none".into()));
        }
        if cfg.gripper >= joints {
            return Err(DplError::Config(format!("gripper joint {} of a policy with {joints} joints", cfg.gripper)));
        }
        if !(cfg.tolerance.is_finite() && cfg.tolerance > 0.0 && cfg.threshold.is_finite()) {
            return Err(DplError::Config(format!("settle tolerance {} must be > 0 and threshold {} finite", cfg.tolerance, cfg.threshold)));
        }
        Ok(Self { inner, cfg, last: None, hold: None, phase: None, latched: None })
    }

    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Which side of the threshold a gripper target is on.
    fn below(&self, gripper: f32) -> bool {
        gripper < self.cfg.threshold
    }

    /// Remembers `out` as the last output sent.
    fn sent(&mut self, out: &PolicyOutput) {
        self.last = Some(Sent { gripper: out.chunk.target(0)[self.cfg.gripper], subgoal: out.subgoal.clone() });
    }

    fn settled(&self, joints: &[f32], target: &[f32]) -> bool {
        let g = self.cfg.gripper;
        joints.iter().zip(target).enumerate().all(|(i, (q, t))| i == g || (q - t).abs() <= self.cfg.tolerance)
    }

    /// Counts the ticks of the current label and latches its subgoal.
    fn track_phase(&mut self, out: &PolicyOutput) {
        let ticks = match self.phase {
            Some((label, n)) if label == out.label => n + 1,
            _ => {
                self.latched = None;
                1
            }
        };
        self.phase = Some((out.label, ticks));
        if ticks == self.cfg.latch_after {
            self.latched.clone_from(&out.subgoal);
        }
    }

    /// `out` with every target of its chunk replaced by `target`.
    fn holding(out: &PolicyOutput, target: &[f32]) -> PolicyOutput {
        let mut o = out.clone();
        let n = o.chunk.len();
        o.chunk.targets = target.repeat(n);
        o
    }
}

impl<P: Policy> Policy for SettleAtSubgoal<P> {
    fn spec(&self) -> &PolicySpec {
        self.inner.spec()
    }

    fn reset(&mut self) {
        self.inner.reset();
        self.last = None;
        self.hold = None;
        self.phase = None;
        self.latched = None;
    }

    fn step(&mut self, obs: &Observation<'_>) -> Result<PolicyOutput> {
        if let Some(mut h) = self.hold.take() {
            h.ticks += 1;
            if !self.settled(obs.joints, &h.target) && h.ticks < self.cfg.max_ticks {
                let out = Self::holding(&h.asked, &h.target);
                self.hold = Some(h);
                return Ok(out);
            }
            // Settled (or waited long enough): the gripper moves now, at the keypose.
            let g = self.cfg.gripper;
            let mut target = h.target;
            target[g] = h.asked.chunk.target(0)[g];
            self.inner.follow(&target)?;
            let out = Self::holding(&h.asked, &target);
            self.sent(&out);
            return Ok(out);
        }
        let out = self.inner.step(obs)?;
        let g = self.cfg.gripper;
        let change = match &self.last {
            Some(last) => self.below(last.gripper) != self.below(out.chunk.target(0)[g]),
            None => false,
        };
        if let (true, Some(last)) = (change, &self.last)
            && let Some(goal) = self.latched.as_ref().or(last.subgoal.as_ref())
        {
            let mut target = goal.clone();
            target[g] = last.gripper;
            if !self.settled(obs.joints, &target) {
                let held = Self::holding(&out, &target);
                self.hold = Some(Hold { target, asked: out, ticks: 0 });
                return Ok(held);
            }
        }
        self.track_phase(&out);
        self.sent(&out);
        Ok(out)
    }

    fn follow(&mut self, target: &[f32]) -> Result<()> {
        self.inner.follow(target)
    }
}
