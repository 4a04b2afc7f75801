//! Checkpoints round-trip bit-exactly, resume continues exactly, a golden forward
//! pass is pinned, and bad input gives clear errors.

mod common;

use candle_core::Tensor;
use common::*;
use kotoba_core::Stamp;
use kotoba_dpl::{
    Checkpoint, Conditioning, DplError, FitOptions, ModelConfig, Observation, Policy,
    RuntimeConfig, Sarnn, SarnnPolicy, Trainer, build_trainer, fit,
};

#[test]
fn checkpoint_round_trips_bit_exactly() {
    let mut t = Trainer::new(
        &model_cfg(Conditioning::Film),
        train_cfg(2),
        dataset(),
        &cpu(),
    )
    .unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let dir = tmpdir("roundtrip");
    t.ckpt.save(&dir).unwrap();
    let back = Checkpoint::load(&dir, &cpu()).unwrap();
    assert_eq!(all_params(&t.ckpt.model), all_params(&back.model));
    assert_eq!(back.config(), t.ckpt.config());
    assert_eq!(back.labels, t.ckpt.labels);
    // Same outputs, bit for bit.
    let b = t.batch(&[0, 1], None).unwrap();
    let o1 = t
        .ckpt
        .model
        .forward_seq(&b.images_in, &b.joints_in, &b.instr, &b.label_emb, None)
        .unwrap();
    let o2 = back
        .model
        .forward_seq(&b.images_in, &b.joints_in, &b.instr, &b.label_emb, None)
        .unwrap();
    assert_eq!(bits(&o1.joints), bits(&o2.joints));
    assert_eq!(bits(&o1.image), bits(&o2.image));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn resume_continues_exactly() {
    let (a, b) = (tmpdir("resume-a"), tmpdir("resume-b"));
    let quiet = |d: &std::path::Path| FitOptions {
        out_dir: d.to_path_buf(),
        progress: false,
        console: false,
    };
    let mcfg = model_cfg(Conditioning::Concat);
    let mut straight = build_trainer(&mcfg, train_cfg(4), dataset(), &a, false, &cpu()).unwrap();
    fit(&mut straight, &quiet(&a)).unwrap();
    let mut first = build_trainer(&mcfg, train_cfg(2), dataset(), &b, false, &cpu()).unwrap();
    fit(&mut first, &quiet(&b)).unwrap();
    let mut resumed = build_trainer(&mcfg, train_cfg(4), dataset(), &b, true, &cpu()).unwrap();
    assert_eq!(resumed.state.epoch, 2);
    let log = fit(&mut resumed, &quiet(&b)).unwrap();
    assert_eq!(log.len(), 4, "log keeps the first run's epochs");
    assert_eq!(
        all_params(&straight.ckpt.model),
        all_params(&resumed.ckpt.model)
    );
    let csv = std::fs::read_to_string(b.join("losses.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "{csv}");
    for d in [a, b] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// Output of a seeded default-size (64x64, K=5, LSTM 50) model on a fixed input.
/// Pins the forward pass: any change to layers, init or ordering shows up here.
#[test]
fn golden_forward() {
    let cfg = ModelConfig {
        joints: 4,
        embed_dim: 8,
        labels: 3,
        ..ModelConfig::default()
    };
    let m = Sarnn::new(&cfg, 42, &cpu()).unwrap();
    let (h, w) = (64usize, 64usize);
    let img: Vec<f32> = (0..3 * h * w)
        .map(|i| ((i * 37 % 101) as f32) / 100.0)
        .collect();
    let img = Tensor::from_vec(img, (1, 3, h, w), &cpu()).unwrap();
    let joints = Tensor::new(&[[[0.1f32, 0.4, 0.6, 0.9]]], &cpu()).unwrap();
    let instr = Tensor::new(&[[0.5f32, -0.5, 0.25, 0.0, 0.1, -0.2, 0.3, 0.7]], &cpu()).unwrap();
    let label = Tensor::new(&[[[-0.3f32, 0.2, 0.0, 0.9, -0.1, 0.4, 0.05, -0.6]]], &cpu()).unwrap();
    let o = m.forward_seq(&img, &joints, &instr, &label, None).unwrap();
    let v = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let (yj, enc, dec, lg, im) = (
        v(&o.joints),
        v(&o.enc_pts),
        v(&o.dec_pts),
        v(&o.label_logits),
        v(&o.image),
    );
    let im_mean = im.iter().sum::<f32>() / im.len() as f32;
    eprintln!(
        "GOLDEN joints {yj:?}\nenc {enc:?}\ndec {dec:?}\nlogits {lg:?}\nimage mean {im_mean} first {:?}",
        &im[..3]
    );
    let close = |got: &[f32], want: &[f32]| {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-4, "got {got:?}, want {want:?}");
        }
    };
    close(&yj, &GOLDEN_JOINTS);
    close(&enc[..4], &GOLDEN_ENC);
    close(&dec[..4], &GOLDEN_DEC);
    close(&lg, &GOLDEN_LOGITS);
    close(&[im_mean], &[GOLDEN_IMAGE_MEAN]);
}

// Recorded from this implementation (seed 42); update only for a deliberate change.
const GOLDEN_JOINTS: [f32; 4] = [0.013686781, -0.0054883095, 0.085931644, -0.01893511];
const GOLDEN_ENC: [f32; 4] = [0.50717705, 0.50611377, 0.48574618, 0.51260906];
const GOLDEN_DEC: [f32; 4] = [-0.046028126, 0.08073746, -0.010475734, -0.0010520912];
const GOLDEN_LOGITS: [f32; 3] = [-0.002666736, -0.06190888, -0.09791565];
const GOLDEN_IMAGE_MEAN: f32 = 0.000315713;

fn err_text<T>(r: Result<T, DplError>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_input_gives_clear_errors() {
    let data = dataset();
    // Model and dataset disagree on joint count, image size, embedding size.
    let mut cfg = model_cfg(Conditioning::Concat);
    cfg.joints = 5;
    let e = err_text(Trainer::new(&cfg, train_cfg(1), data.clone(), &cpu()));
    assert!(
        e.contains("joint count") && e.contains('5') && e.contains('3'),
        "{e}"
    );
    let mut cfg = model_cfg(Conditioning::Concat);
    cfg.image_height = 20;
    cfg.image_width = 20;
    let e = err_text(Trainer::new(&cfg, train_cfg(1), data.clone(), &cpu()));
    assert!(
        e.contains("image size") && e.contains("20x20") && e.contains("16x16"),
        "{e}"
    );
    let mut cfg = model_cfg(Conditioning::Concat);
    cfg.embed_dim = 384;
    let e = err_text(Trainer::new(&cfg, train_cfg(1), data.clone(), &cpu()));
    assert!(e.contains("embedding size") && e.contains("384"), "{e}");

    // Empty dataset, and an episode too short to predict anything.
    let mut empty = data.clone();
    empty.episodes.clear();
    assert!(
        err_text(Trainer::new(
            &model_cfg(Conditioning::Concat),
            train_cfg(1),
            empty,
            &cpu()
        ))
        .contains("empty dataset")
    );
    let mut short = data.clone();
    let ep = &mut short.episodes[2];
    ep.labels.truncate(1);
    ep.joints.truncate(ep.num_joints);
    ep.images.truncate(16 * 16 * 3);
    let e = err_text(short.validate());
    assert!(
        e.contains("episode 2") && e.contains("fewer than 2 steps"),
        "{e}"
    );

    // NaN in the training data.
    let mut nan = data.clone();
    nan.episodes[1].joints[4] = f32::NAN;
    let e = err_text(nan.validate());
    assert!(e.contains("non-finite") && e.contains("episode 1"), "{e}");

    // A checkpoint used on a robot/dataset that disagrees with it.
    let t = Trainer::new(
        &model_cfg(Conditioning::Concat),
        train_cfg(1),
        data.clone(),
        &cpu(),
    )
    .unwrap();
    let dir = tmpdir("bad");
    t.ckpt.save(&dir).unwrap();
    let mut p = SarnnPolicy::new(
        Checkpoint::load(&dir, &cpu()).unwrap(),
        RuntimeConfig::default(),
    )
    .unwrap();
    let ep = &data.episodes[0];
    let good = Observation {
        stamp: Stamp::ZERO,
        image: ep.image(0),
        joints: ep.joint_row(0),
        instruction: &ep.instruction,
        label: None,
    };
    assert_eq!(p.step(&good).unwrap().chunk.len(), 1);
    let e = err_text(p.step(&Observation {
        joints: &[0.0; 4],
        ..good
    }));
    assert!(e.contains("joint count: expected 3, got 4"), "{e}");
    let big = vec![0u8; 32 * 32 * 3];
    let e = err_text(p.step(&Observation {
        image: &big,
        ..good
    }));
    assert!(e.contains("image bytes") && e.contains("16x16"), "{e}");
    let e = err_text(p.step(&Observation {
        instruction: &[0.0; 384],
        ..good
    }));
    assert!(
        e.contains("instruction embedding size: expected 32, got 384"),
        "{e}"
    );
    let e = err_text(p.step(&Observation {
        joints: &[0.1, f32::NAN, 0.2],
        ..good
    }));
    assert!(e.contains("non-finite") && e.contains("joints"), "{e}");

    // Resuming training on a dataset with another joint count.
    let mut other = common::syn_cfg();
    other.joints = 4;
    let other = kotoba_dpl::synthetic::generate(&other);
    let e = err_text(Trainer::from_checkpoint(
        Checkpoint::load(&dir, &cpu()).unwrap(),
        train_cfg(1),
        other,
    ));
    assert!(
        e.contains("joint count (model vs dataset): expected 3, got 4"),
        "{e}"
    );

    // A config.json that no longer matches the weights.
    let cfg_path = dir.join(kotoba_dpl::CONFIG_FILE);
    let text = std::fs::read_to_string(&cfg_path)
        .unwrap()
        .replace("\"hidden\": 32", "\"hidden\": 40");
    std::fs::write(&cfg_path, text).unwrap();
    let e = err_text(Checkpoint::load(&dir, &cpu()));
    assert!(e.contains("shape") && e.contains("config implies"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Windowed training (truncated BPTT): every span of an epoch is a whole window
/// of real steps (none padded), and together they cover every step of every
/// episode; an epoch of it trains (finite losses, weights change).
#[test]
fn windows_tile_episodes_and_train() {
    use rand::SeedableRng;
    let mut cfg = train_cfg(1);
    cfg.window = 4;
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), cfg, dataset(), &cpu()).unwrap();
    let idx = t.train_idx.clone();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let n = syn_cfg().steps;
    for spans in [t.spans(&idx, Some(&mut rng)), t.spans(&idx, None)] {
        for &i in &idx {
            let mine: Vec<_> = spans.iter().filter(|s| s.episode == i).collect();
            assert!(mine.iter().all(|s| s.len == 4 && s.start + s.len <= n), "{mine:?}");
            let mut covered = vec![false; n];
            for s in &mine {
                covered[s.start..s.start + s.len].iter_mut().for_each(|c| *c = true);
            }
            assert!(covered.iter().all(|&c| c), "{mine:?}");
            // At most one overlapping window at each end beyond the tiling.
            assert!(mine.len() <= n / 4 + 2, "{mine:?}");
        }
    }
    let before = all_params(&t.ckpt.model);
    let l = t.train_epoch(&mut |_, _| {}).unwrap();
    assert!(l.total.is_finite());
    assert_ne!(before, all_params(&t.ckpt.model));
}

/// With `residual_joints` an untrained model predicts "no change": its next
/// joints equal its joint input exactly, whatever the image and instruction.
#[test]
fn residual_model_starts_by_holding_still() {
    let mut cfg = model_cfg(Conditioning::Concat);
    cfg.residual_joints = true;
    let data = dataset();
    let t = Trainer::new(&cfg, train_cfg(1), data, &cpu()).unwrap();
    let b = t.batch(&[0, 1], None).unwrap();
    let out = t.model().forward_seq(&b.images_in, &b.joints_in, &b.instr, &b.label_emb, None).unwrap();
    let diff = (out.joints - &b.joints_in).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert_eq!(diff, 0.0);
}

/// Fine-tuning an absolute-joint model into a residual one: after a trained
/// epoch the absolute head predicts something else, `make_residual` zeroes it so
/// the model holds still, the other weights are kept, and the switch survives
/// a save and load.
#[test]
fn make_residual_swaps_in_a_hold_still_head() {
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), dataset(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let b = t.batch(&[0, 1], None).unwrap();
    let max_diff = |m: &kotoba_dpl::Sarnn| {
        let out = m.forward_seq(&b.images_in, &b.joints_in, &b.instr, &b.label_emb, None).unwrap();
        (out.joints - &b.joints_in).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap()
    };
    assert!(max_diff(t.model()) > 1e-3);
    let lstm_before = t.model().params().get("rec.weight_ih").unwrap().as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    t.ckpt.model.make_residual().unwrap();
    assert!(t.model().config().residual_joints);
    assert_eq!(max_diff(t.model()), 0.0);
    let lstm_after = t.model().params().get("rec.weight_ih").unwrap().as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(lstm_before, lstm_after);
    let dir = std::env::temp_dir().join(format!("kotoba-make-residual-{}", std::process::id()));
    t.ckpt.save(&dir).unwrap();
    let back = Checkpoint::load(&dir, &cpu()).unwrap();
    assert!(back.model.config().residual_joints);
    assert_eq!(max_diff(&back.model), 0.0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Episodes with their own joint targets (e.g. commanded positions): the batch's
/// targets come from them, its inputs from the measured joints; a target array of
/// the wrong length is refused.
#[test]
fn separate_joint_targets_feed_the_loss_not_the_input() {
    let mut data = dataset();
    for ep in &mut data.episodes {
        ep.targets = Some(ep.joints.iter().map(|v| v + 0.05).collect());
    }
    let mut cfg = train_cfg(1);
    cfg.augment.enabled = false;
    let t = Trainer::new(&model_cfg(Conditioning::Concat), cfg.clone(), data.clone(), &cpu()).unwrap();
    let plain = Trainer::new(&model_cfg(Conditioning::Concat), cfg.clone(), dataset(), &cpu()).unwrap();
    let (b, p) = (t.batch(&[0], None).unwrap(), plain.batch(&[0], None).unwrap());
    let flat = |x: &Tensor| x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(flat(&b.joints_in), flat(&p.joints_in));
    let shift: Vec<f32> = flat(&b.joints_target).iter().zip(flat(&p.joints_target)).map(|(a, b)| a - b).collect();
    assert!(shift.iter().all(|d| *d > 0.0), "targets not shifted: {shift:?}");

    data.episodes[1].targets.as_mut().unwrap().pop();
    let e = err_text(Trainer::new(&model_cfg(Conditioning::Concat), cfg, data, &cpu()));
    assert!(e.contains("joint target values"), "{e}");
}

/// The policy step (direct convolutions on the CPU, one frame at a time, state
/// carried) predicts what the training forward pass (candle, whole sequence)
/// predicts for the same sensor inputs and labels.
#[test]
fn policy_steps_match_the_teacher_forced_forward_pass() {
    let data = dataset();
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), data.clone(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let b = t.batch(&[0], None).unwrap();
    let out = t.model().forward_seq(&b.images_in, &b.joints_in, &b.instr, &b.label_emb, None).unwrap();
    let want = out.joints.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let ckpt = frozen_checkpoint(&t);
    let mut p = SarnnPolicy::new(ckpt, RuntimeConfig { input_param: 1.0, joint_margin: None, ..RuntimeConfig::default() }).unwrap();
    let ep = &data.episodes[0];
    let d = ep.num_joints;
    for k in 0..ep.len() {
        let got = p
            .step(&Observation {
                stamp: Stamp::ZERO,
                image: ep.image(k),
                joints: ep.joint_row(k),
                instruction: &ep.instruction,
                label: Some(data.labels.embedding(ep.labels[k])),
            })
            .unwrap()
            .chunk
            .targets;
        let mut norm = vec![0f32; d];
        t.ckpt.norm.normalize(&got, &mut norm);
        for j in 0..d {
            assert!((norm[j] - want[k * d + j]).abs() < 1e-4, "step {k} joint {j}: {} vs {}", norm[j], want[k * d + j]);
        }
    }
}

/// A residual model pushed hard in one direction proposes joints no further than
/// the taught range plus the margin (10 % of the range by default), and the
/// margin can be switched off.
#[test]
fn targets_stay_within_the_taught_range() {
    let data = dataset();
    let mut t = Trainer::new(&model_cfg(Conditioning::Concat), train_cfg(1), data.clone(), &cpu()).unwrap();
    t.ckpt.model.make_residual().unwrap();
    let bias = t.ckpt.model.params().get("decoder_joint.bias").unwrap();
    bias.set(&(bias.as_tensor().ones_like().unwrap() * 5.0).unwrap()).unwrap();
    let ep = &data.episodes[0];
    let obs = Observation { stamp: Stamp::ZERO, image: ep.image(0), joints: ep.joint_row(0), instruction: &ep.instruction, label: None };
    let norm = t.ckpt.norm.clone();
    let ckpt = || frozen_checkpoint(&t);
    let mut p = SarnnPolicy::new(ckpt(), RuntimeConfig::default()).unwrap();
    let got = p.step(&obs).unwrap().chunk.targets;
    for (j, v) in got.iter().enumerate() {
        let want = norm.max[j] + 0.1 * (norm.max[j] - norm.min[j]);
        assert!((v - want).abs() < 1e-4, "joint {j}: {v} vs {want}");
    }
    let mut free = SarnnPolicy::new(ckpt(), RuntimeConfig { joint_margin: None, ..RuntimeConfig::default() }).unwrap();
    let got = free.step(&obs).unwrap().chunk.targets;
    assert!(got.iter().enumerate().all(|(j, v)| *v > norm.max[j] + 0.5 * (norm.max[j] - norm.min[j])), "{got:?}");
    let bad = SarnnPolicy::new(ckpt(), RuntimeConfig { joint_margin: Some(-1.0), ..RuntimeConfig::default() });
    assert!(bad.is_err());
}

/// Joint-input noise (augmentation) reaches a residual model's LSTM but not the
/// base its changes are added to: a fresh residual model (zero changes) has the
/// same joint loss on a noisy batch as on a clean one.
#[test]
fn input_noise_is_not_added_to_a_residual_output() {
    use rand::SeedableRng;
    let mut mcfg = model_cfg(Conditioning::Concat);
    mcfg.residual_joints = true;
    let mut cfg = train_cfg(1);
    cfg.augment.joint_noise = 0.5;
    let t = Trainer::new(&mcfg, cfg, dataset(), &cpu()).unwrap();
    let idx = [0, 1];
    let clean = t.batch(&idx, None).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let noisy = t.batch(&idx, Some(&mut rng)).unwrap();
    let diff = (&noisy.joints_in - &noisy.joints_clean).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff > 0.1, "the input is augmented");
    let (_, a) = t.loss(&clean, 1.0).unwrap();
    let (_, b) = t.loss(&noisy, 1.0).unwrap();
    assert!((a.joint - b.joint).abs() < 1e-9, "{} vs {}", a.joint, b.joint);
}

/// `val_fraction` 0 trains on every episode; any positive fraction holds out at
/// least one and keeps at least one.
#[test]
fn split_honours_a_zero_validation_fraction() {
    let data = dataset();
    let n = data.episodes.len();
    let (train, val) = data.split(0.0, 1);
    assert_eq!((train.len(), val.len()), (n, 0));
    let (train, val) = data.split(0.01, 1);
    assert_eq!((train.len(), val.len()), (n - 1, 1));
    let (train, val) = data.split(0.99, 1);
    assert_eq!((train.len(), val.len()), (1, n - 1));
}

/// A model carried to another image size keeps every weight and runs on
/// frames of the new size; a size too small for its convolutions is refused.
#[test]
fn a_resized_model_keeps_its_weights_and_reads_the_new_size() {
    let cfg = ModelConfig { goal_head: true, goal_points: 2, goal_encoder: kotoba_dpl::GoalEncoder::Pixels, ..model_cfg(Conditioning::Concat) };
    let small = Sarnn::new(&cfg, 3, &cpu()).unwrap();
    let large = small.resized(32, 24).unwrap();
    assert_eq!((large.config().image_height, large.config().image_width), (32, 24));
    assert_eq!(all_params(&small), all_params(&large));
    let img = Tensor::rand(0f32, 1f32, (2, 3, 32, 24), &cpu()).unwrap();
    let (pts, feat) = large.encode(&img).unwrap();
    assert_eq!(pts.dims(), [2, 2 * cfg.keypoints]);
    assert_eq!(feat.dims(), [2, cfg.keypoints, 26, 18]);
    assert!(matches!(small.resized(4, 4), Err(DplError::Config(_))), "too small for three convolutions");
}
