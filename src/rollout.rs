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
use crate::demo_noise::{DemoNoise, Drift, grasp_fade, quiet_spans};
use anyhow::{Context, Result, bail};
use kotoba_controller::lockstep::{Lockstep, Plant};
use kotoba_controller::mujoco::{SimArm, URDF};
use kotoba_controller::{ARM_JOINTS, JVec, JointController, JointLimits, Level, Mode, Supervisor, SupervisorConfig, TargetChunk};
use kotoba_core::{Clock, ManualClock, Stamp};
use kotoba_dpl::prep::resize_rgb;
use kotoba_dpl::{Observation, Policy};
use kotoba_msgs::{Qos, std_msgs};
use kotoba_recorder::{Dataset, Episode};
use kotoba_recorder::scripted::{sim_ns, topics, write_image, write_joint_state};
use kotoba_sim::task::{FoldScore, Task, score};
use kotoba_sim::{Camera, JointReading, SimConfig};
use kotoba_text::EmbeddingCache;
use serde::{Deserialize, Serialize};
use std::time::Duration;

const DT: f64 = 0.001;

/// What the world does differently from the demonstrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    /// As demonstrated.
    #[default]
    None,
    /// The towel lies beyond the demonstrated positions: centre x in
    /// 0.55–0.58 m and y in 0.06–0.09 m (demonstrations: 0.47–0.53, −0.05–0.05).
    UntaughtPosition,
    /// A 1.5 kg payload on the last link that the controller's model lacks.
    Payload,
    /// A push: 30/20/5 N·m on joints 2–4 for 0.3 s, 3 s into the rollout.
    Push,
}

impl Perturbation {
    fn sim_config(self) -> SimConfig {
        let mut c = SimConfig::default();
        if self == Self::UntaughtPosition {
            c.randomize.towel_x = [0.55, 0.58];
            c.randomize.towel_y = [0.06, 0.09];
        }
        c
    }
}

/// Joint torques the world adds at time `t` (s since the start) and pose `q`.
struct Disturbance {
    kind: Perturbation,
    /// (nominal, with payload) gravity: the payload's load is their difference.
    gravity: Option<(kotoba_controller::ChainGravity<6>, kotoba_controller::ChainGravity<6>)>,
}

impl Disturbance {
    fn new(kind: Perturbation) -> Result<Self> {
        let gravity = if kind == Perturbation::Payload {
            let g = controllers::gravity(URDF)?;
            let heavy = g.with_payload(1.5);
            Some((g, heavy))
        } else {
            None
        };
        Ok(Self { kind, gravity })
    }

