//! `kotoba eval`: closed-loop rollouts of a trained policy in the simulator
//! from a TOML/JSON spec (instructions, seeds, variants), reporting per
//! instruction the fold success, the fold progress and instruction following
//! (did the towel end closest to the fold that was asked for), for the full
//! system and with active inference switched off at each level: error
//! regression off, and PD instead of the active-inference controller; and
//! the demonstration itself replayed through the controller, as a ceiling.

use crate::rollout::{ControllerKind, Perturbation, RolloutConfig, RolloutOutcome, ShadowStats, replay_blind, replay_demo, rollout, shadow_demo};
use kotoba_recorder::{EpisodeMeta, WriterOptions};
use anyhow::{Context, Result, bail};
use clap::Args;
use kotoba_sim::task::Task;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

#[derive(Args)]
pub struct EvalArgs {
    /// Policy folder from `kotoba train --dataset` or `kotoba demo` (holds best/, kotoba.json).
    pub policy: PathBuf,
    /// Spec file (TOML or JSON, `EvalSpec`); defaults to every instruction,
    /// seeds 1000..1003 and the three variants.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Write the results here as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Record every rollout as an episode in this dataset folder (created;
    /// replace it if it exists), for `kotoba replay` or training.
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Another policy folder trained on the same data (repeat for more): the
    /// rollouts run the ensemble, every member on the same observations and
    /// their joint targets averaged.
    #[arg(long = "with", value_name = "POLICY")]
    pub with: Vec<PathBuf>,
}

/// One way of running the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// Error regression on, active-inference controller.
    Full,
    /// Active-inference controller, no online error regression.
    NoRegression,
    /// PD + gravity controller, error regression on.
    Pd,
    /// No policy: the scripted demonstration of the same scene replayed open
    /// loop through the active-inference controller at the policy's rate, the
    /// targets one period ahead as the policy was trained to predict. The
    /// ceiling imitation can reach with this controller and rate.
    Demo,
    /// The demonstration replayed through the PD baseline.
    DemoPd,
    /// The demonstration replayed as `demo`, with the policy run alongside on
    /// the same observations and only its proposals compared: per-joint RMS of
    /// the policy, of holding still and of constant-velocity extrapolation
    /// against the demonstration's targets.
    Shadow,
    /// No policy: the demonstration of the taught scene `blind_seed` replayed
    /// as `demo` on each rollout's scene, whatever the camera shows. The
    /// floor a policy that looks must beat.
    Blind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalSpec {
    /// Instructions to evaluate (must be ones the policy was taught); empty = all.
    pub instructions: Vec<String>,
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    /// Conditions to run each variant under (none, untaught_position, payload, push).
    pub perturbations: Vec<Perturbation>,
    pub regression_iters: usize,
    pub max_seconds: f64,
    /// The policy's `input_param` for the joints (None: as for the image).
    pub joint_input_param: Option<f32>,
    /// The policy's `input_param` for the image, and the joints unless
    /// `joint_input_param` is set (None: 0.8, as EIPL).
    pub input_param: Option<f32>,
    /// Gripper from the predicted verbal label (closed where the
    /// demonstrations mostly had it closed), not from the predicted value.
    pub label_gripper: bool,
    /// The taught scene whose demonstration the `blind` variant replays
    /// (0: the first one `kotoba demo` records).
    pub blind_seed: u64,
    /// `demo` and `demo_pd` only: drift added to the replayed arm commands, as
    /// `kotoba demo --demo-noise` records with (e.g. `{ sigma = 0.03, tau = 1.0 }`;
    /// `holding = false` keeps the carried swing on the path).
    pub demo_noise: Option<crate::demo_noise::DemoNoise>,
    /// Move the gripper only once the arm has settled at the subgoal, e.g.
    /// `settle = { tolerance = 0.01 }` (rad; `max_ticks` 10 by default). Off when absent.
    pub settle: Option<crate::bundle::Settle>,
}

impl Default for EvalSpec {
    fn default() -> Self {
        Self {
            instructions: Vec::new(),
            seeds: (1000..1003).collect(),
            variants: vec![Variant::Full, Variant::NoRegression, Variant::Pd],
            perturbations: vec![Perturbation::None],
            regression_iters: 5,
            max_seconds: 40.0,
            joint_input_param: None,
            input_param: None,
            label_gripper: false,
            blind_seed: 0,
            demo_noise: None,
            settle: None,
        }
    }
}

