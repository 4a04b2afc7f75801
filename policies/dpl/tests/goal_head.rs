//! The subgoal head (`ModelConfig::goal_head`): what its loss trains, that it
//! learns, and that it survives a checkpoint; and a core that reads its
//! prediction (`ModelConfig::goal_input`): that it does, that the core's losses
//! leave the head alone, and that the running policy computes what training does.

mod common;

use candle_core::Tensor;
use common::*;
use kotoba_core::Stamp;
use kotoba_dpl::{
    Checkpoint, Conditioning, GoalEncoder, ModelConfig, NewCore, Observation, Policy, RegressConfig, RuntimeConfig, Sarnn, SarnnPolicy,
    Trainer,
};

fn goal_cfg() -> ModelConfig {
    ModelConfig { goal_head: true, ..model_cfg(Conditioning::Concat) }
}

fn changed(before: &[(String, Vec<u32>)], after: &[(String, Vec<u32>)], prefix: &str) -> bool {
    before.iter().zip(after).filter(|((n, _), _)| n.starts_with(prefix)).any(|((_, a), (_, b))| a != b)
}

#[test]
fn the_head_is_drawn_after_every_other_layer() {
    let plain = Sarnn::new(&model_cfg(Conditioning::Concat), 5, &cpu()).unwrap();
    let with = Sarnn::new(&goal_cfg(), 5, &cpu()).unwrap();
    let extra: Vec<_> = all_params(&with).into_iter().filter(|(n, _)| !n.starts_with("goal_head")).collect();
    assert_eq!(all_params(&plain), extra, "a model without the head keeps its initial weights");
    assert!(with.params().iter().any(|(n, _)| n.starts_with("goal_head")));
}

/// Alone, the goal loss trains the head and, through the attention points, the
/// point encoder; nothing else (the latent it reads is detached).
#[test]
fn the_goal_loss_reaches_the_point_encoder_and_nothing_else() {
    let mut cfg = train_cfg(1);
    (cfg.w_image, cfg.w_joint, cfg.w_point, cfg.w_label, cfg.w_goal) = (0.0, 0.0, 0.0, 0.0, 1.0);
    cfg.augment.enabled = false;
    let mut t = Trainer::new(&goal_cfg(), cfg, dataset(), &cpu()).unwrap();
    let before = all_params(&t.ckpt.model);
    let l = t.train_epoch(&mut |_, _| {}).unwrap();
    assert!(l.goal > 0.0 && l.total == l.goal, "{l:?}");
    let after = all_params(&t.ckpt.model);
    for p in ["goal_head", "pos_encoder"] {
        assert!(changed(&before, &after, p), "{p} must learn from the goal loss");
    }
    for p in ["im_encoder", "decoder_image", "rec.", "decoder_joint", "decoder_point", "label_head", "lang_proj"] {
        assert!(!changed(&before, &after, p), "{p} must not move");
    }
}

/// The head learns (the synthetic task's reach ends where its blob is), and a
/// saved model gives the same loss after loading.
#[test]
fn the_goal_loss_falls_and_survives_a_checkpoint() {
    let mut cfg = train_cfg(1);
    cfg.augment.enabled = false;
    let mut t = Trainer::new(&goal_cfg(), cfg, dataset(), &cpu()).unwrap();
    let first = t.evaluate().unwrap().unwrap().goal;
    for _ in 0..40 {
        t.train_epoch(&mut |_, _| {}).unwrap();
    }
    let last = t.evaluate().unwrap().unwrap().goal;
    assert!(last < 0.5 * first, "validation goal loss {first} -> {last}");
    let dir = tmpdir("goal-head");
    t.ckpt.save(&dir).unwrap();
    let loaded = Trainer::from_checkpoint(Checkpoint::load(&dir, &cpu()).unwrap(), train_cfg(1), dataset()).unwrap();
    let b = t.batch(&[0, 1], None).unwrap();
    assert_eq!(t.loss(&b, 1.0).unwrap().1.goal, loaded.loss(&b, 1.0).unwrap().1.goal);
}

