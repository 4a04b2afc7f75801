//! `kotoba demo`: the whole mission on one machine with no robot and no GPU.
//! The scripted demonstrator folds the towel in the MuJoCo sim for each
//! instruction while speaking its labels, and every episode is recorded as a
//! rosbag2 bag. The language-conditioned SARNN is trained on them. Then
//! closed-loop rollouts run on unseen towel seeds, with the policy at 10 Hz and
//! the active-inference controller at 1 kHz. A results table and
//! `results.json` are written, and every rollout is recorded as an episode
//! for `kotoba replay`.
//!
//! Everything runs in lockstep with the physics (deterministic, as fast as
//! the CPU allows); the same recorder, policy and controller code runs live
//! through `kotoba record` / the bus.

use super::demo_recipe::{Demo, Recipe};
use crate::episodes::SampleSpec;
use crate::rollout::{ControllerKind, RolloutConfig, RolloutOutcome, rollout};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kotoba_dpl::{AugmentConfig, FitOptions, ModelConfig, TrainConfig};
use kotoba_recorder::scripted::record_scripted;
use kotoba_recorder::{Dataset, EpisodeMeta, WriterOptions};
use kotoba_sim::expert::ExpertConfig;
use kotoba_sim::{RobotModel, Sim, SimConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The first towel seed of the rollouts: none of the demonstrations' scenes.
const ROLLOUT_SEED: u64 = 1000;

#[derive(Args)]
pub struct DemoArgs {
    /// How the policy is taught; it sets the defaults of the options marked
    /// "default: by recipe".
    #[arg(long, value_enum, default_value = "subgoal")]
    pub recipe: Recipe,
    /// Output folder: demos/ (dataset), policy/ (checkpoints), rollouts/ (dataset), results.json.
    #[arg(long, default_value = "runs/demo")]
    pub out: PathBuf,
    /// The fold(s) to teach and try: each instruction, or one. Default: by
    /// recipe (subgoal: the corner fold; plain: all).
    #[arg(long, value_enum)]
    pub task: Option<crate::cmd::teleop::TaskArg>,
    /// Scripted demonstrations per instruction. Default: by recipe (20; plain 3).
    #[arg(long)]
    pub demos: Option<u64>,
    /// Towel seed of the first demonstration: they use seeds first..first+demos,
    /// the same scenes for every instruction. Another value gives another
    /// instruction's demonstrations their own scenes when recorded apart. The
    /// rollouts use seeds from 1000, so this must end below that.
    #[arg(long, default_value_t = 0)]
    pub first_seed: u64,
    /// Training epochs of the whole model (subgoal: of the vision; about 4 s
    /// each for 20 episodes at 32x32 on a 2-core CPU). Default: by recipe (40; plain 10).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Then this many epochs of the recurrent core alone on whole episodes,
    /// vision frozen (`kotoba train --motor-epochs`; about 0.09 s each for 20
    /// episodes). Default: by recipe (2000; plain 200).
    #[arg(long)]
    pub motor_epochs: Option<usize>,
    /// Cores trained on the one vision from different seeds and run as an
    /// ensemble, their joint targets averaged (subgoal recipe only; each adds
    /// the --motor-epochs time).
    #[arg(long, default_value_t = 1)]
    pub ensemble: usize,
    /// Model image side (EIPL uses 64; 32 keeps a 2-core CPU run near 15 minutes).
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    /// Closed-loop rollouts per instruction, on towel seeds never
    /// demonstrated. Default: by recipe (15; plain 2).
    #[arg(long)]
    pub rollouts: Option<u64>,
    /// Controller that tracks the policy's targets.
    #[arg(long, value_enum, default_value = "aic")]
    pub controller: ControllerKind,
    /// Gradient steps of online error regression per policy tick (0 = off).
    /// Default: by recipe (0, the subgoal core has none yet; plain 5).
    #[arg(long)]
    pub regression_iters: Option<usize>,
    /// EIPL `input_param` for the joints: the weight of the measured joints
    /// against the policy's own previous prediction (1 = measured only; 0 = the
    /// model runs on its own joint predictions, steered by the image). Default:
    /// as for the image, 0.8.
    #[arg(long)]
    pub joint_input_param: Option<f32>,
    /// EIPL `input_param` for the image (and the joints unless
    /// --joint-input-param is given): the weight of the camera frame against the
    /// model's own predicted frame (1 = camera only). Default: by recipe (1;
    /// plain 0.8, as EIPL).
    #[arg(long)]
    pub input_param: Option<f32>,
    /// Give up a rollout after this much sim time (s).
    #[arg(long, default_value_t = 40.0)]
    pub max_seconds: f64,
    /// Reuse demonstrations and a trained policy already in `--out`.
    #[arg(long)]
    pub reuse: bool,
    /// Smallest run that exercises every stage (1 demo per instruction, 2 epochs,
    /// 1 short rollout): for tests, not for a success figure.
    #[arg(long)]
    pub smoke: bool,
    /// Record each demonstration through the controller the policy runs with:
    /// the expert's trajectory is replayed at the policy's 10 Hz through the
    /// active-inference controller, and the policy learns the commands issued
    /// (`--arm-targets command`), so what it sees while running matches what it
    /// was taught on. Always so with the subgoal recipe; otherwise the expert
    /// drives MuJoCo's position servos at 100 Hz.
    #[arg(long)]
    pub through_controller: bool,
    /// With --through-controller: push the arm off the demonstrated path by a
    /// drifting offset of this standard deviation per joint (rad), while the
    /// expert's own commands are recorded as the targets (DART), so the policy
    /// also learns to come back to the path. Demonstrations the noise spoils
    /// (not folded) are not trained on. Default: by recipe (0.01; plain none).
    #[arg(long)]
    pub demo_noise: Option<f64>,
    /// Correlation time of that drift (s).
    #[arg(long, default_value_t = 1.0)]
    pub demo_noise_tau: f64,
    /// Whether that drift goes on while the gripper holds the towel (`false`:
    /// the carried swing follows the demonstrated path, and the drift fades
    /// back in after the release, as around any gripper change).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub demo_noise_holding: bool,
    /// Close the gripper where the predicted verbal label is one the
    /// demonstrations mostly held it closed under ("holding the towel"), instead
    /// of thresholding the predicted gripper value.
    #[arg(long)]
    pub label_gripper: bool,
    /// What the policy's predicted joint change is added to (`kotoba train
    /// --residual-base`). previous-target needs --regression-iters 0.
    /// Default: by recipe (previous-target; plain input).
    #[arg(long, value_enum)]
    pub residual_base: Option<crate::cmd::train::BaseArg>,
    /// Move the gripper only once every arm joint reads within this many
    /// radians of the subgoal (a keypose read early in the phase); the policy
    /// waits meanwhile, at most 10 ticks. 0 = off. Default: by recipe (0.01; plain 0).
    #[arg(long, value_name = "RAD")]
    pub settle: Option<f32>,
}

#[derive(Serialize)]
struct Results {
    recipe: Recipe,
    /// Grasp and release at the subgoal once settled (`--settle`); null = off.
    settle: Option<crate::bundle::Settle>,
    demos: Vec<DemoRow>,
    training: TrainRow,
    rollouts: Vec<RolloutOutcome>,
    success_rate: f64,
    per_instruction: Vec<(String, usize, usize)>,
    seconds: Stages,
}

#[derive(Serialize)]
struct DemoRow {
    episode: String,
    instruction: String,
    seed: u64,
    success: bool,
    labels: usize,
}

#[derive(Serialize)]
struct TrainRow {
    epochs: usize,
    motor_epochs: usize,
    /// Cores run as one ensemble (`--ensemble`).
    cores: usize,
    episodes: usize,
    final_train_loss: Option<f64>,
    final_val_loss: Option<f64>,
}

#[derive(Serialize, Default)]
struct Stages {
    record: f64,
    train: f64,
    rollouts: f64,
}

/// A line above the progress bar, or on its own when output is not a terminal
/// (indicatif hides the bar and its lines there).
fn say(pb: &ProgressBar, line: String) {
    if pb.is_hidden() {
        println!("{line}");
    } else {
        pb.println(line);
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let b = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{spinner} {prefix} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    b.set_style(style);
    b.set_prefix(what.to_string());
    b
}

pub fn run(a: DemoArgs) -> Result<()> {
    let a = a.resolve()?;
    if a.demos == 0 || a.rollouts == 0 || a.epochs == 0 {
        bail!("--demos, --rollouts and --epochs must be at least 1");
    }
    if a.first_seed.saturating_add(a.demos) > ROLLOUT_SEED {
        bail!("--first-seed {} + --demos {} reaches the rollout seeds ({ROLLOUT_SEED} on): a rollout would replay a demonstrated scene", a.first_seed, a.demos);
    }
    // SarnnPolicy::new refuses this too, but only after minutes of recording and training.
    if matches!(a.residual_base, crate::cmd::train::BaseArg::PreviousTarget) && a.regression_iters > 0 {
        bail!("--residual-base previous-target has no online error regression yet: add --regression-iters 0");
    }
    if let Some(n) = a.noise {
        n.validate().map_err(|e| anyhow::anyhow!("--demo-noise/--demo-noise-tau: {e}"))?;
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    let mut secs = Stages::default();
    let demos_dir = a.out.join("demos");
    let policy_dir = a.out.join("policy");
    let t = Instant::now();
    let demos = record_demos(&demos_dir, &a)?;
    secs.record = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let training = train(&demos_dir, &policy_dir, &a)?;
    secs.train = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let rollouts = run_rollouts(&policy_dir, &a.out.join("rollouts"), &a)?;
    secs.rollouts = t.elapsed().as_secs_f64();
    let ok = rollouts.iter().filter(|r| r.score.success).count();
    let per_instruction = a.task.tasks()
        .iter()
        .map(|task| {
            let rs: Vec<_> = rollouts.iter().filter(|r| r.task == *task).collect();
            (task.instruction().to_string(), rs.iter().filter(|r| r.score.success).count(), rs.len())
        })
        .collect();
    let results = Results {
        recipe: a.recipe,
        settle: a.settle,
        demos,
        training,
        success_rate: ok as f64 / rollouts.len().max(1) as f64,
        rollouts,
        per_instruction,
        seconds: secs,
    };
    print_table(&results);
    // One rollout as a rerun recording: robot, camera, predicted vs actual
    // joints, predicted labels, attention points, supervisor events.
    let rrd = a.out.join("rollout.rrd");
    let first = a.out.join("rollouts").join("episode_0000");
    let reports = kotoba_replay::replay(&first, &kotoba_replay::Target::Rrd(rrd.clone()), &kotoba_replay::ReplayOptions::default())
        .with_context(|| format!("exporting {} to rerun", first.display()))?;
    for r in reports.iter().filter(|r| !r.is_complete()) {
        eprint!("{r}");
    }
    println!("rerun recording of the first rollout: {} (open with `rerun {}`)", rrd.display(), rrd.display());
    let path = a.out.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results)?).with_context(|| format!("writing {}", path.display()))?;
    println!("results: {}   rollouts (replay with `kotoba replay`): {}", path.display(), a.out.join("rollouts").display());
    Ok(())
}

fn record_demos(dir: &Path, a: &Demo) -> Result<Vec<DemoRow>> {
    if a.reuse && dir.join(kotoba_recorder::INDEX_FILE).exists() {
        let ds = Dataset::open(dir)?;
        eprintln!("reusing {} demonstrations in {}", ds.episodes().len(), dir.display());
        return Ok(ds.episodes().iter().map(|e| row(e, 0)).collect());
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    let mut ds = Dataset::create(dir, "/labels", "/instruction")?;
    // The expert's own scene, built once; a demonstration through the controller builds its own.
    let mut sim: Option<Sim> = None;
    let tasks = a.task.tasks();
    let total = a.demos * tasks.len() as u64;
    let pb = bar(total, "recording demonstrations");
    let mut rows = Vec::new();
    let cfg = if a.smoke { ExpertConfig { speed: [4.0, 4.0], ..ExpertConfig::default() } } else { ExpertConfig::default() };
    for seed in a.first_seed..a.first_seed + a.demos {
        for &task in &tasks {
            let meta = EpisodeMeta {
                instruction: task.instruction().into(),
                operator: "scripted-expert".into(),
                robot_description_hash: None,
            };
            let (entry, success) = if a.through_controller {
                let mut ep = ds.begin_episode(meta, &WriterOptions::default())?;
                let cfg = RolloutConfig { demo_noise: a.noise, ..RolloutConfig::default() };
                let o = crate::rollout::replay_demo(task, seed, SampleSpec::default().rate_hz, &cfg, Some(&mut ep))?;
                (ds.save_episode(ep, o.score.success)?, o.score.success)
            } else {
                let sim = match &mut sim {
                    Some(sim) => sim,
                    None => sim.insert(Sim::new(SimConfig::default(), RobotModel::default_arm(), 0)?),
                };
                let o = record_scripted(&mut ds, sim, task, seed, (64, 64), meta, &WriterOptions::default(), &cfg)?;
                (o.entry, o.score.success)
            };
            say(&pb, format!(
                "  {} {:<45} seed {seed}: {:>4.1} s, {} labels, folded: {success}",
                entry.name,
                task.instruction(),
                entry.duration_s,
                entry.labels.len(),
            ));
            rows.push(row(&entry, seed));
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(rows)
}

fn row(e: &kotoba_recorder::EpisodeEntry, seed: u64) -> DemoRow {
    DemoRow { episode: e.name.clone(), instruction: e.instruction.clone(), seed, success: e.success, labels: e.labels.len() }
}

fn train(demos: &Path, policy_dir: &Path, a: &Demo) -> Result<TrainRow> {
    if a.reuse && policy_dir.join("best").join(kotoba_dpl::MODEL_FILE).exists() {
        eprintln!("reusing the policy in {}", policy_dir.display());
        return Ok(TrainRow { epochs: 0, motor_epochs: 0, cores: 0, episodes: 0, final_train_loss: None, final_val_loss: None });
    }
    let arm_targets = if a.through_controller { crate::episodes::ArmTargets::Command } else { Default::default() };
    let spec = SampleSpec { include_failed: a.smoke, image_size: a.image_size, arm_targets, ..SampleSpec::default() };
    let (data, mut manifest, cache) = crate::cmd::train::load_dataset(demos, spec)?;
    manifest.save(&cache, policy_dir)?;
    let shape = data.validate()?;
    let episodes = data.episodes.len();
    let model = ModelConfig {
        image_height: a.image_size,
        image_width: a.image_size,
        joints: shape.joints,
        embed_dim: shape.embed_dim,
        labels: shape.labels,
        // A few CPU epochs cannot teach absolute joint positions well enough for
        // the controller's 0.3 rad jump check; predicting changes can.
        residual_joints: true,
        residual_base: a.residual_base.into(),
        ..ModelConfig::default()
    };
    let last = match a.recipe {
        Recipe::Subgoal => {
            let (last, members) = super::demo_recipe::train_subgoal(data, model, policy_dir, a, &manifest, &cache)?;
            // Listed only once they exist: loading the policy runs them all.
            manifest.members = members;
            manifest.save(&cache, policy_dir)?;
            last
        }
        Recipe::Plain => train_plain(data, &shape, &model, policy_dir, a)?,
    };
    Ok(TrainRow {
        epochs: a.epochs,
        motor_epochs: a.motor_epochs,
        cores: a.ensemble,
        episodes,
        final_train_loss: last.as_ref().map(|l| l.train.total),
        final_val_loss: last.as_ref().and_then(|l| l.val.map(|v| v.total)),
    })
}

/// The plain recipe: the whole model, then its core alone on whole episodes;
/// returns the last epoch's log line.
fn train_plain(data: kotoba_dpl::Dataset, shape: &kotoba_dpl::DatasetShape, model: &ModelConfig, policy_dir: &Path, a: &Demo) -> Result<Option<kotoba_dpl::EpochLog>> {
    let episodes = data.episodes.len();
    let cfg = TrainConfig {
        epochs: a.epochs,
        // Few episodes: hold none out when there are fewer than five.
        val_fraction: if episodes >= 5 { 0.2 } else { 0.0 },
        point_ramp_batches: 200,
        augment: AugmentConfig::default(),
        // 3 s windows keep memory near 3 GB (whole 20 s episodes need > 20 GB in candle).
        window: 30,
        ..TrainConfig::default()
    };
    let device = kotoba_dpl::device(true)?;
    let mut trainer = kotoba_dpl::build_trainer(model, cfg, data, policy_dir, false, &device)?;
    eprintln!(
        "training SARNN ({} params) on {} episodes ({} steps max at 10 Hz), {} labels, device {device:?}",
        trainer.model().params().count(),
        episodes,
        shape.max_len,
        shape.labels
    );
    let opts = FitOptions { out_dir: policy_dir.to_path_buf(), progress: true, console: false };
    let mut log = kotoba_dpl::fit(&mut trainer, &opts)?;
    if a.motor_epochs > 0 {
        eprintln!("training the recurrent core on whole episodes ({} epochs, vision frozen)", a.motor_epochs);
        // Without input noise: it hides the step-to-step motion the core must continue.
        log = kotoba_dpl::fit_motor(trainer, a.motor_epochs, Some(0.0), &opts)?;
    }
    Ok(log.last().cloned())
}

fn run_rollouts(policy_dir: &Path, out: &Path, a: &Demo) -> Result<Vec<RolloutOutcome>> {
    let (mut policy, manifest, cache) = crate::bundle::load_policy(policy_dir, a.regression_iters, crate::bundle::InputParams { image: a.input_param, joints: a.joint_input_param })?;
    if let Some(st) = a.settle {
        policy = crate::bundle::settled(policy, policy_dir, &manifest, st)?;
    }
    let mut ds = crate::rollout::rollout_dataset(out)?;
    let cfg = RolloutConfig { controller: a.controller, max_seconds: a.max_seconds, label_gripper: a.label_gripper, ..RolloutConfig::default() };
    let tasks = a.task.tasks();
    let pb = bar(a.rollouts * tasks.len() as u64, "closed-loop rollouts");
    let mut outcomes = Vec::new();
    for i in 0..a.rollouts {
        // Seeds far from the demonstrations' 0..demos: unseen towels and start poses.
        let seed = ROLLOUT_SEED + i;
        for &task in &tasks {
            let meta = EpisodeMeta { instruction: task.instruction().into(), operator: "kotoba-policy".into(), robot_description_hash: None };
            let mut ep = ds.begin_episode(meta, &WriterOptions::default())?;
            let o = rollout(policy.as_mut(), &manifest, &cache, task, seed, &cfg, Some(&mut ep))?;
            ds.save_episode(ep, o.score.success)?;
            say(&pb, format!(
                "  {:<45} seed {seed}: folded {:<5} (progress {:>4.0}%, max pair {:.3} m) in {:>4.1} s, tracking {:.0}% of ticks, labels: {}",
                task.instruction(),
                o.score.success,
                100.0 * o.progress,
                o.score.max_pair,
                o.sim_seconds,
                100.0 * o.tracking,
                o.labels.join(" → ")
            ));
            outcomes.push(o);
            pb.inc(1);
        }
    }
    pb.finish_and_clear();
    Ok(outcomes)
}

fn print_table(r: &Results) {
    let demos_ok = r.demos.iter().filter(|d| d.success).count();
    println!();
    println!("kotoba demo: results ({} recipe)", r.recipe.to_possible_value().map(|v| v.get_name().to_string()).unwrap_or_default());
    println!("  demonstrations recorded: {} ({} folded by the scripted expert)", r.demos.len(), demos_ok);
    if let Some(l) = r.training.final_train_loss {
        let val = r.training.final_val_loss.map(|v| format!("{v:.4}")).unwrap_or_else(|| "-".into());
        println!(
            "  training: {} + {} motor epochs{} on {} episodes, final loss train {l:.4} val {val}",
            r.training.epochs,
            r.training.motor_epochs,
            if r.training.cores > 1 { format!(" x {} cores (an ensemble)", r.training.cores) } else { String::new() },
            r.training.episodes
        );
    }
    if let Some(st) = &r.settle {
        println!("  gripper: moves once the arm is within {} rad of the subgoal (at most {} ticks of waiting)", st.tolerance, st.max_ticks);
    }
    println!("  {:<45} {:>8} {:>9} {:>9}", "instruction", "folded", "progress", "tracking");
    for (instr, ok, n) in &r.per_instruction {
        let rs: Vec<&RolloutOutcome> = r.rollouts.iter().filter(|o| o.task.instruction() == instr).collect();
        let mean = |f: fn(&RolloutOutcome) -> f64| rs.iter().map(|o| f(o)).sum::<f64>() / rs.len().max(1) as f64;
        println!("  {instr:<45} {ok:>4}/{n:<3} {:>8.0}% {:>8.0}%", 100.0 * mean(|o| o.progress), 100.0 * mean(|o| o.tracking));
    }
    println!("  {:<45} {:>7.0}%", "all", 100.0 * r.success_rate);
    println!(
        "  time: record {:.0} s, train {:.0} s, rollouts {:.0} s",
        r.seconds.record, r.seconds.train, r.seconds.rollouts
    );
}
