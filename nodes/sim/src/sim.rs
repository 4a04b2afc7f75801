//! The simulated robot: MuJoCo physics at a 1 ms step behind validated position,
//! effort and gripper commands, with encoder readout, grasp assistance and recovery
//! from numerically unstable states.

use crate::config::SimConfig;
use crate::encoder::{Encoder, JointReading};
use crate::episode::EpisodeParams;
use crate::error::{Result, SimError};
use crate::grasp::GraspAssist;
use crate::mjcf::{self, GROUP_EFFORT, GROUP_POSITION};
use crate::robot::RobotModel;
use mujoco_rs::prelude::*;
use nalgebra::{Isometry3, Matrix3, Rotation3, Translation3, UnitQuaternion, Vector3};

/// Which command interface drives the arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Joint position targets tracked by the robot's servo (with gravity feed-forward).
    Position,
    /// Joint torques straight to the motors (the active-inference controller).
    Effort,
}

/// What happened in one step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepEvent {
    Ok,
    /// The state blew up; the episode was reset (same seed) and the sim keeps running.
    Unstable {
        reason: String,
    },
}

pub(crate) struct Ids {
    pub qpos: Vec<usize>,
    pub dof: Vec<usize>,
    pub gripper_qpos: usize,
    pub gripper_dof: usize,
    pub act_pos: Vec<usize>,
    pub act_eff: Vec<usize>,
    pub act_gripper: usize,
    pub tcp_site: usize,
    pub palm_body: usize,
    pub towel_vert: usize,
    pub towel_nvert: usize,
    pub grasp_eq: usize,
    pub camera: usize,
}

pub struct Sim {
    cfg: SimConfig,
    robot: RobotModel,
    ep: EpisodeParams,
    pub(crate) data: MjData<Box<MjModel>>,
    pub(crate) ids: Ids,
    mode: Mode,
    target: Vec<f64>,
    effort: Vec<f64>,
    gripper_target: f64,
    grasp: GraspAssist,
    encoder: Encoder,
    /// Sim time of earlier (reset) episodes, so time stays monotonic.
    time_offset: f64,
    steps: u64,
    unstable_resets: u64,
}

/// MuJoCo writes warnings to `MUJOCO_LOG.TXT` in the working directory unless a
/// handler is installed: route them to `tracing` instead, once, before any MuJoCo use.
fn route_mujoco_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    fn handler(m: &MjLogMessage) {
        tracing::warn!(target: "mujoco", "{m:?}");
    }
    // SAFETY: every MuJoCo call in this crate starts with `Sim::new`, which calls this
    // first; `Once` makes other threads wait until the handler is in place.
    ONCE.call_once(|| unsafe { set_log_handler(handler) });
}

fn id(m: &MjModel, ty: MjtObjBase, name: &str) -> Result<usize> {
    m.name_to_id(ty, name)
        .ok_or_else(|| SimError::Model(format!("no {ty:?} named {name}")))
}

impl Sim {
    /// Builds the scene for episode `seed`.
    pub fn new(cfg: SimConfig, robot: RobotModel, seed: u64) -> Result<Self> {
        route_mujoco_log();
        let n = robot.dof();
        if cfg.servo.len() != n || cfg.home.len() != n {
            return Err(SimError::Config(format!(
                "servo ({}) and home ({}) need one entry per arm joint ({n})",
                cfg.servo.len(),
                cfg.home.len()
            )));
        }
        if cfg.towel.count < 3 || cfg.towel.count.is_multiple_of(2) {
            return Err(SimError::Config("towel.count must be odd and >= 3".into()));
        }
        if !(cfg.timestep > 0.0 && cfg.timestep <= 0.01) {
            return Err(SimError::Config("timestep must be in (0, 0.01] s".into()));
        }
        let ep = EpisodeParams::sample(&cfg, seed);
        let (data, ids) = Self::build(&cfg, &robot, &ep)?;
        let encoder = Encoder::new(cfg.encoder.clone(), seed);
        let grasp = GraspAssist::new(cfg.grasp.clone());
        let mut s = Self {
            target: vec![0.0; n],
            effort: vec![0.0; n],
            gripper_target: robot.gripper.upper,
            cfg,
            robot,
            ep,
            data,
            ids,
            mode: Mode::Position,
            grasp,
            encoder,
            time_offset: 0.0,
            steps: 0,
            unstable_resets: 0,
        };
        s.start_episode();
        Ok(s)
    }