    fn torque(&self, t: f64, q: &JVec<6>) -> Option<[f64; 6]> {
        use kotoba_controller::GravityModel;
        match self.kind {
            Perturbation::None | Perturbation::UntaughtPosition => None,
            Perturbation::Payload => {
                let (g, heavy) = self.gravity.as_ref()?;
                // Holding torques differ by the payload's load; the world applies minus that.
                let d = heavy.torque(q) - g.torque(q);
                Some(std::array::from_fn(|i| -d[i]))
            }
            Perturbation::Push => Some(if (3.0..3.3).contains(&t) { [0.0, 30.0, 20.0, 5.0, 0.0, 0.0] } else { [0.0; 6] }),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RolloutConfig {
    pub controller: ControllerKind,
    #[serde(default)]
    pub perturbation: Perturbation,
    /// Give up after this much sim time (s).
    pub max_seconds: f64,
    /// Stop once the policy has predicted the label `done` for this long (s).
    pub done_hold_s: f64,
    /// Gripper from the predicted verbal label (`Manifest::gripper_for_label`)
    /// instead of the predicted gripper value.
    #[serde(default)]
    pub label_gripper: bool,
    /// Replayed demonstrations only: a drift added to the arm commands sent to
    /// the controller, not to the commands recorded (see [`crate::demo_noise`]).
    #[serde(default)]
    pub demo_noise: Option<DemoNoise>,
}

impl Default for RolloutConfig {
    fn default() -> Self {
        Self { controller: ControllerKind::Aic, perturbation: Perturbation::None, max_seconds: 40.0, done_hold_s: 1.0, label_gripper: false, demo_noise: None }
    }
}

/// What one rollout did.
#[derive(Debug, Clone, Serialize)]
pub struct RolloutOutcome {
    pub task: Task,
    pub seed: u64,
    pub controller: ControllerKind,
    pub perturbation: Perturbation,
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

/// What proposes the next targets at the policy rate: the trained policy, or
/// a replayed demonstration (the oracle that shows what the controller and
/// the rate can do with perfect targets).
trait Proposer {
    fn rate_hz(&self) -> f64;
    /// Frame size to render (the model's input size).
    fn image_size(&self) -> (u32, u32);
    /// Size to render the camera at before resizing to [`Self::image_size`]:
    /// the size the training frames were recorded at (`None`: the simulated
    /// camera's own). Another source size gives other pixels after resizing.
    fn source_size(&self) -> Option<(u32, u32)> {
        None
    }
    /// True when the proposals are a demonstration's: a recorded run then also
    /// gets the commands and the spoken labels, and can be trained on.
    fn teaches(&self) -> bool {
        false
    }
    /// Next targets (6 arm joints, then the gripper opening) for sim time `t`,
    /// with the predicted label and attention points.
    fn propose(&mut self, t: f64, frame: &[u8], joints: &[f32]) -> Result<Proposal>;
}

struct Proposal {
    target: Vec<f32>,
    /// Added to the arm joints of `target` in the command sent, not in the one
    /// recorded (injected noise: the recorded target leads back from it).
    offset: [f32; 6],
    /// Gripper opening to command (m).
    gripper: f32,
    label: String,
    attention: Vec<[f32; 2]>,
    /// The policy's subgoal (raw joint units), if it predicts one.
    subgoal: Option<Vec<f32>>,
}

struct PolicyProposer<'a> {
    policy: &'a mut dyn Policy,
    instruction: Vec<f32>,
    /// The gripper range, the trained frame size and the label-to-gripper map.
    manifest: &'a Manifest,
    /// Gripper from the predicted label (`RolloutConfig::label_gripper`).
    label_gripper: bool,
    started: Stamp,
}

impl<'a> PolicyProposer<'a> {
    /// Resets `policy` for a rollout of `task` on the simulated arm.
    fn new(policy: &'a mut dyn Policy, manifest: &'a Manifest, cache: &EmbeddingCache, task: Task, label_gripper: bool) -> Result<Self> {
        let joints = policy.spec().joints;
        if joints != ARM_JOINTS.len() + 1 {
            bail!("the policy drives {joints} joints; the simulated arm has 6 + a gripper");
        }
        let instruction = manifest.instruction(cache, task.instruction())?;
        policy.reset();
        Ok(Self { policy, instruction, manifest, label_gripper, started: Stamp { sec: 1, nanosec: 0 } })
    }
}

impl Proposer for PolicyProposer<'_> {
    fn rate_hz(&self) -> f64 {
        self.policy.spec().rate_hz
    }
    fn image_size(&self) -> (u32, u32) {
        let s = self.policy.spec();
        (s.image_width as u32, s.image_height as u32)
    }
    fn source_size(&self) -> Option<(u32, u32)> {
        self.manifest.source_image.map(|[w, h]| (w, h))
    }
    fn propose(&mut self, t: f64, frame: &[u8], joints: &[f32]) -> Result<Proposal> {
        let stamp = self.started.add(Duration::from_secs_f64(t));
        let obs = Observation { stamp, image: frame, joints, instruction: &self.instruction, label: None };
        let out = self.policy.step(&obs)?;
        let target = out.chunk.target(0).to_vec();
        let label = self.policy.spec().label_names.get(out.label).cloned().unwrap_or_default();
        let by_label = if self.label_gripper { self.manifest.gripper_for_label(&label) } else { None };
        let gripper = by_label.unwrap_or_else(|| self.manifest.gripper.command(target[6]));
        Ok(Proposal { gripper, target, offset: [0.0; 6], label, attention: out.attention, subgoal: out.subgoal })
    }
}

/// A demonstration replayed open loop: the scripted expert is run once with
/// position control on its own copy of the scene (what a recording holds),
/// and each step proposes the commanded joints one policy period ahead, as
/// the policy was trained to.
struct DemoProposer {
    rate_hz: f64,
    /// (sim time relative to the start, 6 joints + gripper) at the expert's rate.
    commands: Vec<(f64, Vec<f32>)>,
    labels: Vec<(f64, &'static str)>,
    drift: Option<Drift>,
    /// Where the drift is off (s): the gripper changes, and the carries unless
    /// the noise drifts while holding; it fades out around them.
    quiet: Vec<(f64, f64)>,
}

impl DemoProposer {
    /// `sim_cfg` and `seed` build the same scene as the rollout's `SimArm`
    /// (a seed reproduces an episode).
    fn new(task: Task, seed: u64, rate_hz: f64, sim_cfg: SimConfig, noise: Option<DemoNoise>) -> Result<Self> {
        let cfg = kotoba_sim::expert::ExpertConfig::default();
        let mut sim = kotoba_sim::Sim::new(sim_cfg, kotoba_sim::RobotModel::default_arm(), seed)?;
        let mut expert = kotoba_sim::expert::Expert::new(task, cfg.clone(), &sim, seed);
        let steps = ((cfg.period / sim.config().timestep).round() as usize).max(1);
        let t0 = sim.time();
        let (mut commands, mut labels) = (Vec::new(), Vec::new());
        while !expert.done() && sim.time() - t0 < 40.0 {
            let a = expert.tick(&sim);
            let t = sim.time() - t0;
            if let Some(l) = a.label {
                labels.push((t, l));
            }
            let mut c: Vec<f32> = a.positions.iter().map(|&v| v as f32).collect();
            c.push(a.gripper as f32);
            commands.push((t, c));
            sim.command_positions(&a.positions)?;
            sim.command_gripper(a.gripper)?;
            sim.step_n(steps);
        }
        let drift = noise.map(|n| Drift::new(n, 1.0 / rate_hz, seed));
        let gripper: Vec<(f64, f32)> = commands.iter().map(|(t, c)| (*t, c[6])).collect();
        let open = sim.robot().gripper.upper as f32;
        let quiet = quiet_spans(&gripper, open, noise.is_none_or(|n| n.holding));
        Ok(Self { rate_hz, commands, labels, drift, quiet })
    }
    fn at<T: Clone>(v: &[(f64, T)], t: f64) -> Option<T> {
        v.iter().take_while(|(ti, _)| *ti <= t + 1e-9).last().map(|(_, x)| x.clone())
    }
}

impl Proposer for DemoProposer {
    fn rate_hz(&self) -> f64 {
        self.rate_hz
    }
    fn image_size(&self) -> (u32, u32) {
        (64, 64)
    }
    /// Recorded frames at the size `kotoba demo` records its demonstrations.
    fn source_size(&self) -> Option<(u32, u32)> {
        Some(self.image_size())
    }
    fn teaches(&self) -> bool {
        true
    }
    fn propose(&mut self, t: f64, _frame: &[u8], joints: &[f32]) -> Result<Proposal> {
        let target = Self::at(&self.commands, t + 1.0 / self.rate_hz).unwrap_or_else(|| joints.to_vec());
        let label = if self.commands.last().is_some_and(|(tl, _)| t > *tl) {
            kotoba_sim::expert::DONE.to_string()
        } else {
            Self::at(&self.labels, t).unwrap_or_default().to_string()
        };
        let offset = match self.drift.as_mut() {
            Some(d) => {
                let fade = grasp_fade(t, &self.quiet);
                d.next().map(|x| x * fade)
            }
            None => [0.0; 6],
        };
        Ok(Proposal { gripper: target[6], target, offset, label, attention: Vec::new(), subgoal: None })
    }
}

/// The demonstration replayed through the controller while the policy runs
/// alongside on the same observations, its targets only compared: how far the
/// policy's one-step proposals are from the demonstration's in the very loop a
/// rollout runs (images rendered at run time, the controller's lag).
struct ShadowProposer<'a> {
    demo: DemoProposer,
    policy: PolicyProposer<'a>,
    /// Per arm joint: sum of squared (policy − demo) and (reading − demo), and the count.
    err: [f64; 6],
    hold: [f64; 6],
    /// The same for a constant-velocity extrapolation of the last two readings.
    extrap: [f64; 6],
    prev: Option<Vec<f32>>,
    n: usize,
}

impl Proposer for ShadowProposer<'_> {
    fn rate_hz(&self) -> f64 {
        self.demo.rate_hz
    }
    fn image_size(&self) -> (u32, u32) {
        self.policy.image_size()
    }
    fn source_size(&self) -> Option<(u32, u32)> {
        self.policy.source_size()
    }
    fn propose(&mut self, t: f64, frame: &[u8], joints: &[f32]) -> Result<Proposal> {
        let d = self.demo.propose(t, frame, joints)?;
        let p = self.policy.propose(t, frame, joints)?;
        if self.demo.commands.last().is_some_and(|(tl, _)| t <= *tl) {
            for i in 0..6 {
                self.err[i] += f64::from(p.target[i] - d.target[i]).powi(2);
                self.hold[i] += f64::from(joints[i] - d.target[i]).powi(2);
                let e = self.prev.as_ref().map_or(joints[i], |q| 2.0 * joints[i] - q[i]);
                self.extrap[i] += f64::from(e - d.target[i]).powi(2);
            }
            self.n += 1;
        }
        self.prev = Some(joints.to_vec());
        Ok(Proposal { label: p.label, attention: p.attention, subgoal: p.subgoal, ..d })
    }
}

/// Per-arm-joint RMS (rad) against the demonstration's next target over a
/// shadowed replay: of the policy's proposals, of holding still (the current
/// reading) and of extrapolating the last two readings at constant velocity.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowStats {
    pub policy_rms: Vec<f64>,
    pub hold_rms: Vec<f64>,
    pub extrapolate_rms: Vec<f64>,
    pub steps: usize,
}

