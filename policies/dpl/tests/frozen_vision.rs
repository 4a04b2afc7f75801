//! The frozen-vision stage: training the recurrent core alone on encoder points
//! (and its options: a new core, no label input, fed-back predictions), the
//! two-stage run, and per-instruction start labels.

mod common;

use candle_core::Tensor;
use common::*;
use kotoba_dpl::{Checkpoint, Conditioning, FitOptions, NewCore, Sarnn, Trainer, Words, fit};

/// Training with the vision frozen: on the same batch its joint, point and label
/// losses are the full pass's (the points come from the same encoder), an epoch
/// leaves the encoders and the image decoder bit-identical, and the core learns.
#[test]
fn frozen_vision_trains_only_the_core() {
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), dataset(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let full = t.loss(&t.batch(&[0, 1], None).unwrap(), 1.0).unwrap().1;
    let mut cfg = train_cfg(40);
    cfg.freeze_vision = true;
    cfg.augment.enabled = false;
    let dir = tmpdir("frozen");
    t.ckpt.save(&dir).unwrap();
    let mut f = Trainer::from_checkpoint(Checkpoint::load(&dir, &cpu()).unwrap(), cfg, dataset()).unwrap();
    let b = f.batch(&[0, 1], None).unwrap();
    assert_eq!(b.images_in.dims()[0], 0, "no images are batched with the vision frozen");
    let frozen = f.loss(&b, 1.0).unwrap().1;
    for (a, z) in [(full.joint, frozen.joint), (full.point, frozen.point), (full.label, frozen.label)] {
        assert!((a - z).abs() <= 1e-6 * a.abs().max(1.0), "full {full:?} vs frozen {frozen:?}");
    }
    assert_eq!(frozen.image, 0.0);
    let (vision_before, all_before) = (vision_params(&f.ckpt.model), all_params(&f.ckpt.model));
    let first = f.evaluate().unwrap().unwrap().joint;
    for _ in 0..40 {
        f.train_epoch(&mut |_, _| {}).unwrap();
    }
    let last = f.evaluate().unwrap().unwrap().joint;
    assert_eq!(vision_before, vision_params(&f.ckpt.model), "the vision must not change");
    assert_ne!(all_before, all_params(&f.ckpt.model), "the core must change");
    assert!(last < 0.8 * first, "validation joint loss {first} -> {last}");
}

/// The two-stage recipe: `fit_motor` continues the epoch count and the log in
/// the same folder from the first stage's best checkpoint, trains on whole
/// episodes with the vision frozen (no image loss), and saves a policy whose
/// vision is the first stage's.
#[test]
fn motor_stage_continues_the_run_with_the_vision_frozen() {
    let dir = tmpdir("motor-stage");
    let mut cfg = train_cfg(2);
    cfg.window = 4;
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), cfg, dataset(), &cpu()).unwrap();
    let opts = FitOptions { out_dir: dir.clone(), progress: false, console: false };
    fit(&mut t, &opts).unwrap();
    let stage1_best = Checkpoint::load(&dir.join("best"), &cpu()).unwrap();
    let log = kotoba_dpl::fit_motor(t, 3, Some(0.0), &opts).unwrap();
    assert_eq!(log.iter().map(|l| l.epoch).collect::<Vec<_>>(), vec![1, 2, 3, 4, 5]);
    assert!(log[2..].iter().all(|l| l.train.image == 0.0), "{log:?}");
    let saved: kotoba_dpl::TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(dir.join("last/train_config.json")).unwrap()).unwrap();
    assert!(saved.freeze_vision && saved.window == 0 && saved.augment.joint_noise == 0.0, "{saved:?}");
    let after = Checkpoint::load(&dir.join("best"), &cpu()).unwrap();
    assert_eq!(vision_params(&stage1_best.model), vision_params(&after.model));
    assert_ne!(all_params(&stage1_best.model), all_params(&after.model));
}

