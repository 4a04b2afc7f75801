//! Closed-loop behaviour against the unit-test plant (decoupled rigid joints
//! with inertia, damping and gravity: see `kotoba_controller::plant`). The
//! same tests against the MuJoCo arm come once `kotoba-sim` can be stepped in
//! lockstep: implement `lockstep::Plant` for it and reuse these helpers.

mod common;
use common::*;
use kotoba_controller::plant::DecoupledPlant;
use kotoba_controller::*;

fn rms(v: &[f64]) -> f64 {
    (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt()
}

/// Error after the first second (start-up transient excluded).
fn steady(err: &[f64]) -> &[f64] {
    &err[1000..]
}

#[test]
fn pd_tracks_a_sine_within_10_mrad_rms() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let pd = PdGravity::new(&pd_gains(&plant), plant.gravity_model()).unwrap();
    let mut ls = rig(pd, plant, cfg());
    start(&mut ls);
    let err = follow(&mut ls, 4.0, trajectory::<7>);
    let (r, m) = (
        rms(steady(&err)),
        steady(&err).iter().cloned().fold(0.0, f64::max),
    );
    eprintln!("pd: rms {r:.4} max {m:.4}");
    assert!(r < 0.010 && m < 0.03, "rms {r} max {m}");
}

#[test]
fn unbiased_aic_tracks_a_sine_within_20_mrad_rms() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let mut ls = rig(uaic(plant.gravity_model()), plant, cfg());
    start(&mut ls);
    let err = follow(&mut ls, 4.0, trajectory::<7>);
    let (r, m) = (
        rms(steady(&err)),
        steady(&err).iter().cloned().fold(0.0, f64::max),
    );
    eprintln!("uaic: rms {r:.4} max {m:.4}");
    assert!(r < 0.020 && m < 0.05, "rms {r} max {m}");
}

#[test]
fn aic_tracks_a_slow_sine_within_stated_tolerance_6_joints() {
    // Pezzato's AIC reaches the goal only through the attractor μ′ = μ_d − μ
    // (rate 1/s), so with the paper's gains it lags any moving goal: on a
    // 0.05 Hz, 0.25 rad sine the worst joint of each tick stays within
    // 100 mrad RMS (measured 88 mrad; an independent Python run of the same
    // equations on one joint gives 57 mrad, see tests/golden/aic_reference.py);
    // at 0.5 Hz it does not track at all (`kotoba bench controller` reports it).
    let plant = DecoupledPlant::<6>::arm_like(q0());
    let mut ls = rig(aic(plant.gravity_model()), plant, cfg());
    start(&mut ls);
    let err = follow(&mut ls, 20.0, |t| sine::<6>(t, 0.05));
    let (r, m) = (
        rms(steady(&err)),
        steady(&err).iter().cloned().fold(0.0, f64::max),
    );
    eprintln!("aic 0.05 Hz: rms {r:.4} max {m:.4}");
    assert!(r < 0.10 && m < 0.12, "rms {r} max {m}");
}

#[test]
fn aic_settles_on_a_set_point() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let mut ls = rig(aic(plant.gravity_model()), plant, cfg());
    start(&mut ls);
    let goal = q0::<7>() + JVec::<7>::from_element(0.08);
    let err = follow(&mut ls, 8.0, |_| goal);
    let last = err.last().unwrap();
    eprintln!("aic set-point error after 8 s: {last:.5}");
    assert!(*last < 0.01, "{last}");
}

fn push_and_recover<C: JointController<7>>(
    c: C,
    plant: DecoupledPlant<7>,
    tol: f64,
    within_s: f64,
) {
    let mut ls = rig(c, plant, cfg());
    start(&mut ls);
    let goal = q0::<7>();
    follow(&mut ls, 2.0, |_| goal);
    // A 0.1 s shove of 10 N·m on every joint.
    ls.external = JVec::from_element(10.0);
    let during = follow(&mut ls, 0.1, |_| goal);
    ls.external = JVec::zeros();
    let peak = during.iter().cloned().fold(0.0, f64::max);
    assert!(peak > 0.02, "the push should move the arm, peak {peak}");
    let after = follow(&mut ls, within_s, |_| goal);
    let end = *after.last().unwrap();
    eprintln!(
        "{}: push peak {peak:.4}, error {within_s} s later {end:.5}",
        ls.supervisor.controller().name()
    );
    assert!(end < tol, "{end}");
}