/// [`replay_demo`] with `policy` in the shadow (see [`ShadowProposer`]).
pub fn shadow_demo(
    policy: &mut dyn Policy,
    manifest: &Manifest,
    cache: &EmbeddingCache,
    task: Task,
    seed: u64,
    cfg: &RolloutConfig,
    record: Option<&mut Episode>,
) -> Result<(RolloutOutcome, ShadowStats)> {
    let rate = policy.spec().rate_hz;
    let demo = DemoProposer::new(task, seed, rate, cfg.perturbation.sim_config(), None)?;
    let policy = PolicyProposer::new(policy, manifest, cache, task, cfg.label_gripper)?;
    let mut p = ShadowProposer { demo, policy, err: [0.0; 6], hold: [0.0; 6], extrap: [0.0; 6], prev: None, n: 0 };
    let o = with_controller(&mut p, task, seed, cfg, record)?;
    let n = p.n.max(1) as f64;
    let stats = ShadowStats {
        policy_rms: p.err.iter().map(|e| (e / n).sqrt()).collect(),
        hold_rms: p.hold.iter().map(|e| (e / n).sqrt()).collect(),
        extrapolate_rms: p.extrap.iter().map(|e| (e / n).sqrt()).collect(),
        steps: p.n,
    };
    Ok((o, stats))
}

