//! Tests of `rollout`: demonstrations recorded through the controller,
//! injected noise, the blind replay.

use super::*;
use crate::episodes::{ArmTargets, SampleSpec};
use kotoba_recorder::{EpisodeMeta, WriterOptions};

/// Records `task` on `seed` replayed with `cfg` and loads it with command targets.
fn record_replay(name: &str, task: Task, seed: u64, cfg: &RolloutConfig) -> (RolloutOutcome, crate::episodes::Loaded) {
    let dir = std::env::temp_dir().join(format!("kotoba-{name}-{}", std::process::id()));
    let mut ds = rollout_dataset(&dir).unwrap();
    let meta = EpisodeMeta { instruction: task.instruction().into(), ..Default::default() };
    let mut ep = ds.begin_episode(meta, &WriterOptions::default()).unwrap();
    let o = replay_demo(task, seed, SampleSpec::default().rate_hz, cfg, Some(&mut ep)).unwrap();
    ds.save_episode(ep, true).unwrap();
    let encoder = kotoba_text::EncoderConfig::default().load().expect("text model installed by scripts/setup.sh");
    let spec = SampleSpec { image_size: 16, arm_targets: ArmTargets::Command, ..SampleSpec::default() };
    let loaded = crate::episodes::load(&dir, &spec, encoder.as_ref(), &mut EmbeddingCache::new()).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    (o, loaded)
}

/// A demonstration recorded through the controller trains on the commands
/// as the running policy issues them: at the policy's rate, the target of
/// row r is the command issued at that row's step.
#[test]
fn demonstration_through_the_controller_aligns_commands_with_steps() {
    let (task, seed, rate) = (Task::CornerToCorner, 0, SampleSpec::default().rate_hz);
    let (o, loaded) = record_replay("through-controller", task, seed, &RolloutConfig::default());
    assert!(o.score.success, "the replayed demonstration folds: {o:?}");
    assert_eq!(loaded.source_image, Some([64, 64]));
    let e = &loaded.data.episodes[0];
    let targets = e.targets.as_ref().expect("command targets");
    let mut demo = DemoProposer::new(task, seed, rate, SimConfig::default(), None).unwrap();
    let d = e.num_joints;
    // Row r is the grid step r + 1 (the first step has no command yet).
    for r in [0, 5, 12, 20, e.len() - 1] {
        let issued = demo.propose(r as f64 / rate, &[], &e.joints[r * d..(r + 1) * d]).unwrap();
        for j in 0..ARM_JOINTS.len() {
            assert!((targets[r * d + j] - issued.target[j]).abs() < 1e-5, "row {r} joint {j}");
        }
    }
    assert!(e.labels.iter().any(|&l| l != e.labels[0]), "the spoken labels change");
}

/// The blind replay of a scene's own demonstration is that scene's replay;
/// another scene's demonstration moves the towel otherwise.
#[test]
fn blind_replay_is_the_demonstration_of_the_named_scene() {
    let cfg = RolloutConfig { max_seconds: 4.0, ..RolloutConfig::default() };
    let (task, rate) = (Task::CornerToCorner, SampleSpec::default().rate_hz);
    let own = replay_demo(task, 3, rate, &cfg, None).unwrap();
    let same = replay_blind(task, 3, 3, rate, &cfg, None).unwrap();
    let other = replay_blind(task, 0, 3, rate, &cfg, None).unwrap();
    assert_eq!(own.score, same.score);
    assert_eq!(own.labels, same.labels);
    assert_ne!(own.score, other.score);
}

/// Injected noise moves the arm off the demonstrated path, and the recorded
/// targets are still the expert's clean commands.
#[test]
fn demonstration_noise_moves_the_arm_not_the_taught_targets() {
    let task = Task::LeftToRight;
    let clean_cfg = RolloutConfig { max_seconds: 3.0, ..RolloutConfig::default() };
    let noisy_cfg = RolloutConfig { demo_noise: Some(DemoNoise { sigma: 0.05, tau: 0.5, holding: true }), ..clean_cfg.clone() };
    let (_, clean) = record_replay("clean", task, 1, &clean_cfg);
    let (_, noisy) = record_replay("noisy", task, 1, &noisy_cfg);
    let (c, n) = (&clean.data.episodes[0], &noisy.data.episodes[0]);
    assert_eq!(c.len(), n.len());
    assert_eq!(c.targets, n.targets, "the taught targets are the clean commands");
    let d = c.num_joints;
    let moved = (0..c.len() * d).filter(|i| i % d < ARM_JOINTS.len()).map(|i| (c.joints[i] - n.joints[i]).abs()).fold(0.0f32, f32::max);
    assert!(moved > 0.02, "the noise moved the measured joints by at most {moved} rad");
}

/// With `holding` off the drift is zero wherever the demonstration holds the
/// towel (the carried swing stays on the path) and still moves the arm
/// elsewhere; with it on, the carry drifts too.
#[test]
fn drift_can_leave_the_carry_alone() {
    let (task, seed, rate) = (Task::CornerToCorner, 1, SampleSpec::default().rate_hz);
    let open = kotoba_sim::RobotModel::default_arm().gripper.upper as f32;
    let carry_offsets = |holding: bool| {
        let noise = DemoNoise { sigma: 0.05, tau: 0.5, holding };
        let mut p = DemoProposer::new(task, seed, rate, RolloutConfig::default().perturbation.sim_config(), Some(noise)).unwrap();
        let end = p.commands.last().unwrap().0;
        let (mut carried, mut free) = (0.0f32, 0.0f32);
        for k in 0..(end * rate) as usize {
            let t = k as f64 / rate;
            let held = DemoProposer::at(&p.commands, t).is_some_and(|c| c[6] < open - 1e-4);
            let o = p.propose(t, &[], &[0.0; 7]).unwrap().offset.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            if held { carried = carried.max(o) } else { free = free.max(o) }
        }
        (carried, free)
    };
    let (carried, free) = carry_offsets(false);
    assert_eq!(carried, 0.0, "no drift while the towel is held");
    assert!(free > 0.02, "the drift still moves the free arm: at most {free} rad");
    let (carried, _) = carry_offsets(true);
    assert!(carried > 0.02, "with holding on the carry drifts: at most {carried} rad");
}
