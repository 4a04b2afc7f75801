//! Fault injection against the unit-test plant: every fault ends in a hold or
//! brake and a diagnostic event with its reason.

mod common;
use common::*;
use kotoba_controller::plant::DecoupledPlant;
use kotoba_controller::*;
use kotoba_core::Stamp;

type Rig7 = kotoba_controller::lockstep::Lockstep<
    7,
    UnbiasedActiveInference<7, plant::PendulumGravity<7>>,
    DecoupledPlant<7>,
>;

fn tracking_rig() -> Rig7 {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let mut ls = rig(uaic(plant.gravity_model()), plant, cfg());
    start(&mut ls);
    follow(&mut ls, 0.5, trajectory::<7>);
    assert_eq!(ls.supervisor.mode(), Mode::Tracking);
    events(&mut ls);
    ls
}

fn kinds(ev: &[Event]) -> Vec<EventKind> {
    ev.iter().map(|e| e.kind).collect()
}

#[test]
fn encoders_stop_then_brake_within_timeout_ticks() {
    let mut ls = tracking_rig();
    let n = cfg().encoder_timeout_ticks as usize;
    ls.encoders_on = false;
    let mut braked_at = None;
    for k in 0..20 {
        let c = ls.tick(None);
        if c.mode == Mode::Braking && braked_at.is_none() {
            braked_at = Some(k);
            assert!(c.brake && c.effort == JVec::<7>::zeros());
        }
    }
    assert_eq!(
        braked_at,
        Some(n),
        "brakes on the tick after {n} ticks without a sample"
    );
    let ev = events(&mut ls);
    assert_eq!(kinds(&ev), vec![EventKind::EncoderStale]);
    assert!(!ev[0].kind.reason().is_empty());
    // Samples come back: hold the measured pose, controller restarted.
    ls.encoders_on = true;
    let c = ls.tick(None);
    assert_eq!(c.mode, Mode::Holding);
    assert_eq!(kinds(&events(&mut ls)), vec![EventKind::EncoderRecovered]);
}

#[test]
fn nan_target_is_rejected_and_the_arm_holds() {
    let mut ls = tracking_rig();
    let mut bad = trajectory::<7>(1.0);
    bad[3] = f64::NAN;
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), bad);
    let held = ls.supervisor.reference().q;
    let c = ls.tick(Some(&chunk));
    assert_eq!(c.mode, Mode::Holding);
    assert!(all_finite(&c.effort) && all_finite(&c.position));
    assert!((c.position - held).abs().max() < 1e-12);
    assert_eq!(kinds(&events(&mut ls)), vec![EventKind::TargetNonFinite]);
    for _ in 0..500 {
        ls.tick(None);
    }
    assert!(
        (ls.plant.state.q - held).abs().max() < 0.02,
        "holds where it was"
    );
}

#[test]
fn nan_encoder_sample_is_rejected() {
    let mut ls = tracking_rig();
    let now = ls.clock.now_stamp();
    let mut q = ls.plant.state.q;
    q[1] = f64::INFINITY;
    let s = EncoderSample {
        stamp: now,
        q,
        qd: None,
    };
    let c = ls.supervisor.tick(now, Some(&s), None, false);
    assert!(all_finite(&c.effort));
    let ev = events(&mut ls);
    assert_eq!(kinds(&ev), vec![EventKind::EncoderNonFinite]);
    assert_eq!(ev[0].joint, Some(1));
}

#[test]
fn target_beyond_limits_is_clamped() {
    // Start near the upper limit of joint 0 (2.5 rad) so the jump check passes.
    let mut start_q = q0::<7>();
    start_q[0] = 2.45;
    let plant = DecoupledPlant::<7>::arm_like(start_q);
    let mut ls = rig(uaic(plant.gravity_model()), plant, cfg());
    start(&mut ls);
    let mut far = start_q;
    far[0] = 2.6;
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), far);
    ls.tick(Some(&chunk));
    let ev = events(&mut ls);
    assert_eq!(
        kinds(&ev),
        vec![EventKind::TargetClamped, EventKind::PolicyResumed]
    );
    assert_eq!(ev[0].joint, Some(0));
    assert_eq!(ev[0].value, 2.6);
    for _ in 0..100 {
        ls.tick(None);
        assert!(ls.supervisor.reference().q[0] <= 2.5);
    }
    assert!(
        (ls.supervisor.reference().q[0] - 2.5).abs() < 1e-9,
        "reaches the clamped target"
    );
}

#[test]
fn target_beyond_limits_is_rejected_when_configured() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let mut ls = rig(
        uaic(plant.gravity_model()),
        plant,
        SupervisorConfig {
            limit_action: LimitAction::Reject,
            ..cfg()
        },
    );
    start(&mut ls);
    let mut far = q0::<7>();
    far[6] = -3.0;
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), far);
    let c = ls.tick(Some(&chunk));
    assert_eq!(c.mode, Mode::Holding);
    let ev = events(&mut ls);
    assert_eq!(kinds(&ev), vec![EventKind::TargetOutOfLimits]);
    assert_eq!(ev[0].joint, Some(6));
}

