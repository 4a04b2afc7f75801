//! A residual model on its previous target (`ResidualBase::PreviousTarget`):
//! trained on the recorded previous target, run on its own last output.

mod common;

use common::*;
use kotoba_core::Stamp;
use kotoba_dpl::{
    Conditioning, DplError, ModelConfig, Observation, Policy, RegressConfig, ResidualBase,
    RuntimeConfig, SarnnPolicy, Trainer,
};

fn cfg(base: ResidualBase) -> ModelConfig {
    ModelConfig { residual_joints: true, residual_base: base, ..model_cfg(Conditioning::Concat) }
}

/// Episodes whose targets lead the readings by a step-dependent amount, so the
/// previous target and the reading differ.
fn data_with_targets() -> kotoba_dpl::Dataset {
    let mut data = dataset();
    for ep in &mut data.episodes {
        let d = ep.num_joints;
        ep.targets = Some(ep.joints.iter().enumerate().map(|(i, v)| v + 0.02 * (i / d) as f32).collect());
    }
    data
}

/// A fresh residual model predicts no change. On its previous target, its
/// training loss is then that of "the next target is the previous one"; on
/// the input, that of "the next target is the current reading".
#[test]
fn training_adds_the_change_to_the_recorded_previous_target() {
    let mut tc = train_cfg(1);
    tc.augment.enabled = false;
    for base in [ResidualBase::Input, ResidualBase::PreviousTarget] {
        let t = Trainer::new(&cfg(base), tc.clone(), data_with_targets(), &cpu()).unwrap();
        let b = t.batch(&[0, 1], None).unwrap();
        let (_, l) = t.loss(&b, 1.0).unwrap();
        let n = b.joints_target.dim(1).unwrap() - 1;
        let next = b.joints_target.narrow(1, 1, n).unwrap();
        let from = match base {
            ResidualBase::Input => b.joints_clean.narrow(1, 0, n).unwrap(),
            ResidualBase::PreviousTarget => b.joints_target.narrow(1, 0, n).unwrap(),
        };
        let want = candle_nn::loss::mse(&from, &next).unwrap().to_scalar::<f32>().unwrap();
        assert!((l.joint - f64::from(want)).abs() < 1e-6, "{base:?}: {} vs {want}", l.joint);
    }
    // The two baselines differ on this data, so the check above tells them apart.
    let t = Trainer::new(&cfg(ResidualBase::Input), tc.clone(), data_with_targets(), &cpu()).unwrap();
    let p = Trainer::new(&cfg(ResidualBase::PreviousTarget), tc, data_with_targets(), &cpu()).unwrap();
    let (b, c) = (t.batch(&[0, 1], None).unwrap(), p.batch(&[0, 1], None).unwrap());
    assert!((t.loss(&b, 1.0).unwrap().1.joint - p.loss(&c, 1.0).unwrap().1.joint).abs() > 1e-4);
}

/// On the robot, a fresh model on its previous target holds its first target
/// however the readings move; one on the input follows the readings.
#[test]
fn the_policy_integrates_its_own_targets() {
    let data = dataset();
    let ep = &data.episodes[0];
    for base in [ResidualBase::Input, ResidualBase::PreviousTarget] {
        let t = Trainer::new(&cfg(base), train_cfg(1), data.clone(), &cpu()).unwrap();
        let ckpt = frozen_checkpoint(&t);
        let mut p = SarnnPolicy::new(ckpt, RuntimeConfig { input_param: 1.0, joint_margin: None, max_lead: None, ..RuntimeConfig::default() }).unwrap();
        let first = ep.joint_row(0).to_vec();
        let mut last = Vec::new();
        for k in 0..ep.len() {
            let obs = Observation { stamp: Stamp::ZERO, image: ep.image(k), joints: ep.joint_row(k), instruction: &ep.instruction, label: None };
            last = p.step(&obs).unwrap().chunk.targets;
        }
        let reading = ep.joint_row(ep.len() - 1);
        let (want, other) = match base {
            ResidualBase::Input => (reading, first.as_slice()),
            ResidualBase::PreviousTarget => (first.as_slice(), reading),
        };
        let gap = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(gap(&last, want) < 1e-4, "{base:?}: {last:?} vs {want:?}");
        assert!(gap(want, other) > 1e-2, "the episode must move for this test to mean anything");
        p.reset();
        let obs = Observation { stamp: Stamp::ZERO, image: ep.image(3), joints: ep.joint_row(3), instruction: &ep.instruction, label: None };
        let again = p.step(&obs).unwrap().chunk.targets;
        assert!(gap(&again, ep.joint_row(3)) < 1e-4, "{base:?}: reset starts from the reading again");
    }
}