/// Each taught instruction keeps the label its demonstrations start with (the
/// corner fold starts "reaching for the corner", the half folds "reaching for
/// the edge"), saved with the checkpoint and picked by the nearest instruction.
#[test]
fn start_labels_follow_the_instruction() {
    let mut data = dataset();
    assert!(data.labels.len() >= 2);
    let first = data.episodes[0].instruction.clone();
    for e in &mut data.episodes {
        let l = if e.instruction == first { 1 } else { 0 };
        e.labels.iter_mut().take(3).for_each(|x| *x = l);
    }
    let other = data.episodes.iter().map(|e| e.instruction.clone()).find(|i| *i != first).expect("two instructions");
    let t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), data, &cpu()).unwrap();
    assert_eq!((t.ckpt.start_label_for(&first), t.ckpt.start_label_for(&other)), (1, 0));
    let dir = tmpdir("start-labels");
    t.ckpt.save(&dir).unwrap();
    let back = Checkpoint::load(&dir, &cpu()).unwrap();
    assert_eq!(back.start_labels, t.ckpt.start_labels);
    // Nearest, not exact: a slightly different embedding of the first instruction.
    let near: Vec<f32> = first.iter().map(|x| x * 0.99 + 0.001).collect();
    assert_eq!(back.start_label_for(&near), 1);
}

/// A fresh, larger recurrent core on a trained vision: the vision is copied
/// bit for bit, the core has the new size, and it trains with the vision frozen.
#[test]
fn a_new_core_keeps_the_vision() {
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), dataset(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let big = t.ckpt.model.with_new_core(NewCore { hidden: 24, ..NewCore::default() }, 3).unwrap();
    assert_eq!(big.config().hidden, 24);
    assert_eq!(vision_params(&t.ckpt.model), vision_params(&big));
    assert!(vision_params(&big).len() >= 9, "encoders and decoder found");
    let mut cfg = train_cfg(2);
    cfg.freeze_vision = true;
    let ckpt = Checkpoint { model: big, norm: t.ckpt.norm.clone(), labels: t.ckpt.labels.clone(), start_label: 0, start_labels: Vec::new() };
    let mut f = Trainer::from_checkpoint(ckpt, cfg, dataset()).unwrap();
    let l = f.train_epoch(&mut |_, _| {}).unwrap();
    assert!(l.joint.is_finite());
    assert_eq!(vision_params(&t.ckpt.model), vision_params(&f.ckpt.model));
}

/// Without label input the label embedding does not reach the core: the same
/// joints and points whatever label is given, and the flag survives a save.
#[test]
fn label_input_off_ignores_the_label() {
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), dataset(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let b = t.batch(&[0], None).unwrap();
    let other = (b.label_emb.clone() * -1.0).unwrap();
    let run = |m: &Sarnn, labels: &Tensor| -> Vec<f32> {
        let o = m.forward_seq(&b.images_in, &b.joints_in, &b.instr, labels, None).unwrap();
        o.joints.flatten_all().unwrap().to_vec1().unwrap()
    };
    assert_ne!(run(&t.ckpt.model, &b.label_emb), run(&t.ckpt.model, &other), "with label input the label matters");
    t.ckpt.model.set_label_input(false);
    assert_eq!(run(&t.ckpt.model, &b.label_emb), run(&t.ckpt.model, &other));
    let dir = tmpdir("no-label-input");
    t.ckpt.save(&dir).unwrap();
    assert!(!Checkpoint::load(&dir, &cpu()).unwrap().model.config().label_input);
}

