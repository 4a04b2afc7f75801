//! Closed-loop rollouts in the simulator (feature `sim`): the trained policy
//! sees the camera and the joints at its training rate and proposes the next
//! joint targets; the supervised active-inference controller (or the PD
//! baseline) tracks them at 1 kHz against the simulated encoders, in lockstep
//! with the physics and a manual clock, so a rollout is deterministic. The
//! towel is scored with the fold metric at the end. A rollout can be written
//! as an episode (what the robot saw, did and predicted) for `kotoba replay`.

use crate::bundle::Manifest;
pub use crate::controllers::ControllerKind;
use crate::controllers;
use anyhow::{Result, bail};
use kotoba_controller::lockstep::{Lockstep, Plant};
use kotoba_controller::mujoco::{SimArm, URDF};
use kotoba_controller::{ARM_JOINTS, JVec, JointController, JointLimits, Level, Mode, Supervisor, SupervisorConfig, TargetChunk};
use kotoba_core::{Clock, ManualClock, Stamp};
use kotoba_dpl::{Observation, Policy, SarnnPolicy};
use kotoba_msgs::{Qos, std_msgs};
use kotoba_recorder::Episode;
use kotoba_recorder::scripted::{sim_ns, topics, write_image, write_joint_state};
use kotoba_sim::task::{FoldScore, Task, score};
use kotoba_sim::{Camera, JointReading, SimConfig};
use kotoba_text::EmbeddingCache;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const DT: f64 = 0.001;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutConfig {
    pub controller: ControllerKind,
    /// Give up after this much sim time (s).
    pub max_seconds: f64,
    /// Stop once the policy has predicted the label `done` for this long (s).
    pub done_hold_s: f64,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self { controller: ControllerKind::Aic, max_seconds: 40.0, done_hold_s: 1.0 }
    }
}

/// What one rollout did.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutOutcome {
    pub task: Task,
    pub seed: u64,
    pub controller: ControllerKind,
    pub score: FoldScore,
    /// The fold the towel ends up closest to (lowest mean pair distance) among
    /// all instructions: instruction following means this equals `task`.
    pub closest_fold: Task,
    /// How far the asked fold got: 1 − mean pair distance now / at the start
    /// (0 = untouched, 1 = every vertex on its mate).
    pub progress: f64,
    pub sim_seconds: f64,
    /// Predicted labels in order, consecutive repeats collapsed.
    pub labels: Vec<String>,
    /// Supervisor warnings and errors by kind (rejected targets, limits, stale input).
    pub supervisor_events: std::collections::BTreeMap<String, usize>,
    /// Control ticks spent holding or braking instead of tracking.
    pub ticks_not_tracking: u64,
    /// Fraction of control ticks spent tracking the policy's targets.
    pub tracking: f64,
    pub unstable_steps: usize,
}

/// Runs one rollout of `policy` on `task` with towel seed `seed`.
pub fn rollout(
    policy: &mut SarnnPolicy,
    manifest: &Manifest,
    cache: &EmbeddingCache,
    task: Task,
    seed: u64,
    cfg: &RolloutConfig,
    record: Option<&mut Episode>,
) -> Result<RolloutOutcome> {
    match cfg.controller {
        ControllerKind::Aic => run(policy, manifest, cache, task, seed, cfg, controllers::aic(URDF)?, record),
        ControllerKind::Pd => run(policy, manifest, cache, task, seed, cfg, controllers::pd(URDF)?, record),
    }
}