/// A fresh dataset at `dir` for recorded rollouts (one that exists is replaced).
pub fn rollout_dataset(dir: &std::path::Path) -> Result<Dataset> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    Ok(Dataset::create(dir, topics::LABELS, topics::INSTRUCTION)?)
}

/// Runs one rollout of `policy` on `task` with towel seed `seed`.
pub fn rollout(
    policy: &mut dyn Policy,
    manifest: &Manifest,
    cache: &EmbeddingCache,
    task: Task,
    seed: u64,
    cfg: &RolloutConfig,
    record: Option<&mut Episode>,
) -> Result<RolloutOutcome> {
    let mut p = PolicyProposer::new(policy, manifest, cache, task, cfg.label_gripper)?;
    with_controller(&mut p, task, seed, cfg, record)
}

/// Replays the scripted demonstration of `task` on seed `seed` through the
/// same controller and rate as a policy rollout: an upper bound for what
/// imitation can reach, and a check of the control path.
pub fn replay_demo(task: Task, seed: u64, rate_hz: f64, cfg: &RolloutConfig, record: Option<&mut Episode>) -> Result<RolloutOutcome> {
    let mut p = DemoProposer::new(task, seed, rate_hz, cfg.perturbation.sim_config(), cfg.demo_noise)?;
    with_controller(&mut p, task, seed, cfg, record)
}