    fn build(
        cfg: &SimConfig,
        robot: &RobotModel,
        ep: &EpisodeParams,
    ) -> Result<(MjData<Box<MjModel>>, Ids)> {
        let xml = mjcf::scene_xml(robot, cfg, ep);
        let model = MjModel::from_xml_string(&xml).map_err(|e| SimError::Model(e.to_string()))?;
        let m = &model;
        let jnt = |name: &str| id(m, MjtObjBase::mjOBJ_JOINT, name);
        let act = |name: String| id(m, MjtObjBase::mjOBJ_ACTUATOR, &name);
        let mut qpos = Vec::new();
        let mut dof = Vec::new();
        let mut act_pos = Vec::new();
        let mut act_eff = Vec::new();
        for j in &robot.arm {
            let k = jnt(&j.name)?;
            qpos.push(m.jnt_qposadr()[k] as usize);
            dof.push(m.jnt_dofadr()[k] as usize);
            act_pos.push(act(format!("{}_pos", j.name))?);
            act_eff.push(act(format!("{}_eff", j.name))?);
        }
        let g = jnt(&robot.gripper.name)?;
        let flex = id(m, MjtObjBase::mjOBJ_FLEX, mjcf::TOWEL)?;
        let ids = Ids {
            qpos,
            dof,
            gripper_qpos: m.jnt_qposadr()[g] as usize,
            gripper_dof: m.jnt_dofadr()[g] as usize,
            act_pos,
            act_eff,
            act_gripper: act(format!("{}_pos", robot.gripper.name))?,
            tcp_site: id(m, MjtObjBase::mjOBJ_SITE, "tcp")?,
            palm_body: id(m, MjtObjBase::mjOBJ_BODY, mjcf::PALM_BODY)?,
            towel_vert: m.flex_vertadr()[flex] as usize,
            towel_nvert: m.flex_vertnum()[flex] as usize,
            grasp_eq: id(m, MjtObjBase::mjOBJ_EQUALITY, "grasp_0")?,
            camera: id(m, MjtObjBase::mjOBJ_CAMERA, mjcf::CAMERA)?,
        };
        Ok((MjData::new(Box::new(model)), ids))
    }

    /// Puts the arm at the episode's start pose, holding it, gripper open.
    fn start_episode(&mut self) {
        let start = self.ep.arm_start.clone();
        for (i, q) in start.iter().enumerate() {
            let q = q.clamp(self.robot.arm[i].lower, self.robot.arm[i].upper);
            self.data.qpos_mut()[self.ids.qpos[i]] = q;
            self.target[i] = q;
        }
        let open = self.robot.gripper.upper;
        self.data.qpos_mut()[self.ids.gripper_qpos] = open;
        for (name, mult, off) in &self.robot.mimics {
            if let Some(k) = self.data.model().name_to_id(MjtObjBase::mjOBJ_JOINT, name) {
                let a = self.data.model().jnt_qposadr()[k] as usize;
                self.data.qpos_mut()[a] = off + mult * open;
            }
        }
        self.gripper_target = open;
        self.effort.iter_mut().for_each(|e| *e = 0.0);
        self.set_mode(Mode::Position);
        self.grasp.release(&mut self.data, &self.ids);
        self.data.forward();
    }

    /// Starts a new episode from `seed` (new towel, lighting, start pose).
    pub fn reset(&mut self, seed: u64) -> Result<()> {
        let ep = EpisodeParams::sample(&self.cfg, seed);
        let (data, ids) = Self::build(&self.cfg, &self.robot, &ep)?;
        self.time_offset += self.data.time();
        self.data = data;
        self.ids = ids;
        self.ep = ep;
        self.encoder = Encoder::new(self.cfg.encoder.clone(), seed);
        self.start_episode();
        Ok(())
    }

    fn set_mode(&mut self, mode: Mode) {
        self.mode = mode;
        let off = match mode {
            Mode::Position => 0,
            Mode::Effort => 1 << GROUP_POSITION,
        };
        let _ = GROUP_EFFORT; // motors are always on: torque commands or gravity feed-forward
        self.data.model_opt_mut().disableactuator = off;
    }

    fn check(
        &self,
        what: &'static str,
        v: &[f64],
        bounds: impl Fn(usize) -> (f64, f64),
    ) -> Result<()> {
        for (i, &x) in v.iter().enumerate() {
            let joint = || {
                self.robot
                    .arm
                    .get(i)
                    .unwrap_or(&self.robot.gripper)
                    .name
                    .clone()
            };
            if !x.is_finite() {
                return Err(SimError::NotFinite {
                    index: i,
                    joint: joint(),
                    value: x,
                });
            }
            let (lower, upper) = bounds(i);
            if x < lower || x > upper {
                return Err(SimError::OutOfLimits {
                    index: i,
                    joint: joint(),
                    value: x,
                    lower,
                    upper,
                });
            }
        }
        let _ = what;
        Ok(())
    }

