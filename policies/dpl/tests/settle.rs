//! `SettleAtSubgoal` against a scripted stand-in policy: the gripper moves
//! only once the arm reads within tolerance of the phase's latched subgoal,
//! and the wrapped policy waits meanwhile.

use std::time::Duration;

use kotoba_core::Stamp;
use kotoba_dpl::{DplError, JointChunk, Observation, Policy, PolicyOutput, PolicySpec, Result, SettleAtSubgoal, SettleConfig};

/// Two arm joints and a gripper (index 2; open 0.04, closed 0). Step `k`
/// proposes arm `[k/10, -k/10]`, the gripper closed from `close_at` on, label
/// 0 until `close_at` and 1 after, and the subgoal `[1 + k/100, 2, 0]`.
struct Scripted {
    spec: PolicySpec,
    close_at: usize,
    steps: usize,
    followed: Vec<Vec<f32>>,
}

impl Scripted {
    fn new(close_at: usize) -> Self {
        let spec = PolicySpec { image_height: 1, image_width: 1, joints: 3, embed_dim: 1, rate_hz: 10.0, label_names: vec!["reach".into(), "hold".into()], subgoal: true };
        Self { spec, close_at, steps: 0, followed: Vec::new() }
    }
}

impl Policy for Scripted {
    fn spec(&self) -> &PolicySpec {
        &self.spec
    }
    fn reset(&mut self) {
        self.steps = 0;
    }
    fn step(&mut self, obs: &Observation<'_>) -> Result<PolicyOutput> {
        let k = self.steps as f32;
        let closed = self.steps >= self.close_at;
        self.steps += 1;
        let gripper = if closed { 0.0 } else { 0.04 };
        Ok(PolicyOutput {
            chunk: JointChunk { start: obs.stamp, period: Duration::from_millis(100), joints: 3, targets: vec![k / 10.0, -k / 10.0, gripper] },
            label: usize::from(closed),
            label_probs: vec![0.5, 0.5],
            attention: vec![],
            predicted_attention: vec![],
            window_error: None,
            subgoal: Some(vec![1.0 + k / 100.0, 2.0, 0.04]),
        })
    }
    fn follow(&mut self, target: &[f32]) -> Result<()> {
        self.followed.push(target.to_vec());
        Ok(())
    }
}

fn cfg(latch_after: usize) -> SettleConfig {
    SettleConfig { gripper: 2, threshold: 0.02, tolerance: 0.01, max_ticks: 5, latch_after }
}

fn step(p: &mut impl Policy, joints: [f32; 3]) -> Vec<f32> {
    let obs = Observation { stamp: Stamp::ZERO, image: &[0, 0, 0], joints: &joints, instruction: &[0.0], label: None };
    p.step(&obs).unwrap().chunk.targets
}

#[test]
fn the_gripper_closes_only_once_the_arm_has_settled_at_the_latched_subgoal() {
    let mut p = SettleAtSubgoal::new(Scripted::new(4), cfg(2)).unwrap();
    let far = [0.0, 0.0, 0.04];
    for k in 0..4 {
        assert_eq!(step(&mut p, far), vec![k as f32 / 10.0, -(k as f32) / 10.0, 0.04], "tick {k} passes through");
    }
    // Tick 4 asks to close: the arm goes to the subgoal latched two ticks
    // into the phase (step 1's: 1.01), the gripper still open.
    let keypose = vec![1.01, 2.0, 0.04];
    assert_eq!(step(&mut p, far), keypose);
    assert_eq!(step(&mut p, far), keypose, "still far: held");
    assert_eq!(step(&mut p, [1.005, 1.995, 0.04]), vec![1.01, 2.0, 0.0], "within tolerance: the gripper closes there");
    // The wrapped policy ran 5 steps (0..=4), not 7, and was told where the arm went.
    assert_eq!(p.inner().steps, 5);
    assert_eq!(p.inner().followed, vec![vec![1.01, 2.0, 0.0]]);
    assert_eq!(step(&mut p, far), vec![0.5, -0.5, 0.0], "then it runs on from its step 5");
}

#[test]
fn waiting_ends_after_max_ticks_and_latest_subgoal_serves_without_a_latch() {
    let mut p = SettleAtSubgoal::new(Scripted::new(2), cfg(0)).unwrap();
    let far = [-1.0, -1.0, 0.04];
    step(&mut p, far);
    step(&mut p, far);
    // No latch: the previous step's subgoal (1.01).
    // Asked at this tick; the gripper moves max_ticks (5) ticks later whatever the arm reads.
    let held: Vec<Vec<f32>> = (0..6).map(|_| step(&mut p, far)).collect();
    assert!(held[..5].iter().all(|t| t == &vec![1.01, 2.0, 0.04]), "{held:?}");
    assert_eq!(held[5], vec![1.01, 2.0, 0.0], "max_ticks: closes anyway");
}

#[test]
fn already_settled_arms_pass_straight_through_and_bad_configs_are_refused() {
    let mut p = SettleAtSubgoal::new(Scripted::new(1), cfg(1)).unwrap();
    step(&mut p, [0.0, 0.0, 0.04]);
    // Step 0's subgoal (latched at its first tick) is where the arm already is.
    assert_eq!(step(&mut p, [1.0, 2.0, 0.04]), vec![0.1, -0.1, 0.0]);
    let bad = |c: SettleConfig| matches!(SettleAtSubgoal::new(Scripted::new(1), c), Err(DplError::Config(_)));
    assert!(bad(SettleConfig { gripper: 3, ..cfg(1) }), "no such joint");
    assert!(bad(SettleConfig { tolerance: 0.0, ..cfg(1) }));
    assert!(bad(SettleConfig { threshold: f32::NAN, ..cfg(1) }));
    let mut blind = Scripted::new(1);
    blind.spec.subgoal = false;
    let err = SettleAtSubgoal::new(blind, cfg(1)).err().expect("a policy without subgoals is refused");
    assert!(err.to_string().contains("needs a policy with a subgoal head"), "{err}");
}