/// Replays the demonstration of `task` on the taught scene `demo_seed` on
/// the scene `seed`, blind to where the towel now lies: what a policy that
/// ignores its camera could reach, the floor a visual policy must beat.
pub fn replay_blind(task: Task, demo_seed: u64, seed: u64, rate_hz: f64, cfg: &RolloutConfig, record: Option<&mut Episode>) -> Result<RolloutOutcome> {
    let mut p = DemoProposer::new(task, demo_seed, rate_hz, SimConfig::default(), None)?;
    with_controller(&mut p, task, seed, cfg, record)
}

fn with_controller(p: &mut dyn Proposer, task: Task, seed: u64, cfg: &RolloutConfig, record: Option<&mut Episode>) -> Result<RolloutOutcome> {
    match cfg.controller {
        ControllerKind::Aic => run(p, task, seed, cfg, controllers::aic(URDF)?, record),
        ControllerKind::Pd => run(p, task, seed, cfg, controllers::pd(URDF)?, record),
    }
}

fn run<C: JointController<6>>(
    proposer: &mut dyn Proposer,
    task: Task,
    seed: u64,
    cfg: &RolloutConfig,
    controller: C,
    mut record: Option<&mut Episode>,
) -> Result<RolloutOutcome> {
    let period = 1.0 / proposer.rate_hz();
    let ticks_per_step = (period / DT).round() as u64;
    let limits = JointLimits::<6>::from_urdf_str(URDF, Some(&ARM_JOINTS))?;
    let sup_cfg = SupervisorConfig { dt: DT, policy_period: period, ..Default::default() };
    let arm = SimArm::new(cfg.perturbation.sim_config(), seed, DT)?;
    let disturbance = Disturbance::new(cfg.perturbation)?;
    let mut ls = Lockstep::new(Supervisor::new(sup_cfg, limits, controller), arm, ManualClock::new(Stamp { sec: 1, nanosec: 0 }));
    let (n_towel, t0) = (ls.plant.sim.config().towel.count, ls.plant.sim.time());
    let start = ls.plant.sim.towel_vertices().to_vec();
    // Frames are rendered at the size the training frames were recorded at and
    // resized to the model's the way those were (and `kotoba run` resizes a
    // robot's camera): rendering at any other size gives different pixels.
    let (w, h) = proposer.image_size();
    let cam_cfg = ls.plant.sim.config().camera.clone();
    let (cw, ch) = proposer.source_size().unwrap_or((cam_cfg.width, cam_cfg.height));
    let mut cam = Camera::new(&ls.plant.sim, cw, ch)?;
    let names = ls.plant.sim.robot().joint_names();
    let mut gripper_cmd = ls.plant.sim.robot().gripper.upper as f32;
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
            let rgb = resize_rgb(&frame.rgb, frame.height as usize, frame.width as usize, h as usize, w as usize);
            let out = proposer.propose(ls.plant.sim.time() - t0, &rgb, &joints)?;
            let q_next = JVec::<6>::from_fn(|i, _| f64::from(out.target[i] + out.offset[i]));
            chunk = Some(TargetChunk::single(now.add(Duration::from_secs_f64(period)), q_next));
            gripper_cmd = out.gripper;
            ls.plant.sim.command_gripper(f64::from(gripper_cmd))?;
            done_ticks = if out.label == kotoba_sim::expert::DONE { done_ticks + ticks_per_step } else { 0 };
            let n_labels = labels.len();
            if labels.last() != Some(&out.label) {
                labels.push(out.label.clone());
            }
            if let Some(ep) = record.as_deref_mut() {
                let t = sim_ns(ls.plant.sim.time());
                write_image(ep, &frame, t)?;
                write_prediction(ep, &names, &out, t, period)?;
                if proposer.teaches() {
                    write_teaching(ep, &out, labels.len() > n_labels, t, period)?;
                }
            }
            if done_ticks as f64 * DT >= cfg.done_hold_s {
                break;
            }
        }
        if let Some(tau) = disturbance.torque(k as f64 * DT, &ls.plant.state().q) {
            ls.plant.sim.set_external_torque(&tau)?;
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
        if let Some(ep) = record.as_deref_mut()
            && k % 10 == 0
        {
            ls.plant.sim.read_joints(&mut reading);
            write_joint_state(ep, &names, &reading, sim_ns(ls.plant.sim.time()))?;
        }
    }
    let sim_seconds = ls.plant.sim.time() - t0;
    // Let go and let the cloth settle before scoring, as for the demonstrations.
    let open = ls.plant.sim.robot().gripper.upper;
    ls.plant.sim.command_gripper(open)?;
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
        perturbation: cfg.perturbation,
        progress: 1.0 - asked.mean_pair / flat.max(1e-9),
        score: asked,
        closest_fold,
        sim_seconds,
        labels,
        supervisor_events: events,
        ticks_not_tracking: not_tracking,
        // Ticks counted from the summed sim time, which drifts by rounding
        // (2.9999999999998 s): whole ticks, and a share within [0, 1].
        tracking: (1.0 - not_tracking as f64 / (sim_seconds / DT).round().max(1.0)).clamp(0.0, 1.0),
        unstable_steps: ls.plant.unstable_steps,
    })
}