/// Fed-back predictions: with no feedback the pass is the teacher-forced one;
/// with full feedback only the first joint reading reaches the model.
#[test]
fn joint_feedback_replaces_the_readings_with_predictions() {
    let mut cfg = model_cfg(Conditioning::Concat);
    cfg.residual_joints = true;
    let mut tc = train_cfg(1);
    tc.freeze_vision = true;
    let mut t = Trainer::new(&cfg, tc, dataset(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let b = t.batch(&[0], None).unwrap();
    let pts = b.points.clone().unwrap();
    let m = &t.ckpt.model;
    let flat = |x: &Tensor| -> Vec<f32> { x.flatten_all().unwrap().to_vec1().unwrap() };
    let forced = m.core_seq(&pts, &b.joints_clean, None, Words::new(&b.instr, &b.label_emb), None).unwrap();
    let zero = m.core_seq_feedback(&pts, &b.joints_clean, 0.0, Words::new(&b.instr, &b.label_emb)).unwrap();
    let close = |a: &[f32], z: &[f32]| a.iter().zip(z).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(close(&flat(&forced.joints), &flat(&zero.joints)));
    // Other readings after the first step change nothing under full feedback.
    let t_len = b.joints_clean.dim(1).unwrap();
    let first = b.joints_clean.narrow(1, 0, 1).unwrap();
    let rest = (b.joints_clean.narrow(1, 1, t_len - 1).unwrap() + 0.3).unwrap();
    let moved = Tensor::cat(&[&first, &rest], 1).unwrap();
    let full_a = m.core_seq_feedback(&pts, &b.joints_clean, 1.0, Words::new(&b.instr, &b.label_emb)).unwrap();
    let full_b = m.core_seq_feedback(&pts, &moved, 1.0, Words::new(&b.instr, &b.label_emb)).unwrap();
    assert!(close(&flat(&full_a.joints), &flat(&full_b.joints)));
    let half = m.core_seq_feedback(&pts, &moved, 0.5, Words::new(&b.instr, &b.label_emb)).unwrap();
    assert!(!close(&flat(&full_a.joints), &flat(&half.joints)), "half feedback still reads the joints");
}

/// The step-by-step check (`kotoba train --init-from D --epochs 0`): every
/// step but the last is scored, "holding still" is the recorded motion itself,
/// the running policy's error is the teacher-forced joint loss of training,
/// and a second pass gives the same figures (the policy is reset per episode).
#[test]
fn step_replay_scores_the_running_policy_against_holding_still() {
    let data = dataset();
    let mut cfg = train_cfg(30);
    cfg.augment.enabled = false;
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), cfg, data.clone(), &cpu()).unwrap();
    for _ in 0..30 {
        t.train_epoch(&mut |_, _| {}).unwrap();
    }
    let dir = tmpdir("step-replay");
    t.ckpt.save(&dir).unwrap();
    // No clamping to the taught range: the sequence path has none.
    let runtime = kotoba_dpl::RuntimeConfig { input_param: 1.0, regression: None, joint_margin: None, ..Default::default() };
    let mut policy = kotoba_dpl::SarnnPolicy::new(Checkpoint::load(&dir, &cpu()).unwrap(), runtime).unwrap();
    let eps: Vec<_> = t.train_idx.iter().map(|&i| &data.episodes[i]).collect();
    let r = kotoba_dpl::step_replay(&mut policy, &eps, Some(&data.labels)).unwrap();
    assert_eq!(r.steps, eps.iter().map(|e| e.len() - 1).sum::<usize>());
    let d = data.episodes[0].num_joints;
    for j in 0..d {
        let (mut se, mut n) = (0f64, 0usize);
        for e in &eps {
            for s in 0..e.len() - 1 {
                se += f64::from(e.joint_row(s)[j] - e.joint_row(s + 1)[j]).powi(2);
                n += 1;
            }
        }
        assert!((r.hold_rms[j] - (se / n as f64).sqrt()).abs() < 1e-9, "joint {j}");
    }
    // The step path agrees with the sequence path the losses come from: the
    // teacher-forced joint loss over the same episodes, in normalised units.
    let b = t.batch(&t.train_idx.clone(), None).unwrap();
    let seq_loss = t.loss(&b, 1.0).unwrap().1.joint;
    let norm = &t.ckpt.norm;
    let step_loss = (0..d)
        .map(|j| (r.policy_rms[j] * f64::from((norm.hi - norm.lo) / (norm.max[j] - norm.min[j]))).powi(2))
        .sum::<f64>()
        / d as f64;
    assert!((seq_loss - step_loss).abs() <= 1e-5 * seq_loss.max(1e-6), "sequence path {seq_loss} vs step path {step_loss}");
    assert_eq!(r, kotoba_dpl::step_replay(&mut policy, &eps, Some(&data.labels)).unwrap());
    let own = kotoba_dpl::step_replay(&mut policy, &eps, None).unwrap();
    assert!(own.policy_rms.iter().all(|x| x.is_finite()) && own.steps == r.steps);
}
