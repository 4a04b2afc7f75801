//! An ensemble sends the mean of its members' targets and feeds that mean
//! back to every member, and refuses members that take other inputs.

mod common;

use common::*;
use kotoba_core::Stamp;
use kotoba_dpl::{Conditioning, DplError, EnsemblePolicy, ModelConfig, Observation, Policy, RuntimeConfig, SarnnPolicy, TrainConfig, Trainer};

/// A fresh model from `seed`, run with `input_param` 0.5 so that what it is
/// told it predicted ([`Policy::follow`]) enters its next input.
fn policy(seed: u64, model: &ModelConfig) -> SarnnPolicy {
    let t = Trainer::new(model, TrainConfig { seed, ..train_cfg(1) }, dataset(), &cpu()).unwrap();
    let rt = RuntimeConfig { input_param: 0.5, joint_margin: None, max_lead: None, ..RuntimeConfig::default() };
    SarnnPolicy::new(frozen_checkpoint(&t), rt).unwrap()
}

fn gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_ensemble_sends_the_mean_and_every_member_follows_it() {
    let m = model_cfg(Conditioning::Concat);
    let mut ens = EnsemblePolicy::new(vec![Box::new(policy(1, &m)), Box::new(policy(2, &m))]).unwrap();
    assert_eq!(ens.len(), 2);
    // The same two members by hand, told the mean; and a third copy left alone.
    let (mut a, mut b, mut alone) = (policy(1, &m), policy(2, &m), policy(1, &m));
    let data = dataset();
    let ep = &data.episodes[0];
    let d = ep.num_joints;
    let (mut members_differ, mut following_matters) = (0f32, 0f32);
    for k in 0..ep.len() {
        let obs = Observation { stamp: Stamp::ZERO, image: ep.image(k), joints: ep.joint_row(k), instruction: &ep.instruction, label: None };
        let out = ens.step(&obs).unwrap();
        let (oa, ob, ol) = (a.step(&obs).unwrap(), b.step(&obs).unwrap(), alone.step(&obs).unwrap());
        let mean: Vec<f32> = oa.chunk.targets.iter().zip(&ob.chunk.targets).map(|(x, y)| (x + y) / 2.0).collect();
        assert!(gap(&out.chunk.targets, &mean) < 1e-5, "step {k}: {:?} vs {mean:?}", out.chunk.targets);
        let probs: Vec<f32> = oa.label_probs.iter().zip(&ob.label_probs).map(|(x, y)| (x + y) / 2.0).collect();
        assert!(gap(&out.label_probs, &probs) < 1e-6, "step {k}");
        assert_eq!(out.attention, oa.attention, "member 0's points");
        a.follow(&mean[..d]).unwrap();
        b.follow(&mean[..d]).unwrap();
        members_differ = members_differ.max(gap(&oa.chunk.targets, &ob.chunk.targets));
        following_matters = following_matters.max(gap(&oa.chunk.targets, &ol.chunk.targets));
    }
    // Otherwise the checks above could not tell a mean from either member, or
    // a member that follows the ensemble from one that runs on its own.
    assert!(members_differ > 1e-3, "{members_differ}");
    assert!(following_matters > 1e-5, "{following_matters}");

    ens.reset();
    a.reset();
    let obs = Observation { stamp: Stamp::ZERO, image: ep.image(0), joints: ep.joint_row(0), instruction: &ep.instruction, label: None };
    let (e0, a0) = (ens.step(&obs).unwrap(), a.step(&obs).unwrap());
    assert!(gap(&e0.chunk.targets, &a0.chunk.targets) > 1e-4, "reset clears every member, and the mean is not member 0");
}

#[test]
fn an_ensemble_refuses_no_members_and_members_that_take_other_inputs() {
    let m = model_cfg(Conditioning::Concat);
    assert!(matches!(EnsemblePolicy::new(vec![]), Err(DplError::Config(_))));
    let other = ModelConfig { rate_hz: m.rate_hz * 2.0, ..m.clone() };
    let err = EnsemblePolicy::new(vec![Box::new(policy(1, &m)), Box::new(policy(2, &other))]).err().expect("refused");
    assert!(err.to_string().contains("member 1"), "{err}");
    let mut p = policy(1, &m);
    assert!(matches!(p.follow(&[0.0]), Err(DplError::Mismatch { .. })), "a target of another joint count");
    assert!(matches!(p.follow(&[f32::NAN, 0.0, 0.0]), Err(DplError::NonFinite(_))));
}