    /// Joint position targets: one per arm joint, or one more for the gripper.
    /// Rejected (and the arm keeps its last target) when the length is wrong, a value
    /// is NaN/inf or outside the URDF limits.
    pub fn command_positions(&mut self, q: &[f64]) -> Result<()> {
        let n = self.robot.dof();
        if q.len() != n && q.len() != n + 1 {
            return Err(SimError::WrongLength {
                what: "joint positions",
                expected: format!("{n} or {}", n + 1),
                got: q.len(),
            });
        }
        let g = &self.robot.gripper;
        self.check("joint positions", q, |i| {
            self.robot
                .arm
                .get(i)
                .map_or((g.lower, g.upper), |j| (j.lower, j.upper))
        })?;
        self.target.copy_from_slice(&q[..n]);
        if q.len() > n {
            self.gripper_target = q[n];
        }
        if self.mode != Mode::Position {
            // Hold where the arm is, not where the servo was last told to go.
            self.set_mode(Mode::Position);
        }
        Ok(())
    }

    /// Joint torques, one per arm joint, within the URDF effort limits.
    pub fn command_efforts(&mut self, tau: &[f64]) -> Result<()> {
        let n = self.robot.dof();
        if tau.len() != n {
            return Err(SimError::WrongLength {
                what: "joint efforts",
                expected: n.to_string(),
                got: tau.len(),
            });
        }
        self.check("joint efforts", tau, |i| {
            (-self.robot.arm[i].effort, self.robot.arm[i].effort)
        })?;
        self.effort.copy_from_slice(tau);
        self.set_mode(Mode::Effort);
        Ok(())
    }

    /// Torques the world applies to the arm joints (a push, an unmodelled
    /// payload), one per arm joint, held until set again (zeros to clear).
    /// Not a command: nothing clamps or checks it but finiteness.
    pub fn set_external_torque(&mut self, tau: &[f64]) -> Result<()> {
        let n = self.robot.dof();
        if tau.len() != n {
            return Err(SimError::WrongLength { what: "external torques", expected: n.to_string(), got: tau.len() });
        }
        self.check("external torques", tau, |_| (f64::NEG_INFINITY, f64::INFINITY))?;
        for (i, t) in tau.iter().enumerate() {
            let d = self.ids.dof[i];
            self.data.qfrc_applied_mut()[d] = *t;
        }
        Ok(())
    }

    /// Gripper opening per finger (m): `gripper.lower` closed … `gripper.upper` open.
    pub fn command_gripper(&mut self, opening: f64) -> Result<()> {
        let g = &self.robot.gripper;
        if !opening.is_finite() {
            return Err(SimError::NotFinite {
                index: 0,
                joint: g.name.clone(),
                value: opening,
            });
        }
        if opening < g.lower || opening > g.upper {
            return Err(SimError::OutOfLimits {
                index: 0,
                joint: g.name.clone(),
                value: opening,
                lower: g.lower,
                upper: g.upper,
            });
        }
        self.gripper_target = opening;
        Ok(())
    }

    /// Advances physics by one step.
    pub fn step(&mut self) -> StepEvent {
        let n = self.robot.dof();
        for i in 0..n {
            let ctrl = self.data.ctrl_mut();
            ctrl[self.ids.act_pos[i]] = self.target[i];
        }
        for i in 0..n {
            let ff = match self.mode {
                // Gravity/Coriolis feed-forward, as a robot's own position controller does.
                Mode::Position => self.data.qfrc_bias()[self.ids.dof[i]],
                Mode::Effort => self.effort[i],
            };
            let lim = self.robot.arm[i].effort;
            self.data.ctrl_mut()[self.ids.act_eff[i]] = ff.clamp(-lim, lim);
        }
        self.data.ctrl_mut()[self.ids.act_gripper] = self.gripper_target;
        let bad_before = self.bad_warnings();
        self.data.step();
        self.steps += 1;
        let opening = self.data.qpos()[self.ids.gripper_qpos];
        let closing = self.gripper_target < self.cfg.grasp.close_below;
        self.grasp
            .update(&mut self.data, &self.ids, closing, opening);
        if let Some(reason) = self.unstable(bad_before) {
            tracing::warn!(%reason, seed = self.ep.seed, "numerically unstable state: resetting the episode");
            self.unstable_resets += 1;
            let seed = self.ep.seed;
            if let Err(e) = self.reset(seed) {
                tracing::error!(error = %e, "episode reset failed");
            }
            return StepEvent::Unstable { reason };
        }
        StepEvent::Ok
    }