#[test]
fn pd_recovers_from_a_push() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    push_and_recover(
        PdGravity::new(&pd_gains(&plant), plant.gravity_model()).unwrap(),
        plant,
        0.005,
        1.0,
    );
}

#[test]
fn aic_recovers_from_a_push() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    push_and_recover(aic(plant.gravity_model()), plant, 0.01, 3.0);
}

#[test]
fn uaic_recovers_from_a_push() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    push_and_recover(uaic(plant.gravity_model()), plant, 0.01, 3.0);
}

/// The controllers get the nominal gravity model; the plant carries 1.5 kg at 0.4 m more.
#[test]
fn aic_still_reaches_the_set_point_with_a_wrong_payload() {
    let nominal = DecoupledPlant::<7>::arm_like(q0());
    let plant = nominal.clone().with_payload(1.5, 0.4);
    let goal = q0::<7>() + JVec::<7>::from_element(0.08);
    let mut ls = rig(aic(nominal.gravity_model()), plant.clone(), cfg());
    start(&mut ls);
    let err = follow(&mut ls, 8.0, |_| goal);
    let aic_end = *err.last().unwrap();

    let pd = PdGravity::new(&pd_gains(&nominal), nominal.gravity_model()).unwrap();
    let mut ls = rig(pd, plant, cfg());
    start(&mut ls);
    let pd_end = *follow(&mut ls, 8.0, |_| goal).last().unwrap();
    eprintln!("payload mismatch: aic final error {aic_end:.5}, pd final error {pd_end:.5}");
    // The AIC's action integrates the sensory error, so it removes the offset
    // the PD keeps.
    assert!(aic_end < 0.01, "{aic_end}");
    assert!(pd_end > aic_end, "pd {pd_end} aic {aic_end}");
}

#[test]
fn uaic_tracks_with_a_wrong_payload() {
    let nominal = DecoupledPlant::<7>::arm_like(q0());
    let plant = nominal.clone().with_payload(1.5, 0.4);
    let mut ls = rig(uaic(nominal.gravity_model()), plant, cfg());
    start(&mut ls);
    let err = follow(&mut ls, 6.0, trajectory::<7>);
    let r = rms(&err[3000..]);
    eprintln!("uaic with payload: rms {r:.4}");
    assert!(r < 0.03, "{r}");
}

#[test]
fn velocity_from_finite_differences_is_enough_to_track() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let pd = PdGravity::new(&pd_gains(&plant), plant.gravity_model()).unwrap();
    let mut ls = rig(pd, plant, cfg());
    ls.send_velocity = false;
    start(&mut ls);
    let err = follow(&mut ls, 4.0, trajectory::<7>);
    let r = rms(steady(&err));
    eprintln!("pd with estimated velocity: rms {r:.4}");
    assert!(r < 0.015, "{r}");
}

#[test]
fn position_mode_outputs_the_reference() {
    let plant = DecoupledPlant::<6>::arm_like(q0());
    let c = PdGravity::new(&pd_gains(&plant), plant.gravity_model()).unwrap();
    let mut ls = rig(
        c,
        plant,
        SupervisorConfig {
            output: OutputMode::Position,
            ..cfg()
        },
    );
    start(&mut ls);
    let goal = q0::<6>() + JVec::<6>::from_element(0.08);
    let chunk = TargetChunk::single(
        kotoba_core::Stamp::from_secs_f64(ls.now_secs() + 0.05),
        goal,
    );
    ls.tick(Some(&chunk));
    let mut last = ls.tick(None);
    for _ in 0..60 {
        last = ls.tick(None);
    }
    assert_eq!(last.effort, JVec::<6>::zeros());
    assert!(
        (last.position - goal).abs().max() < 1e-9,
        "{:?}",
        last.position
    );
}