/// What a demonstration recorded through the controller holds beyond a
/// rollout: the spoken label when it changes, and each command (6 arm joints,
/// then the gripper) stamped at the time it is due, one policy period after it
/// is issued. Resampled at the policy's rate, the target of step k is then the
/// command issued at step k, as the running policy must issue it.
fn write_teaching(ep: &mut Episode, out: &Proposal, new_label: bool, t: i64, period: f64) -> Result<()> {
    if new_label {
        ep.write_msg(topics::LABELS, &Qos::default(), &std_msgs::String { data: out.label.clone() }, t, t)?;
    }
    let mut data: Vec<f64> = out.target[..ARM_JOINTS.len()].iter().map(|&v| f64::from(v)).collect();
    data.push(f64::from(out.gripper));
    let due = t + (period * 1e9).round() as i64;
    ep.write_msg(topics::COMMANDS, &Qos::default(), &std_msgs::Float64MultiArray { data, ..Default::default() }, due, due)?;
    Ok(())
}

fn write_prediction(ep: &mut Episode, names: &[String], out: &Proposal, t: i64, period: f64) -> Result<()> {
    let (jt, l, att) = crate::policy_msgs::prediction(names, &out.target, &out.label, &out.attention, t, period);
    let q = Qos::default();
    ep.write_msg(crate::policy_msgs::TARGETS, &q, &jt, t, t)?;
    ep.write_msg(crate::policy_msgs::LABEL, &q, &l, t, t)?;
    ep.write_msg(crate::policy_msgs::ATTENTION, &q, &att, t, t)?;
    if let Some(g) = &out.subgoal {
        ep.write_msg(crate::policy_msgs::SUBGOAL, &q, &crate::policy_msgs::subgoal(names, g, t), t, t)?;
    }
    Ok(())
}

fn write_event(ep: &mut Episode, e: &kotoba_controller::Event, t: i64) -> Result<()> {
    ep.write_msg(crate::policy_msgs::DIAGNOSTICS, &Qos::default(), &crate::policy_msgs::event(e, t), t, t)?;
    Ok(())
}

#[cfg(test)]
#[path = "rollout_tests.rs"]
mod tests;