fn goal_input_cfg() -> ModelConfig {
    ModelConfig { goal_input: true, ..goal_cfg() }
}

fn goal_pull_cfg() -> ModelConfig {
    ModelConfig { goal_pull: true, residual_joints: true, ..goal_input_cfg() }
}

/// One subgoal map per (instruction, label): the synthetic data teaches two instructions.
fn per_instruction_cfg() -> ModelConfig {
    ModelConfig { goal_instructions: 2, ..goal_input_cfg() }
}

/// Goal points from the pixel encoder, read by a pulling core.
fn pixel_cfg() -> ModelConfig {
    ModelConfig { goal_points: 2, goal_encoder: GoalEncoder::Pixels, ..goal_pull_cfg() }
}

/// Pixel goal points and the point encoder on the 16x16 image, the feature
/// encoder and image decoder on it pooled to 8x8.
fn pooled_cfg() -> ModelConfig {
    ModelConfig { feature_pool: 2, ..pixel_cfg() }
}

/// With `feature_pool` the feature encoder and the image decoder work on the
/// block-averaged image, exactly as a model built for the small image would,
/// while the point encoder and the pixel goal points read the full one.
#[test]
fn pooled_features_see_the_averaged_image_and_points_the_full_one() {
    let pooled = Sarnn::new(&pooled_cfg(), 5, &cpu()).unwrap();
    let small = Sarnn::new(&ModelConfig { image_height: 8, image_width: 8, ..pixel_cfg() }, 5, &cpu()).unwrap();
    // A coloured 3x3 square on grey at an odd offset: pooling blurs its edges.
    let mut v = vec![0.5f32; 3 * 16 * 16];
    for r in 5..8 {
        for c in 9..12 {
            for (ch, x) in [0.9f32, 0.2, 0.1].into_iter().enumerate() {
                v[ch * 256 + r * 16 + c] = x;
            }
        }
    }
    let img = Tensor::from_vec(v, (1, 3, 16, 16), &cpu()).unwrap();
    let img_small = img.avg_pool2d(2).unwrap();
    assert_eq!(max_abs_diff(&pooled.pooled(&img).unwrap(), &img_small), 0.0);
    let (pts, feat) = pooled.encode(&img).unwrap();
    let (pts_s, feat_s) = small.encode(&img_small).unwrap();
    assert_eq!(feat.dims(), feat_s.dims());
    assert_eq!(max_abs_diff(&feat, &feat_s), 0.0, "the feature encoder sees the pooled image");
    assert!(max_abs_diff(&pts, &pts_s) > 1e-3, "the points read the full image");
    // The decoder paints the pooled image, its heatmaps on the pooled maps.
    let dec = pooled.decode_image(&pts, &feat).unwrap();
    assert_eq!(dec.dims(), [1, 3, 8, 8]);
    assert_eq!(max_abs_diff(&dec, &small.decode_image(&pts, &feat_s).unwrap()), 0.0);
    assert!(err_text(ModelConfig { feature_pool: 3, ..pooled_cfg() }.validate()).contains("feature_pool"));
    // Run with `input_param` below 1, the pooled prediction is blended back into full frames.
    let t = Trainer::new(&pooled_cfg(), train_cfg(1), dataset(), &cpu()).unwrap();
    let mut p = SarnnPolicy::new(frozen_checkpoint(&t), RuntimeConfig { input_param: 0.5, ..RuntimeConfig::default() }).unwrap();
    let ep = &t.data().episodes[0];
    for k in 0..3 {
        let obs = Observation { label: None, stamp: Stamp::ZERO, image: ep.image(k), joints: ep.joint_row(k), instruction: &ep.instruction };
        assert!(p.step(&obs).unwrap().chunk.targets.iter().all(|x| x.is_finite()));
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// A core that reads the joints as their offset from the subgoal.
fn relative_cfg() -> ModelConfig {
    ModelConfig { goal_relative: true, ..pixel_cfg() }
}

/// A pulled core that reads neither the subgoal nor the goal points.
fn blind_cfg() -> ModelConfig {
    ModelConfig { goal_blind: true, ..pixel_cfg() }
}

/// A blind core told how far the subgoal is.
fn distance_cfg() -> ModelConfig {
    ModelConfig { goal_distance: true, ..blind_cfg() }
}

/// With the pixel encoder the goal loss trains it and the head; the maps'
/// points are not read by the head, so the point encoder stays as it was.
#[test]
fn the_goal_loss_trains_the_pixel_encoder() {
    let mut cfg = train_cfg(1);
    (cfg.w_image, cfg.w_joint, cfg.w_point, cfg.w_label, cfg.w_goal) = (0.0, 0.0, 0.0, 0.0, 1.0);
    cfg.augment.enabled = false;
    let model = ModelConfig { goal_input: false, goal_pull: false, ..pixel_cfg() };
    let mut t = Trainer::new(&model, cfg, dataset(), &cpu()).unwrap();
    let before = all_params(&t.ckpt.model);
    t.train_epoch(&mut |_, _| {}).unwrap();
    let after = all_params(&t.ckpt.model);
    for p in ["goal_head", "goal_pixels.0", "goal_pixels.1", "goal_pixels.dirs"] {
        assert!(changed(&before, &after, p), "{p} must learn from the goal loss");
    }
    for p in ["pos_encoder", "im_encoder", "decoder_image", "rec."] {
        assert!(!changed(&before, &after, p), "{p} must not move");
    }
}

/// Every other loss (image, joints, points, labels) leaves the pixel encoder
/// as it was: the core reads its points detached and does not predict them.
#[test]
fn only_the_goal_loss_trains_the_pixel_encoder() {
    let mut cfg = train_cfg(1);
    cfg.w_goal = 0.0;
    cfg.point_ramp_batches = 0;
    cfg.augment.enabled = false;
    let model = ModelConfig { goal_input: false, goal_pull: false, ..pixel_cfg() };
    let mut t = Trainer::new(&model, cfg, dataset(), &cpu()).unwrap();
    let before = all_params(&t.ckpt.model);
    let l = t.train_epoch(&mut |_, _| {}).unwrap();
    assert!(l.point > 0.0 && l.joint > 0.0, "{l:?}");
    let after = all_params(&t.ckpt.model);
    assert!(changed(&before, &after, "rec.") && changed(&before, &after, "pos_encoder"));
    assert!(!changed(&before, &after, "goal_pixels"), "the pixel encoder must not move");
}

fn err_text<T>(r: kotoba_dpl::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// The core's joint predictions move when the subgoal head's output does,
/// but only in a model whose core reads it.
#[test]
fn a_core_with_goal_input_reads_the_subgoal() {
    for (cfg, reads) in [(goal_input_cfg(), true), (goal_cfg(), false)] {
        let t = Trainer::new(&cfg, train_cfg(1), dataset(), &cpu()).unwrap();
        let b = t.batch(&[0, 1], None).unwrap();
        let before = bits(&t.forward(&b).unwrap().joints);
        let bias = t.model().params().get("goal_head.bias").unwrap();
        bias.set(&(bias.as_tensor() + 0.5).unwrap()).unwrap();
        let after = bits(&t.forward(&b).unwrap().joints);
        assert_eq!(before != after, reads, "goal_input = {}", cfg.goal_input);
    }
}

/// The subgoal enters the core detached: the joint, point and label losses
/// train the core and leave the head and the point encoder as they were.
#[test]
fn the_core_losses_leave_the_subgoal_head_alone() {
    let mut cfg = train_cfg(1);
    (cfg.w_image, cfg.w_goal) = (0.0, 0.0);
    cfg.augment.enabled = false;
    let mut t = Trainer::new(&goal_input_cfg(), cfg, dataset(), &cpu()).unwrap();
    let before = all_params(&t.ckpt.model);
    t.train_epoch(&mut |_, _| {}).unwrap();
    let after = all_params(&t.ckpt.model);
    assert!(changed(&before, &after, "rec."), "the core must learn");
    assert!(!changed(&before, &after, "goal_head"), "the subgoal head must not move");
}

/// With spoken labels, the policy step (which maps each spoken label to the
/// nearest taught one for the subgoal head) predicts what the training forward
/// pass does with the labels' indices, and reports the head's subgoal; with
/// and without a core that reads it.
#[test]
fn goal_input_policy_steps_match_the_training_forward_pass() {
    for cfg in [goal_cfg(), goal_input_cfg(), goal_pull_cfg(), per_instruction_cfg(), pixel_cfg(), pooled_cfg(), ModelConfig { feature_pool: 2, ..goal_cfg() }, relative_cfg(), blind_cfg(), distance_cfg(), ModelConfig { core_reads_points: false, ..distance_cfg() }] {
        policy_matches_training(&cfg);
    }
    // A model without the head reports no subgoal.
    let t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), dataset(), &cpu()).unwrap();
    let mut p = SarnnPolicy::new(frozen_checkpoint(&t), RuntimeConfig::default()).unwrap();
    let ep = &t.data().episodes[0];
    let obs = Observation { label: None, stamp: Stamp::ZERO, image: ep.image(0), joints: ep.joint_row(0), instruction: &ep.instruction };
    assert!(p.step(&obs).unwrap().subgoal.is_none());
}

fn policy_matches_training(cfg: &ModelConfig) {
    let data = dataset();
    let mut t = Trainer::new(cfg, train_cfg(1), data.clone(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let rt = RuntimeConfig { input_param: 1.0, joint_margin: None, ..RuntimeConfig::default() };
    // The taught instructions, which a head with a map per instruction needs.
    let ckpt = Checkpoint { start_labels: t.ckpt.start_labels.clone(), ..frozen_checkpoint(&t) };
    let mut p = SarnnPolicy::new(ckpt, rt).unwrap();
    // Episodes 0 and 1 carry the two instructions.
    for (i, ep) in data.episodes.iter().enumerate().take(2) {
        let b = t.batch(&[i], None).unwrap();
        let out = t.forward(&b).unwrap();
        let want = out.joints.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let goal = t.model().predict_goal(&out.enc_pts, &b.goal_key, &b.instr, &b.label_emb).unwrap().unwrap();
        let want_goal = goal.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let d = ep.num_joints;
        assert!(ep.labels.iter().any(|&l| l != ep.labels[0]), "the episode must change label");
        p.reset();
        for k in 0..ep.len() {
            let obs = Observation {
                stamp: Stamp::ZERO,
                image: ep.image(k),
                joints: ep.joint_row(k),
                instruction: &ep.instruction,
                label: Some(data.labels.embedding(ep.labels[k])),
            };
            let out = p.step(&obs).unwrap();
            let mut norm = vec![0f32; d];
            t.ckpt.norm.normalize(&out.chunk.targets, &mut norm);
            for j in 0..d {
                assert!((norm[j] - want[k * d + j]).abs() < 1e-4, "episode {i} step {k} joint {j}: {} vs {}", norm[j], want[k * d + j]);
            }
            // The subgoal it reports is the head's, in raw units.
            let mut goal = vec![0f32; d];
            t.ckpt.norm.normalize(&out.subgoal.unwrap(), &mut goal);
            for j in 0..d {
                assert!((goal[j] - want_goal[k * d + j]).abs() < 1e-4, "subgoal, episode {i} step {k} joint {j}");
            }
        }
    }
    let ep = &data.episodes[0];
    // Without spoken labels it runs on its own predicted distribution.
    p.reset();
    let obs = Observation { label: None, stamp: Stamp::ZERO, image: ep.image(0), joints: ep.joint_row(0), instruction: &ep.instruction };
    for _ in 0..3 {
        assert!(p.step(&obs).unwrap().chunk.targets.iter().all(|x| x.is_finite()));
    }
}

/// A fresh residual model's change head is zero, so its gate alone decides:
/// shut, it holds still; wide open, it proposes the subgoal itself.
#[test]
fn the_goal_pull_gate_moves_between_holding_and_the_subgoal() {
    let t = Trainer::new(&goal_pull_cfg(), train_cfg(1), dataset(), &cpu()).unwrap();
    let b = t.batch(&[0, 1], None).unwrap();
    let bias = t.model().params().get("goal_gate.bias").unwrap();
    let max_diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    bias.set(&(bias.as_tensor().ones_like().unwrap() * -40.0).unwrap()).unwrap();
    let out = t.forward(&b).unwrap();
    assert!(max_diff(&out.joints, &b.joints_clean) < 1e-6, "gate shut: hold still");
    bias.set(&(bias.as_tensor().ones_like().unwrap() * 40.0).unwrap()).unwrap();
    let out = t.forward(&b).unwrap();
    let goal = t.model().predict_goal(&out.enc_pts, &b.label_idx, &b.instr, &b.label_emb).unwrap().unwrap();
    assert!(max_diff(&out.joints, &goal) < 1e-5, "gate open: the subgoal");
    assert!(max_diff(&goal, &b.joints_clean) > 1e-2, "the subgoal is not the pose");
}

#[test]
fn goal_input_refuses_what_it_cannot_do() {
    let no_head = ModelConfig { goal_head: false, ..goal_input_cfg() };
    assert!(err_text(Sarnn::new(&no_head, 1, &cpu())).contains("goal_input needs goal_head"));
    let absolute = ModelConfig { residual_joints: false, ..goal_pull_cfg() };
    assert!(err_text(Sarnn::new(&absolute, 1, &cpu())).contains("goal_pull needs goal_input and residual_joints"));
    let t = Trainer::new(&goal_input_cfg(), train_cfg(1), dataset(), &cpu()).unwrap();
    let b = t.batch(&[0], None).unwrap();
    let e = err_text(t.model().forward_seq(&b.images_in, &b.joints_in, &b.instr, &b.label_emb, None));
    assert!(e.contains("needs the active label indices"), "{e}");
    let rt = RuntimeConfig { regression: Some(RegressConfig::default()), ..RuntimeConfig::default() };
    let e = err_text(SarnnPolicy::new(frozen_checkpoint(&t), rt));
    assert!(e.contains("subgoal (goal_input)"), "{e}");
    let c = t.model().config();
    let zeros = |n| Tensor::zeros((1, n), candle_core::DType::F32, &cpu()).unwrap();
    let (pts, jnt, z) = (zeros(2 * c.keypoints), zeros(c.joints), zeros(c.lang_dim));
    assert!(t.model().core_input(&pts, &jnt, None, &z).unwrap_err().to_string().contains("reads a subgoal"));
}

/// A new core that reads the subgoal keeps the vision and the trained head.
#[test]
fn a_new_core_keeps_the_vision_and_the_subgoal_head() {
    let m = Sarnn::new(&ModelConfig { goal_points: 2, goal_encoder: GoalEncoder::Pixels, ..goal_cfg() }, 5, &cpu()).unwrap();
    let n = m.with_new_core(NewCore { hidden: 24, goal_input: true, ..NewCore::default() }, 9).unwrap();
    assert!(n.config().goal_input && n.config().hidden == 24);
    let keep = |m: &Sarnn| -> Vec<_> {
        all_params(m).into_iter().filter(|(k, _)| Sarnn::VISION.iter().any(|v| k.starts_with(v)) || k.starts_with("goal_head")).collect()
    };
    assert_eq!(keep(&m), keep(&n));
    assert!(keep(&m).iter().any(|(k, _)| k.starts_with("goal_pixels")));
}

/// With a map per (instruction, label), a step's map is its instruction's
/// block of labels; a head sized for another number of instructions is refused.
#[test]
fn each_instruction_has_its_own_subgoal_maps() {
    let data = dataset();
    assert_eq!(data.instruction_count(), 2);
    let t = Trainer::new(&per_instruction_cfg(), train_cfg(1), data.clone(), &cpu()).unwrap();
    let v = data.labels.len() as u32;
    for ep in 0..2 {
        let b = t.batch(&[ep], None).unwrap();
        let instr = t.ckpt.instruction_index(&data.episodes[ep].instruction) as u32;
        let keys = b.goal_key.flatten_all().unwrap().to_vec1::<u32>().unwrap();
        let labels = b.label_idx.flatten_all().unwrap().to_vec1::<u32>().unwrap();
        assert!(keys.iter().zip(&labels).all(|(k, l)| *k == instr * v + l), "episode {ep}: {keys:?} / {labels:?}");
    }
    assert_ne!(t.ckpt.instruction_index(&data.episodes[0].instruction), t.ckpt.instruction_index(&data.episodes[1].instruction));
    let three = ModelConfig { goal_instructions: 3, ..per_instruction_cfg() };
    let e = err_text(Trainer::new(&three, train_cfg(1), data, &cpu()));
    assert!(e.contains("taught instructions"), "{e}");
    let no_head = ModelConfig { goal_head: false, goal_input: false, ..per_instruction_cfg() };
    assert!(err_text(Sarnn::new(&no_head, 1, &cpu())).contains("goal_instructions and goal_phases need goal_head"));
}

/// The closed-form head is the least-squares fit: the RMS it reports is the
/// subgoal loss on the steps it was fitted to, and it is below what the head
/// had before.
#[test]
fn the_fitted_head_reports_its_own_loss_and_lowers_it() {
    for cfg in [goal_cfg(), pixel_cfg()] {
        let mut tc = train_cfg(1);
        tc.val_fraction = 0.0;
        let t = Trainer::new(&cfg, tc, dataset(), &cpu()).unwrap();
        let b = t.batch(&t.train_idx, None).unwrap();
        let before = t.loss(&b, 1.0).unwrap().1.goal;
        let rms = t.fit_goal_head(1e-6).unwrap();
        let after = t.loss(&b, 1.0).unwrap().1.goal;
        let mean_sq = rms.iter().map(|r| r * r).sum::<f64>() / rms.len() as f64;
        assert!((after - mean_sq).abs() < 1e-4 * mean_sq.max(1e-3), "{after} vs {mean_sq}");
        assert!(after < 0.5 * before, "{before} -> {after}");
    }
}

/// Pull only: the free change head is ignored, so a shut gate holds still
/// even when that head would move.
#[test]
fn pull_only_moves_by_the_pull_alone() {
    let cfg = ModelConfig { goal_pull_only: true, ..goal_pull_cfg() };
    let t = Trainer::new(&cfg, train_cfg(1), dataset(), &cpu()).unwrap();
    let b = t.batch(&[0, 1], None).unwrap();
    let p = t.model().params();
    let set = |name: &str, v: f64| {
        let var = p.get(name).unwrap();
        var.set(&(var.as_tensor().ones_like().unwrap() * v).unwrap()).unwrap();
    };
    set("decoder_joint.bias", 0.5);
    set("goal_gate.bias", -40.0);
    let out = t.forward(&b).unwrap();
    let gap = (&out.joints - &b.joints_clean).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(gap < 1e-6, "{gap}");
    assert!(Sarnn::new(&ModelConfig { goal_pull_only: true, ..goal_input_cfg() }, 1, &cpu()).is_err());
}

/// Batches over episodes 0 and 1 of a goal-input trainer with `tc`: drawn
/// with augmentation (seed 4), and without; then, with the same settings, a
/// model whose core reads no subgoal shifts nothing.
fn shifted_batches(tc: kotoba_dpl::TrainConfig) -> (Trainer, Vec<kotoba_dpl::Span>, kotoba_dpl::Batch, kotoba_dpl::Batch) {
    use rand::SeedableRng;
    let t = Trainer::new(&goal_input_cfg(), tc.clone(), dataset(), &cpu()).unwrap();
    let spans = t.spans(&[0, 1], None);
    let drawn = t.batch_spans(&spans, Some(&mut rand_chacha::ChaCha8Rng::seed_from_u64(4))).unwrap();
    let plain = t.batch_spans(&spans, None).unwrap();
    assert!(plain.goal_shift.is_none(), "no augmentation, no shift");
    let no_input = Trainer::new(&goal_cfg(), tc, dataset(), &cpu()).unwrap();
    let b = no_input.batch_spans(&spans, Some(&mut rand_chacha::ChaCha8Rng::seed_from_u64(4))).unwrap();
    assert!(b.goal_shift.is_none(), "no subgoal input, no shift");
    (t, spans, drawn, plain)
}

/// A base turn shifts the first joint's targets and the core's subgoal by the
/// same amount per sequence, nothing else, and only for a core that reads the
/// subgoal, only with augmentation.
#[test]
fn a_base_turn_moves_the_first_joint_and_the_subgoal_together() {
    let mut tc = train_cfg(1);
    tc.augment.base_rotation = 0.2;
    let (_, _, turned, plain) = shifted_batches(tc);
    let shift = turned.goal_shift.as_ref().unwrap();
    let moved = (&turned.joints_target - &plain.joints_target).unwrap();
    let gap = (&moved - shift).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
    assert!(gap < 1e-6, "targets move by the shift: {gap}");
    let s = shift.to_vec3::<f32>().unwrap();
    for seq in &s {
        assert!(seq.iter().all(|step| step[0] == seq[0][0] && step[1..].iter().all(|&v| v == 0.0)));
        assert!(seq[0][0] != 0.0);
    }
    assert_ne!(s[0][0][0], s[1][0][0], "one turn per sequence");
}

/// A relative core's input is the same when the joints and the subgoal move
/// together; a blind core's ignores the subgoal and the goal points, not the
/// other points. Both are as wide as the configuration says.
#[test]
fn relative_and_blind_cores_read_what_they_say() {
    let row = |vals: Vec<f32>| Tensor::from_vec(vals.clone(), (1, vals.len()), &cpu()).unwrap();
    let ramp = |n: usize, at: f32| row((0..n).map(|i| at + 0.1 * i as f32).collect());
    let input = |m: &Sarnn, pts: &Tensor, j: &Tensor, g: &Tensor| {
        let z = Tensor::ones((1, m.config().lang_dim), candle_core::DType::F32, &cpu()).unwrap();
        bits(&m.core_input(pts, j, Some(g), &z).unwrap())
    };
    let rel = Sarnn::new(&relative_cfg(), 3, &cpu()).unwrap();
    let c = rel.config().clone();
    let pts = ramp(2 * c.keypoints, 0.2);
    let (j, g) = (ramp(c.joints, 0.1), row((0..c.joints).map(|i| 0.5 + 0.05 * (i * i) as f32).collect()));
    let (j2, g2) = ((&j + 0.3).unwrap(), (&g + 0.3).unwrap());
    assert_eq!(input(&rel, &pts, &j, &g), input(&rel, &pts, &j2, &g2), "offset unchanged");
    assert_ne!(input(&rel, &pts, &j, &g), input(&rel, &pts, &j, &g2), "offset changed");
    assert_eq!(input(&rel, &pts, &j, &g).len(), c.core_input());

    let blind = Sarnn::new(&blind_cfg(), 3, &cpu()).unwrap();
    let c = blind.config().clone();
    let seen = 2 * (c.keypoints - c.goal_points);
    let mut moved_goal_points = pts.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    moved_goal_points[seen] += 0.25;
    let mut moved_point = pts.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    moved_point[0] += 0.25;
    let x = input(&blind, &pts, &j, &g);
    assert_eq!(x.len(), c.core_input());
    assert_eq!(x, input(&blind, &pts, &j, &g2), "the subgoal is not read");
    assert_eq!(x, input(&blind, &row(moved_goal_points), &j, &g), "the goal points are not read");
    assert_ne!(x, input(&blind, &row(moved_point.clone()), &j, &g), "the other points are");

    // Without any points, only the joints and the words.
    let none = Sarnn::new(&ModelConfig { core_reads_points: false, ..blind_cfg() }, 3, &cpu()).unwrap();
    let x = input(&none, &pts, &j, &g);
    assert_eq!(x.len(), none.config().core_input());
    assert_eq!(x.len(), c.joints + c.lang_dim);
    assert_eq!(x, input(&none, &row(moved_point.clone()), &j, &g), "no point is read");
    let e = err_text(Sarnn::new(&ModelConfig { core_reads_points: false, ..goal_pull_cfg() }, 1, &cpu()));
    assert!(e.contains("must be goal_blind"), "{e}");

    // Told the distance, it still ignores where the subgoal is, only how far.
    let dist = Sarnn::new(&distance_cfg(), 3, &cpu()).unwrap();
    let x = input(&dist, &pts, &j, &g);
    assert_eq!(x.len(), dist.config().core_input());
    // The same offset with two joints' entries swapped: another direction, the same length.
    let mut off = (&g - &j).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    off.swap(0, c.joints - 1);
    let reordered = (&row(off) + &j).unwrap();
    assert_ne!(bits(&reordered), bits(&g));
    let d0 = |x: &[u32]| f32::from_bits(x[x.len() - dist.config().lang_dim - 1]);
    let offset = (&g - &j).unwrap().sqr().unwrap().sum_all().unwrap().sqrt().unwrap().to_scalar::<f32>().unwrap();
    assert!((d0(&x) - offset).abs() < 1e-6, "{} vs {offset}", d0(&x));
    assert!((d0(&input(&dist, &pts, &j, &reordered)) - offset).abs() < 1e-5, "only the length counts");
    assert!((d0(&input(&dist, &pts, &j2, &g2)) - offset).abs() < 1e-5, "moved together: the same distance");
    assert_ne!(x, input(&dist, &pts, &j, &(&g + 0.3).unwrap()), "another distance");

    let no_pull = ModelConfig { goal_pull: false, ..blind_cfg() };
    assert!(err_text(Sarnn::new(&no_pull, 1, &cpu())).contains("goal_blind needs goal_pull"));
    let both = ModelConfig { goal_relative: true, ..blind_cfg() };
    assert!(err_text(Sarnn::new(&both, 1, &cpu())).contains("excludes goal_relative"));
    let no_input = ModelConfig { goal_input: false, goal_pull: false, goal_relative: true, ..goal_cfg() };
    assert!(err_text(Sarnn::new(&no_input, 1, &cpu())).contains("goal_relative needs goal_input"));
    let no_input = ModelConfig { goal_input: false, goal_pull: false, goal_distance: true, ..goal_cfg() };
    assert!(err_text(Sarnn::new(&no_input, 1, &cpu())).contains("goal_distance needs goal_input"));
}

/// Phase shifts move each phase's end (and the subgoal the core reads with
/// it) but not the episode's first step; the subgoal head's own targets stay.
#[test]
fn phase_shifts_move_the_phase_ends_and_the_subgoal_together() {
    let mut tc = train_cfg(1);
    tc.augment.phase_shift = 0.1;
    let (t, spans, moved, plain) = shifted_batches(tc);
    assert!(spans.iter().all(|s| s.start == 0), "whole episodes: {spans:?}");
    let along = (&moved.joints_target - &plain.joints_target).unwrap().to_vec3::<f32>().unwrap();
    let inputs = (&moved.joints_clean - &plain.joints_clean).unwrap().to_vec3::<f32>().unwrap();
    assert_eq!(along, inputs, "inputs and targets move alike");
    let shift = moved.goal_shift.as_ref().unwrap().to_vec3::<f32>().unwrap();
    assert_eq!(moved.goals.to_vec3::<f32>().unwrap(), plain.goals.to_vec3::<f32>().unwrap(), "the head's targets stay");
    for (i, sp) in spans.iter().enumerate() {
        let ends = t.data().episodes[sp.episode].phase_ends();
        for (k, step) in along[i].iter().enumerate().take(sp.len) {
            assert!(step.iter().all(|v| v.abs() <= 0.1 + 1e-6), "within ±0.1: {step:?}");
            // At a phase's last step the motion has arrived at the subgoal's offset.
            if ends[k] == k {
                assert!(step.iter().zip(&shift[i][k]).all(|(a, s)| (a - s).abs() < 1e-6), "sequence {i} step {k}: {step:?} vs {:?}", shift[i][k]);
            }
        }
        assert!(along[i][0].iter().zip(&shift[i][0]).all(|(a, s)| a.abs() <= s.abs() + 1e-7), "the first step moves at most part of the way");
        assert!(shift[i][0].iter().any(|&v| v != 0.0));
    }
}