#[test]
fn target_jump_is_rejected() {
    let mut ls = tracking_rig();
    let mut jump = ls.supervisor.reference().q;
    jump[2] += 0.5;
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), jump);
    let c = ls.tick(Some(&chunk));
    assert_eq!(c.mode, Mode::Holding);
    let ev = events(&mut ls);
    assert_eq!(kinds(&ev), vec![EventKind::TargetJump]);
    assert_eq!(ev[0].joint, Some(2));
}

#[test]
fn target_too_fast_for_the_velocity_limit_is_rejected() {
    let mut ls = tracking_rig();
    let mut quick = ls.supervisor.reference().q;
    quick[4] += 0.25; // within the jump bound, but in 10 ms: 25 rad/s > 2 rad/s
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.01), quick);
    ls.tick(Some(&chunk));
    let ev = events(&mut ls);
    assert_eq!(kinds(&ev), vec![EventKind::TargetTooFast]);
    assert_eq!(ev[0].joint, Some(4));
}

#[test]
fn policy_stall_holds_after_two_periods() {
    let mut ls = tracking_rig();
    // `follow` sent its last chunk at most one period ago.
    let mut held_at = None;
    for k in 0..200 {
        if ls.tick(None).mode == Mode::Holding {
            held_at = Some(k);
            break;
        }
    }
    let k = held_at.expect("holds") as f64 * DT;
    assert!(k <= 2.0 * POLICY_PERIOD + 2.0 * DT, "held after {k} s");
    let ev = events(&mut ls);
    assert_eq!(kinds(&ev), vec![EventKind::PolicyStale]);
    let q_hold = ls.supervisor.reference().q;
    for _ in 0..1000 {
        ls.tick(None);
    }
    assert!((ls.plant.state.q - q_hold).abs().max() < 0.02);
    // The policy comes back: tracking resumes with an OK event.
    follow(&mut ls, 0.1, |_| q_hold);
    assert_eq!(ls.supervisor.mode(), Mode::Tracking);
    assert_eq!(kinds(&events(&mut ls)), vec![EventKind::PolicyResumed]);
}

#[test]
fn estop_latches_until_cleared() {
    let mut ls = tracking_rig();
    ls.estop = true;
    let c = ls.tick(None);
    assert_eq!(c.mode, Mode::EStopped);
    assert!(c.brake && c.effort == JVec::<7>::zeros());
    ls.estop = false;
    assert_eq!(
        ls.tick(None).mode,
        Mode::EStopped,
        "stays stopped without a clear"
    );
    // Targets are ignored while stopped.
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), q0());
    ls.tick(Some(&chunk));
    ls.supervisor.clear_estop();
    assert_eq!(ls.tick(None).mode, Mode::Holding);
    assert_eq!(
        kinds(&events(&mut ls)),
        vec![
            EventKind::EStop,
            EventKind::TargetIgnored,
            EventKind::EStopCleared
        ]
    );
}

#[test]
fn effort_saturation_is_clamped_and_reported_once() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let pd = PdGravity::new(
        &PdGains {
            kp: PerJoint::All(5000.0),
            kd: PerJoint::All(10.0),
        },
        plant.gravity_model(),
    )
    .unwrap();
    let mut sup_lim = limits::<7>();
    sup_lim.effort = JVec::from_element(5.0);
    let clock = kotoba_core::ManualClock::new(Stamp { sec: 1, nanosec: 0 });
    let sup = Supervisor::new(cfg(), sup_lim, pd);
    let mut ls = kotoba_controller::lockstep::Lockstep::new(sup, plant, clock);
    ls.tick(None);
    let goal = q0::<7>() + JVec::from_element(0.08);
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), goal);
    ls.tick(Some(&chunk));
    for _ in 0..20 {
        let c = ls.tick(None);
        assert!(c.effort.abs().max() <= 5.0);
    }
    let ev = events(&mut ls);
    assert_eq!(
        ev.iter()
            .filter(|e| e.kind == EventKind::EffortSaturated)
            .count(),
        1,
        "{ev:?}"
    );
}

trait NowStamp {
    fn now_stamp(&self) -> Stamp;
}
impl NowStamp for kotoba_core::ManualClock {
    fn now_stamp(&self) -> Stamp {
        use kotoba_core::Clock;
        self.now()
    }
}

#[test]
fn a_target_in_the_same_tick_as_the_first_sample_is_checked_against_the_measured_pose() {
    let plant = DecoupledPlant::<7>::arm_like(q0());
    let mut ls = rig(uaic(plant.gravity_model()), plant, cfg());
    // First encoder sample and first target arrive together; the target is a
    // small, slow move from the measured pose, so it must be accepted.
    let goal = q0::<7>() + JVec::from_element(0.05);
    let chunk = TargetChunk::single(Stamp::from_secs_f64(ls.now_secs() + 0.05), goal);
    let c = ls.tick(Some(&chunk));
    assert_eq!(c.mode, Mode::Tracking);
    assert_eq!(
        kinds(&events(&mut ls)),
        vec![EventKind::Started, EventKind::PolicyResumed]
    );
    assert!(
        (c.position - q0::<7>()).abs().max() < 1e-9,
        "starts from the measured pose"
    );
}
