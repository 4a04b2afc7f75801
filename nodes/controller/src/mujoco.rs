//! The MuJoCo arm of `kotoba-sim` as a [`Plant`] (feature `mujoco`), so the
//! closed-loop tests and the tracking benchmark run on a real physics engine
//! in lockstep: one 1 ms physics step per control tick.

use crate::lockstep::Plant;
use crate::types::{JVec, JointState};
use kotoba_sim::{JointReading, RobotModel, Sim, SimConfig};

pub use crate::limits::ARM_JOINTS;

/// The URDF the simulator is built from.
pub const URDF: &str = kotoba_sim::DEFAULT_URDF;

pub struct SimArm {
    pub sim: Sim,
    reading: JointReading,
    /// Physics steps per control tick (control period / sim timestep).
    substeps: usize,
    /// Commands the simulator refused (out of its effort limits): must stay 0.
    pub refused: u64,
    pub unstable_steps: usize,
}

impl SimArm {
    /// The default scene (encoders without noise unless `cfg` says otherwise).
    pub fn new(cfg: SimConfig, seed: u64, control_dt: f64) -> kotoba_sim::Result<Self> {
        let substeps = (control_dt / cfg.timestep).round().max(1.0) as usize;
        let sim = Sim::new(cfg, RobotModel::default_arm(), seed)?;
        let mut s = Self {
            sim,
            reading: JointReading::default(),
            substeps,
            refused: 0,
            unstable_steps: 0,
        };
        s.sim.read_joints(&mut s.reading);
        Ok(s)
    }
}

impl Plant<6> for SimArm {
    fn state(&self) -> JointState<6> {
        let r = &self.reading;
        JointState {
            q: JVec::from_fn(|i, _| r.position[i]),
            qd: JVec::from_fn(|i, _| r.velocity[i]),
        }
    }

    /// `external` is not applied: the simulator has no public force input yet.
    fn step(&mut self, effort: &JVec<6>, _external: &JVec<6>, _dt: f64) {
        if self.sim.command_efforts(effort.as_slice()).is_err() {
            self.refused += 1;
        }
        self.unstable_steps += self.sim.step_n(self.substeps);
        self.sim.read_joints(&mut self.reading);
    }
}
