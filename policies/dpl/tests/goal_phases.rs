//! A subgoal head with a map per phase (`ModelConfig::goal_phases`): each step
//! of a task that repeats a label reads the map of that label's occurrence,
//! in training and in the running policy alike, and a fit of those maps
//! tells the repeated targets apart where a map per label averages them.

mod common;

use common::*;
use kotoba_core::Stamp;
use kotoba_dpl::{Checkpoint, Conditioning, Dataset, ModelConfig, Observation, Policy, RuntimeConfig, SarnnPolicy, Trainer};

/// The synthetic task with its labels changed to reach, hold, reach, hold
/// (a quarter of the episode each), so both labels come twice.
fn repeating() -> Dataset {
    repeating_of(dataset())
}

fn repeating_of(mut data: Dataset) -> Dataset {
    for ep in &mut data.episodes {
        let n = ep.len();
        ep.labels = (0..n).map(|t| (4 * t / n) % 2).collect();
    }
    data
}

fn per_phase_cfg(data: &Dataset) -> ModelConfig {
    ModelConfig {
        goal_head: true,
        goal_instructions: data.instruction_count(),
        goal_phases: data.most_phases(),
        ..model_cfg(Conditioning::Concat)
    }
}

fn text<T>(r: kotoba_dpl::Result<T>) -> String {
    r.err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn each_occurrence_of_a_label_has_its_own_map() {
    let data = repeating();
    assert_eq!(data.most_phases(), 4);
    let t = Trainer::new(&per_phase_cfg(&data), train_cfg(1), data.clone(), &cpu()).unwrap();
    for s in &t.ckpt.start_labels {
        assert_eq!(s.phases, [0, 1, 0, 1], "the taught sequence of every instruction");
    }
    for (ep, e) in data.episodes.iter().enumerate().take(2) {
        let keys = t.batch(&[ep], None).unwrap().goal_key.flatten_all().unwrap().to_vec1::<u32>().unwrap();
        let block = 4 * t.ckpt.instruction_index(&e.instruction) as u32;
        let n = e.len();
        let want: Vec<u32> = (0..n).map(|k| block + (4 * k / n) as u32).collect();
        assert_eq!(keys, want, "episode {ep}");
    }
    // The sequence survives a checkpoint.
    let dir = tmpdir("goal-phases");
    t.ckpt.save(&dir).unwrap();
    assert_eq!(Checkpoint::load(&dir, &cpu()).unwrap().start_labels, t.ckpt.start_labels);
}

#[test]
fn too_few_phase_maps_or_no_block_per_instruction_are_refused() {
    let data = repeating();
    let three = ModelConfig { goal_phases: 3, ..per_phase_cfg(&data) };
    let e = text(Trainer::new(&three, train_cfg(1), data.clone(), &cpu()));
    assert!(e.contains("phases of the longest taught task"), "{e}");
    let shared = ModelConfig { goal_instructions: 0, ..per_phase_cfg(&data) };
    let e = text(Trainer::new(&shared, train_cfg(1), data.clone(), &cpu()));
    assert!(e.contains("needs a block of maps per instruction"), "{e}");
    let no_head = ModelConfig { goal_head: false, ..per_phase_cfg(&data) };
    assert!(text(kotoba_dpl::Sarnn::new(&no_head, 1, &cpu())).contains("need goal_head"));
}

/// With spoken labels the running policy follows the phases as training
/// keys them: its subgoal is the training pass's at every step, and a new
/// instruction starts its phases again.
#[test]
fn the_policy_follows_the_phases_training_used() {
    let data = repeating();
    let mut t = Trainer::new(&per_phase_cfg(&data), train_cfg(1), data.clone(), &cpu()).unwrap();
    t.train_epoch(&mut |_, _| {}).unwrap();
    let ckpt = Checkpoint { start_labels: t.ckpt.start_labels.clone(), ..frozen_checkpoint(&t) };
    let rt = RuntimeConfig { input_param: 1.0, joint_margin: None, ..RuntimeConfig::default() };
    let mut p = SarnnPolicy::new(ckpt, rt).unwrap();
    assert_ne!(data.episodes[0].instruction, data.episodes[1].instruction);
    for (i, ep) in data.episodes.iter().enumerate().take(2) {
        let b = t.batch(&[i], None).unwrap();
        let out = t.forward(&b).unwrap();
        let want = t.model().predict_goal(&out.enc_pts, &b.goal_key, &b.instr, &b.label_emb).unwrap().unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let d = ep.num_joints;
        // Episode 1 carries the other instruction: with no reset, switching
        // the instruction alone must start its phases again (the subgoal does
        // not read the recurrent state, so it must match all the same).
        if i == 0 {
            p.reset();
        }
        for k in 0..ep.len() {
            let label = Some(data.labels.embedding(ep.labels[k]));
            let obs = Observation { stamp: Stamp::ZERO, image: ep.image(k), joints: ep.joint_row(k), instruction: &ep.instruction, label };
            let mut goal = vec![0f32; d];
            t.ckpt.norm.normalize(&p.step(&obs).unwrap().subgoal.unwrap(), &mut goal);
            for j in 0..d {
                assert!((goal[j] - want[k * d + j]).abs() < 1e-4, "episode {i} step {k} joint {j}: {} vs {}", goal[j], want[k * d + j]);
            }
        }
    }
}

/// The repeated labels end at different joints (the blob has moved on), so
/// the fitted maps per phase come closer to the targets than maps per label.
/// Forty episodes give each phase's map several times more steps than it
/// has weights, so the closer fit is not just more freedom.
#[test]
fn phase_maps_fit_repeated_targets_that_label_maps_average() {
    let data = repeating_of(kotoba_dpl::synthetic::generate(&kotoba_dpl::synthetic::SyntheticConfig { episodes: 40, ..syn_cfg() }));
    let rms = |cfg: ModelConfig| -> f64 {
        let mut tc = train_cfg(1);
        tc.val_fraction = 0.0;
        let t = Trainer::new(&cfg, tc, data.clone(), &cpu()).unwrap();
        t.fit_goal_head(1e-6).unwrap().iter().map(|r| r * r).sum::<f64>()
    };
    let phases = rms(per_phase_cfg(&data));
    let labels = rms(ModelConfig { goal_phases: 0, ..per_phase_cfg(&data) });
    assert!(phases < 0.5 * labels, "sum of squared RMS: per phase {phases}, per label {labels}");
}
