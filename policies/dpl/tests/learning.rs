//! Training really learns, and the learned model uses language.

mod common;

use common::*;
use kotoba_core::Stamp;
use kotoba_dpl::synthetic::instruction_embeddings;
use kotoba_dpl::{
    Checkpoint, Conditioning, Observation, Policy, RegressConfig, RuntimeConfig, SarnnPolicy,
    Trainer,
};

const EPOCHS: usize = 100;

fn trained(cond: Conditioning) -> Trainer {
    let mut t = Trainer::new(&model_cfg(cond), train_cfg(EPOCHS), dataset(), &cpu()).unwrap();
    for _ in 0..EPOCHS {
        t.train_epoch(&mut |_, _| {}).unwrap();
    }
    t
}

fn policy(t: &Trainer, input_param: f32, er: Option<RegressConfig>) -> SarnnPolicy {
    let c = &t.ckpt;
    let ckpt = Checkpoint {
        model: c.model.frozen(),
        norm: c.norm.clone(),
        labels: c.labels.clone(),
        start_label: c.start_label,
        start_labels: c.start_labels.clone(),
    };
    SarnnPolicy::new(
        ckpt,
        RuntimeConfig {
            input_param,
            joint_input_param: None,
            horizon: 1,
            regression: er,
            joint_margin: None,
            max_lead: None,
        },
    )
    .unwrap()
}

/// Closed-loop rollout (input_param 0: after the first frame the model feeds on its
/// own predictions) from episode 0's first frame, under instruction `instr`.
fn rollout(t: &Trainer, instr: &[f32], steps: usize) -> Vec<Vec<f32>> {
    let data = dataset();
    let ep = &data.episodes[0];
    let mut p = policy(t, 0.0, None);
    (0..steps)
        .map(|k| {
            let obs = Observation {
                stamp: Stamp::from_nanos(k as i64 * 100_000_000),
                image: ep.image(0),
                joints: ep.joint_row(0),
                instruction: instr,
                label: None,
            };
            p.step(&obs).unwrap().chunk.targets
        })
        .collect()
}

#[test]
fn training_beats_hold_still_baseline_and_uses_language() {
    let t0 = Trainer::new(
        &model_cfg(Conditioning::Concat),
        train_cfg(EPOCHS),
        dataset(),
        &cpu(),
    )
    .unwrap();
    let before = t0.evaluate().unwrap().unwrap();
    let t = trained(Conditioning::Concat);
    let after = t.evaluate().unwrap().unwrap();
    let baseline = t.hold_still_joint_mse();
    eprintln!("val before {before:?}\nval after {after:?}\nhold-still joint mse {baseline}");
    // Stated threshold: validation joint MSE below half of the "no motion" predictor's.
    assert!(
        after.joint < 0.5 * baseline,
        "val joint mse {} vs hold-still {}",
        after.joint,
        baseline
    );
    assert!(
        after.total < 0.5 * before.total,
        "val total {} -> {}",
        before.total,
        after.total
    );

    // Same start frame and joints, two instructions: the trajectories must differ,
    // and each must head the way its instruction says (x joint: right for 0, left for 1).
    let instr = instruction_embeddings(&common::syn_cfg());
    let a = rollout(&t, &instr[0], 6);
    let b = rollout(&t, &instr[1], 6);
    // Displacement from the start state over the six predicted steps (the
    // first prediction is already a step of motion).
    let x0 = dataset().episodes[0].joint_row(0)[0];
    let dx_a = a[5][0] - x0;
    let dx_b = b[5][0] - x0;
    let gap: f32 = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x[0] - y[0]).abs())
        .sum::<f32>()
        / a.len() as f32;
    eprintln!(
        "start x {x0:.3}; instruction 0: x {:.3} -> {:.3}; instruction 1: x {:.3} -> {:.3}; mean |dx| {gap:.3}",
        a[0][0], a[5][0], b[0][0], b[5][0]
    );
    assert!(dx_a > 0.05 && dx_b < -0.05, "directions: {dx_a} {dx_b}");
    assert!(gap > 0.05, "trajectories barely differ: {gap}");

    // Online error regression lowers the window's prediction error on average.
    let data = dataset();
    let ep = &data.episodes[1];
    let mut p = policy(
        &t,
        1.0,
        Some(RegressConfig {
            window: 5,
            iterations: 10,
            ..RegressConfig::default()
        }),
    );
    let (mut sum_before, mut sum_after) = (0.0, 0.0);
    for k in 0..ep.len() {
        let obs = Observation {
            stamp: Stamp::from_nanos(k as i64 * 100_000_000),
            image: ep.image(k),
            joints: ep.joint_row(k),
            instruction: &instr[0],
            label: None,
        };
        if let Some((b, a)) = p.step(&obs).unwrap().window_error {
            sum_before += b;
            sum_after += a;
        }
    }
    eprintln!("ER window error: before {sum_before:.5}, after {sum_after:.5}");
    assert!(
        sum_after < sum_before,
        "regression did not reduce error: {sum_before} -> {sum_after}"
    );
}