/// With a leash, a fresh model on its previous target lets that target lead
/// the reading by at most `max_lead` (raw units), and holds it otherwise.
#[test]
fn the_leash_keeps_the_target_near_the_reading() {
    let data = dataset();
    let ep = &data.episodes[0];
    let t = Trainer::new(&cfg(ResidualBase::PreviousTarget), train_cfg(1), data.clone(), &cpu()).unwrap();
    let lead = 0.05f32;
    let ckpt = frozen_checkpoint(&t);
    let mut p = SarnnPolicy::new(ckpt, RuntimeConfig { input_param: 1.0, joint_margin: None, max_lead: Some(lead), ..RuntimeConfig::default() }).unwrap();
    let (mut prev, mut held, mut pulled) = (Vec::<f32>::new(), 0, 0);
    for k in 0..ep.len() {
        let obs = Observation { stamp: Stamp::ZERO, image: ep.image(k), joints: ep.joint_row(k), instruction: &ep.instruction, label: None };
        let out = p.step(&obs).unwrap().chunk.targets;
        for (j, (&y, &r)) in out.iter().zip(ep.joint_row(k)).enumerate() {
            assert!((y - r).abs() <= lead + 1e-5, "step {k} joint {j}: target {y} reading {r}");
            if k > 0 {
                if (prev[j] - r).abs() <= lead {
                    assert!((y - prev[j]).abs() < 1e-5, "step {k} joint {j}: within the leash the target holds");
                    held += 1;
                } else {
                    pulled += 1;
                }
            }
        }
        prev = out;
    }
    assert!(held > 0 && pulled > 0, "both cases must occur: held {held}, pulled {pulled}");
    let ckpt = frozen_checkpoint(&t);
    let bad = SarnnPolicy::new(ckpt, RuntimeConfig { max_lead: Some(f32::NAN), ..RuntimeConfig::default() });
    assert!(matches!(bad, Err(DplError::Config(_))));
}

/// Online error regression scores predictions from the reading's base, so it
/// is refused for a model on its previous target, with a reason.
#[test]
fn error_regression_is_refused_on_the_previous_target() {
    let t = Trainer::new(&cfg(ResidualBase::PreviousTarget), train_cfg(1), dataset(), &cpu()).unwrap();
    let ckpt = frozen_checkpoint(&t);
    let rc = RuntimeConfig { regression: Some(RegressConfig::default()), ..RuntimeConfig::default() };
    match SarnnPolicy::new(ckpt, rc) {
        Err(DplError::Config(m)) => assert!(m.contains("previous_target"), "{m}"),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("accepted"),
    }
}

/// A checkpoint from before the field loads as a model on its input.
#[test]
fn old_configs_default_to_the_input() {
    let mut v = serde_json::to_value(ModelConfig::default()).unwrap();
    v.as_object_mut().unwrap().remove("residual_base");
    let back: ModelConfig = serde_json::from_value(v).unwrap();
    assert_eq!(back.residual_base, ResidualBase::Input);
    let v = serde_json::to_value(cfg(ResidualBase::PreviousTarget)).unwrap();
    assert_eq!(v["residual_base"], "previous_target");
}