    fn bad_warnings(&self) -> i32 {
        let w = self.data.warning();
        w[MjtWarning::mjWARN_BADQACC as usize].number
            + w[MjtWarning::mjWARN_BADQPOS as usize].number
            + w[MjtWarning::mjWARN_BADQVEL as usize].number
    }

    fn unstable(&self, bad_before: i32) -> Option<String> {
        if self.bad_warnings() > bad_before {
            return Some(
                "MuJoCo reported a bad (NaN/huge) acceleration, position or velocity".into(),
            );
        }
        let qvel = self.data.qvel();
        if let Some((i, v)) = qvel
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || v.abs() > self.cfg.unstable_speed)
        {
            return Some(format!(
                "dof {i} speed {v} exceeds {}",
                self.cfg.unstable_speed
            ));
        }
        None
    }

    /// Runs `n` steps; returns how many hit an unstable state.
    pub fn step_n(&mut self, n: usize) -> usize {
        (0..n).filter(|_| self.step() != StepEvent::Ok).count()
    }

    /// True joint state (no encoder model) into `out` (arm joints then gripper).
    pub fn true_joint_state(&self, out: &mut JointReading) {
        let n = self.robot.dof();
        out.position.resize(n + 1, 0.0);
        out.velocity.resize(n + 1, 0.0);
        out.effort.resize(n + 1, 0.0);
        let (qpos, qvel, frc) = (
            self.data.qpos(),
            self.data.qvel(),
            self.data.qfrc_actuator(),
        );
        for i in 0..n {
            out.position[i] = qpos[self.ids.qpos[i]];
            out.velocity[i] = qvel[self.ids.dof[i]];
            out.effort[i] = frc[self.ids.dof[i]];
        }
        out.position[n] = qpos[self.ids.gripper_qpos];
        out.velocity[n] = qvel[self.ids.gripper_dof];
        out.effort[n] = frc[self.ids.gripper_dof];
        out.time = self.time();
    }

    /// Joint state as the encoders report it (noise, quantisation).
    pub fn read_joints(&mut self, out: &mut JointReading) {
        self.true_joint_state(out);
        self.encoder.read(out);
    }

    /// Simulated seconds since the sim started (monotonic across resets).
    pub fn time(&self) -> f64 {
        self.time_offset + self.data.time()
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn unstable_resets(&self) -> u64 {
        self.unstable_resets
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn robot(&self) -> &RobotModel {
        &self.robot
    }

    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    pub fn episode(&self) -> &EpisodeParams {
        &self.ep
    }

    pub fn position_target(&self) -> &[f64] {
        &self.target
    }

    pub fn gripper_target(&self) -> f64 {
        self.gripper_target
    }

    /// Towel vertex positions (world frame), grid index = ix * count + iy.
    pub fn towel_vertices(&self) -> &[[f64; 3]] {
        &self.data.flexvert_xpos()[self.ids.towel_vert..self.ids.towel_vert + self.ids.towel_nvert]
    }

    /// Indices of towel vertices held by grasp assistance.
    pub fn grasped(&self) -> &[usize] {
        self.grasp.held()
    }

    /// Tool centre point pose from the simulation.
    pub fn tcp_pose(&self) -> Isometry3<f64> {
        let p = self.data.site_xpos()[self.ids.tcp_site];
        let r = self.data.site_xmat()[self.ids.tcp_site];
        let m = Matrix3::from_row_slice(&r);
        Isometry3::from_parts(
            Translation3::new(p[0], p[1], p[2]),
            UnitQuaternion::from_rotation_matrix(&Rotation3::from_matrix_unchecked(m)),
        )
    }

    pub fn tcp_position(&self) -> Vector3<f64> {
        self.tcp_pose().translation.vector
    }

    pub fn mj_data(&self) -> &MjData<Box<MjModel>> {
        &self.data
    }

    pub(crate) fn camera_id(&self) -> usize {
        self.ids.camera
    }

    /// Writes a test hook: corrupts the state as a solver blow-up would.
    #[doc(hidden)]
    pub fn inject_instability(&mut self) {
        let d = self.ids.dof[0];
        self.data.qvel_mut()[d] = f64::NAN;
    }
}