#[derive(Serialize)]
struct Row {
    variant: Variant,
    perturbation: Perturbation,
    instruction: String,
    rollouts: usize,
    success: f64,
    progress: f64,
    followed: f64,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let spec: EvalSpec = match &a.spec {
        None => EvalSpec::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            if p.extension().is_some_and(|e| e == "json") {
                serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            } else {
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?
            }
        }
    };
    let tasks: Vec<Task> = if spec.instructions.is_empty() {
        Task::ALL.to_vec()
    } else {
        spec.instructions
            .iter()
            .map(|s| Task::from_instruction(s).with_context(|| format!("the simulator has no task for {s:?}")))
            .collect::<Result<_>>()?
    };
    if let Some(n) = &spec.demo_noise {
        n.validate().map_err(|e| anyhow::anyhow!("demo_noise in the spec: {e}"))?;
    }
    if spec.seeds.is_empty() || spec.variants.is_empty() || spec.perturbations.is_empty() {
        bail!("the spec needs at least one seed, one variant and one perturbation (\"none\" for none)");
    }
    let mut ds = a.record.as_deref().map(crate::rollout::rollout_dataset).transpose()?;
    // Each rollout with its variant, and its scores for the shadow variant.
    let mut all: Vec<(Variant, RolloutOutcome, Option<ShadowStats>)> = Vec::new();
    let members: Vec<PathBuf> = std::iter::once(a.policy.clone()).chain(a.with.iter().cloned()).collect();
    for &v in &spec.variants {
        let iters = if v == Variant::NoRegression { 0 } else { spec.regression_iters };
        let (mut policy, manifest, cache) = crate::bundle::load_policies(&members, iters, crate::bundle::InputParams { image: spec.input_param, joints: spec.joint_input_param })?;
        if let Some(st) = spec.settle {
            policy = crate::bundle::settled(policy, &a.policy, &manifest, st)?;
        }
        let controller = if matches!(v, Variant::Pd | Variant::DemoPd) { ControllerKind::Pd } else { ControllerKind::Aic };
        for (perturbation, task) in grid(&spec.perturbations, &tasks) {
            let cfg = RolloutConfig { controller, perturbation, max_seconds: spec.max_seconds, label_gripper: spec.label_gripper, demo_noise: spec.demo_noise, ..RolloutConfig::default() };
            for &seed in &spec.seeds {
                let mut ep = match ds.as_mut() {
                    Some(ds) => {
                        let operator = format!("kotoba-eval {v:?} {perturbation:?} seed {seed}");
                        let meta = EpisodeMeta { instruction: task.instruction().into(), operator, robot_description_hash: None };
                        Some(ds.begin_episode(meta, &WriterOptions::default())?)
                    }
                    None => None,
                };
                let mut shadow = None;
                let o = if matches!(v, Variant::Demo | Variant::DemoPd) {
                    replay_demo(task, seed, policy.spec().rate_hz, &cfg, ep.as_mut())?
                } else if v == Variant::Blind {
                    replay_blind(task, spec.blind_seed, seed, policy.spec().rate_hz, &cfg, ep.as_mut())?
                } else if v == Variant::Shadow {
                    let (o, s) = shadow_demo(policy.as_mut(), &manifest, &cache, task, seed, &cfg, ep.as_mut())?;
                    let f = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" ");
                    eprintln!("shadow seed {seed} {:?}: {} steps; policy RMS [{}] rad; holding still [{}]; extrapolating [{}]", task, s.steps, f(&s.policy_rms), f(&s.hold_rms), f(&s.extrapolate_rms));
                    shadow = Some(s);
                    o
                } else {
                    rollout(policy.as_mut(), &manifest, &cache, task, seed, &cfg, ep.as_mut())?
                };
                if let (Some(ds), Some(ep)) = (ds.as_mut(), ep) {
                    ds.save_episode(ep, o.score.success)?;
                }
                eprintln!(
                    "{v:?} {perturbation:?} {:<45} seed {seed}: folded {} progress {:.0}% closest {:?}",
                    task.instruction(),
                    o.score.success,
                    100.0 * o.progress,
                    o.closest_fold
                );
                all.push((v, o, shadow));
            }
        }
    }
    let mut rows = Vec::new();
    for v in spec.variants.iter().copied() {
        for (p, task) in grid(&spec.perturbations, &tasks) {
            let rs: Vec<&RolloutOutcome> =
                all.iter().filter(|(vv, o, _)| *vv == v && o.perturbation == p && o.task == task).map(|(_, o, _)| o).collect();
            let n = rs.len().max(1) as f64;
            rows.push(Row {
                variant: v,
                perturbation: p,
                instruction: task.instruction().into(),
                rollouts: rs.len(),
                success: rs.iter().filter(|o| o.score.success).count() as f64 / n,
                progress: rs.iter().map(|o| o.progress).sum::<f64>() / n,
                // An untouched towel is "closest" to some fold too: count only towels
                // that moved at least halfway towards the asked fold.
                followed: rs.iter().filter(|o| o.closest_fold == o.task && o.progress >= 0.5).count() as f64 / n,
            });
        }
    }
    println!("{:<14} {:<18} {:<45} {:>4} {:>8} {:>9} {:>9}", "variant", "perturbation", "instruction", "n", "success", "progress", "followed");
    for r in &rows {
        println!(
            "{:<14} {:<18} {:<45} {:>4} {:>7.0}% {:>8.0}% {:>8.0}%",
            format!("{:?}", r.variant),
            format!("{:?}", r.perturbation),
            r.instruction,
            r.rollouts,
            100.0 * r.success,
            100.0 * r.progress,
            100.0 * r.followed
        );
    }
    if let Some(p) = &a.json {
        let outcomes: Vec<_> =
            all.iter().map(|(v, o, s)| serde_json::json!({"variant": v, "outcome": o, "shadow": s})).collect();
        let doc = serde_json::json!({"spec": spec, "policies": members, "summary": rows, "rollouts": outcomes});
        std::fs::write(p, serde_json::to_vec_pretty(&doc)?).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// Every (perturbation, task) pair, perturbation-major.
fn grid(ps: &[Perturbation], tasks: &[Task]) -> Vec<(Perturbation, Task)> {
    ps.iter().flat_map(|&p| tasks.iter().map(move |&t| (p, t))).collect()
}
