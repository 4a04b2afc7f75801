//! Shared set-up for the closed-loop and fault tests (unit-test plant only).
#![allow(dead_code)]

use kotoba_controller::lockstep::Lockstep;
use kotoba_controller::plant::{DecoupledPlant, PendulumGravity};
use kotoba_controller::*;
use kotoba_core::{ManualClock, Stamp};

pub const DT: f64 = 0.001;
pub const POLICY_PERIOD: f64 = 0.05; // 20 Hz

pub fn cfg() -> SupervisorConfig {
    SupervisorConfig {
        dt: DT,
        policy_period: POLICY_PERIOD,
        ..Default::default()
    }
}

pub fn limits<const N: usize>() -> JointLimits<N> {
    JointLimits::uniform(2.5, 2.0, 87.0)
}

pub fn q0<const N: usize>() -> JVec<N> {
    JVec::from_fn(|i, _| 0.3 - 0.1 * i as f64)
}

/// PD gains giving each joint of the plant ω = 20 rad/s, ζ = 1.
pub fn pd_gains<const N: usize>(plant: &DecoupledPlant<N>) -> PdGains {
    let w = 20.0;
    PdGains {
        kp: PerJoint::Each(plant.inertia.iter().map(|i| i * w * w).collect()),
        kd: PerJoint::Each(plant.inertia.iter().map(|i| 2.0 * i * w).collect()),
    }
}

pub fn rig<const N: usize, C: JointController<N>>(
    controller: C,
    plant: DecoupledPlant<N>,
    sup_cfg: SupervisorConfig,
) -> Lockstep<N, C, DecoupledPlant<N>> {
    let clock = ManualClock::new(Stamp {
        sec: 100,
        nanosec: 0,
    });
    let sup = Supervisor::new(sup_cfg, limits(), controller);
    Lockstep::new(sup, plant, clock)
}

pub fn aic<const N: usize>(g: PendulumGravity<N>) -> ActiveInference<N, PendulumGravity<N>> {
    ActiveInference::new(&AicGains::default(), g).unwrap()
}

pub fn uaic<const N: usize>(
    g: PendulumGravity<N>,
) -> UnbiasedActiveInference<N, PendulumGravity<N>> {
    UnbiasedActiveInference::new(&UaicGains::default(), g).unwrap()
}

/// The trajectory the policy follows: a 0.25 rad, 0.5 Hz sine per joint about q0.
pub fn trajectory<const N: usize>(t: f64) -> JVec<N> {
    sine::<N>(t, 0.5)
}

/// A 0.25 rad sine of `hz` per joint about q0 (phase-shifted per joint).
pub fn sine<const N: usize>(t: f64, hz: f64) -> JVec<N> {
    q0::<N>()
        + JVec::from_fn(|i, _| {
            0.25 * (std::f64::consts::TAU * hz * t + i as f64).sin() - 0.25 * (i as f64).sin()
        })
}

/// Runs `secs` seconds with a 20 Hz policy sending "be at trajectory(t + period)"
/// (`traj` relative to the start), returns per-tick |q − trajectory(t)| max over joints.
pub fn follow<const N: usize, C: JointController<N>>(
    ls: &mut Lockstep<N, C, DecoupledPlant<N>>,
    secs: f64,
    traj: impl Fn(f64) -> JVec<N>,
) -> Vec<f64> {
    let t0 = ls.now_secs();
    let every = (POLICY_PERIOD / DT).round() as u64;
    let ticks = (secs / DT).round() as u64;
    let mut err = Vec::with_capacity(ticks as usize);
    for k in 0..ticks {
        let t = k as f64 * DT;
        let chunk = (k % every == 0).then(|| {
            TargetChunk::single(
                Stamp::from_secs_f64(t0 + t + POLICY_PERIOD),
                traj(t + POLICY_PERIOD),
            )
        });
        ls.tick(chunk.as_ref());
        err.push((ls.plant.state.q - traj(t + DT)).abs().max());
    }
    err
}

/// Starts the rig: one tick so the supervisor sees the first sample and holds.
pub fn start<const N: usize, C: JointController<N>>(ls: &mut Lockstep<N, C, DecoupledPlant<N>>) {
    let c = ls.tick(None);
    assert_eq!(c.mode, Mode::Holding);
    assert_eq!(
        ls.supervisor.pop_event().map(|e| e.kind),
        Some(EventKind::Started)
    );
}

pub fn events<const N: usize, C: JointController<N>>(
    ls: &mut Lockstep<N, C, DecoupledPlant<N>>,
) -> Vec<Event> {
    std::iter::from_fn(|| ls.supervisor.pop_event()).collect()
}
