//! Runs a supervised controller against a plant in lockstep with a
//! [`ManualClock`]: read encoders, tick, apply the command, step the plant,
//! advance time. The closed-loop tests and the tracking benchmark use it with
//! the unit-test plant; the MuJoCo arm plugs in by implementing [`Plant`].

use crate::controller::JointController;
use crate::reference::TargetChunk;
use crate::supervisor::{Command, EncoderSample, Supervisor};
use crate::types::{JVec, JointState};
use kotoba_core::{Clock, ManualClock};
use std::time::Duration;

/// Anything that takes joint efforts and returns encoder readings.
pub trait Plant<const N: usize> {
    fn state(&self) -> JointState<N>;
    /// Advance `dt` seconds with `effort` commanded and `external` torque
    /// applied from outside (a push, a collision).
    fn step(&mut self, effort: &JVec<N>, external: &JVec<N>, dt: f64);
}

impl<const N: usize> Plant<N> for crate::plant::DecoupledPlant<N> {
    fn state(&self) -> JointState<N> {
        self.state
    }
    fn step(&mut self, effort: &JVec<N>, external: &JVec<N>, dt: f64) {
        crate::plant::DecoupledPlant::step(self, effort, external, dt)
    }
}

/// One supervisor, one plant, one clock.
pub struct Lockstep<const N: usize, C, P> {
    pub supervisor: Supervisor<N, C>,
    pub plant: P,
    pub clock: ManualClock,
    /// When false, no encoder sample reaches the supervisor (fault injection).
    pub encoders_on: bool,
    /// When false, samples carry no velocity (the supervisor differentiates).
    pub send_velocity: bool,
    pub external: JVec<N>,
    pub estop: bool,
    dt: f64,
}

impl<const N: usize, C: JointController<N>, P: Plant<N>> Lockstep<N, C, P> {
    pub fn new(supervisor: Supervisor<N, C>, plant: P, clock: ManualClock) -> Self {
        let dt = supervisor.config().dt;
        Self {
            supervisor,
            plant,
            clock,
            encoders_on: true,
            send_velocity: true,
            external: JVec::zeros(),
            estop: false,
            dt,
        }
    }

    /// One control period; `target` is a policy chunk arriving this tick.
    pub fn tick(&mut self, target: Option<&TargetChunk<N>>) -> Command<N> {
        let now = self.clock.now();
        let s = self.plant.state();
        let sample = EncoderSample {
            stamp: now,
            q: s.q,
            qd: self.send_velocity.then_some(s.qd),
        };
        let cmd =
            self.supervisor
                .tick(now, self.encoders_on.then_some(&sample), target, self.estop);
        self.plant.step(&cmd.effort, &self.external, self.dt);
        self.clock.advance(Duration::from_secs_f64(self.dt));
        cmd
    }

    pub fn now_secs(&self) -> f64 {
        self.clock.now().as_secs_f64()
    }
}
