//! The subgoal head (`ModelConfig::goal_head`): what its loss trains, that it
//! learns, and that it survives a checkpoint.

mod common;

use common::*;
use kotoba_dpl::{Checkpoint, Conditioning, ModelConfig, Sarnn, Trainer};

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