#[allow(clippy::too_many_arguments)]
fn run<C: JointController<6>>(
    policy: &mut SarnnPolicy,
    manifest: &Manifest,
    cache: &EmbeddingCache,
    task: Task,
    seed: u64,
    cfg: &RolloutConfig,
    controller: C,
    mut record: Option<&mut Episode>,
) -> Result<RolloutOutcome> {
    let spec = policy.spec().clone();
    if spec.joints != ARM_JOINTS.len() + 1 {
        bail!("the policy drives {} joints; the simulated arm has 6 + a gripper", spec.joints);
    }
    let instruction = manifest.instruction(cache, task.instruction())?;
    let period = 1.0 / spec.rate_hz;
    let ticks_per_step = (period / DT).round() as u64;
    let limits = JointLimits::<6>::from_urdf_str(URDF, Some(&ARM_JOINTS))?;
    let sup_cfg = SupervisorConfig { dt: DT, policy_period: period, ..Default::default() };
    let arm = SimArm::new(SimConfig::default(), seed, DT)?;
    let mut ls = Lockstep::new(Supervisor::new(sup_cfg, limits, controller), arm, ManualClock::new(Stamp { sec: 1, nanosec: 0 }));
    let (n_towel, t0) = (ls.plant.sim.config().towel.count, ls.plant.sim.time());
    let start = ls.plant.sim.towel_vertices().to_vec();
    // Frames are rendered at the model's size, as the training images were resized to it.
    let mut cam = Camera::new(&ls.plant.sim, spec.image_width as u32, spec.image_height as u32)?;
    let names = ls.plant.sim.robot().joint_names();
    let g = manifest.gripper;
    let mut gripper_cmd = g.open;
    policy.reset();
    if let Some(ep) = record.as_deref_mut() {
        let s = std_msgs::String { data: task.instruction().into() };
        ep.write_msg(topics::INSTRUCTION, &Qos::latched(), &s, sim_ns(t0), sim_ns(t0))?;
    }
    let mut labels: Vec<String> = Vec::new();
    let mut events = std::collections::BTreeMap::new();
    let (mut not_tracking, mut done_ticks) = (0u64, 0u64);
    let mut chunk: Option<TargetChunk<6>> = None;
    let mut reading = JointReading::with_joints(names.len());
    let max_ticks = (cfg.max_seconds / DT) as u64;
    for k in 0..max_ticks {
        if k % ticks_per_step == 0 {
            let now = ls.clock.now();
            let frame = cam.capture(&ls.plant.sim)?;
            let q = ls.plant.state().q;
            let mut joints: Vec<f32> = q.iter().map(|&v| v as f32).collect();
            joints.push(gripper_cmd);
            let obs = Observation { stamp: now, image: &frame.rgb, joints: &joints, instruction: &instruction, label: None };
            let out = policy.step(&obs)?;
            let target = out.chunk.target(0);
            let q_next = JVec::<6>::from_fn(|i, _| f64::from(target[i]));
            chunk = Some(TargetChunk::single(now.add(Duration::from_secs_f64(period)), q_next));
            gripper_cmd = g.command(target[6]);
            ls.plant.sim.command_gripper(f64::from(gripper_cmd))?;
            let label = spec.label_names.get(out.label).cloned().unwrap_or_default();
            done_ticks = if label == kotoba_sim::expert::DONE { done_ticks + ticks_per_step } else { 0 };
            if labels.last() != Some(&label) {
                labels.push(label.clone());
            }
            if let Some(ep) = record.as_deref_mut() {
                let t = sim_ns(ls.plant.sim.time());
                write_image(ep, &frame, t)?;
                write_prediction(ep, &names, target, &label, &out.attention, t, period)?;
            }
            if done_ticks as f64 * DT >= cfg.done_hold_s {
                break;
            }
        }
        let cmd = ls.tick(if k % ticks_per_step == 0 { chunk.as_ref() } else { None });
        if cmd.mode != Mode::Tracking {
            not_tracking += 1;
        }
        while let Some(e) = ls.supervisor.pop_event() {
            if e.kind.level() != Level::Ok {
                *events.entry(format!("{:?}", e.kind)).or_insert(0) += 1;
            }
            if let Some(ep) = record.as_deref_mut() {
                write_event(ep, &e, sim_ns(ls.plant.sim.time()))?;
            }
        }
        if let Some(ep) = record.as_deref_mut() {
            if k % 10 == 0 {
                ls.plant.sim.read_joints(&mut reading);
                write_joint_state(ep, &names, &reading, sim_ns(ls.plant.sim.time()))?;
            }
        }
    }
    let sim_seconds = ls.plant.sim.time() - t0;
    // Let go and let the cloth settle before scoring, as for the demonstrations.
    ls.plant.sim.command_gripper(f64::from(g.open))?;
    for _ in 0..500 {
        ls.tick(None);
    }
    let end = ls.plant.sim.towel_vertices();
    // Every fold scored once: the asked one, and the one the towel ended closest to.
    let scores = Task::ALL.map(|t| (t, score(t, n_towel, &start, end)));
    let closest_fold = scores.iter().min_by(|a, b| a.1.mean_pair.total_cmp(&b.1.mean_pair)).map_or(task, |(t, _)| *t);
    let asked = scores.iter().find(|(t, _)| *t == task).map(|(_, s)| s.clone()).unwrap_or_else(|| score(task, n_towel, &start, end));
    let flat = score(task, n_towel, &start, &start).mean_pair;
    Ok(RolloutOutcome {
        task,
        seed,
        controller: cfg.controller,
        progress: 1.0 - asked.mean_pair / flat.max(1e-9),
        score: asked,
        closest_fold,
        sim_seconds,
        labels,
        supervisor_events: events,
        ticks_not_tracking: not_tracking,
        tracking: 1.0 - not_tracking as f64 / (sim_seconds / DT).max(1.0),
        unstable_steps: ls.plant.unstable_steps,
    })
}

fn write_prediction(
    ep: &mut Episode,
    names: &[String],
    target: &[f32],
    label: &str,
    attention: &[[f32; 2]],
    t: i64,
    period: f64,
) -> Result<()> {
    let (jt, l, att) = crate::policy_msgs::prediction(names, target, label, attention, t, period);
    let q = Qos::default();
    ep.write_msg(crate::policy_msgs::TARGETS, &q, &jt, t, t)?;
    ep.write_msg(crate::policy_msgs::LABEL, &q, &l, t, t)?;
    ep.write_msg(crate::policy_msgs::ATTENTION, &q, &att, t, t)?;
    Ok(())
}

fn write_event(ep: &mut Episode, e: &kotoba_controller::Event, t: i64) -> Result<()> {
    ep.write_msg(crate::policy_msgs::DIAGNOSTICS, &Qos::default(), &crate::policy_msgs::event(e, t), t, t)?;
    Ok(())
}
