//! Proves that a control tick allocates nothing: supervisor (input checks,
//! interpolation, watchdogs, limits, events) + controller step, for the AIC,
//! the unbiased AIC and PD, 6 and 7 joints, and the lock-free loop core.

use kotoba_controller::plant::DecoupledPlant;
use kotoba_controller::*;
use kotoba_core::Stamp;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

/// Drives `ticks` ticks covering every path: tracking with chunks, a NaN
/// target, a jump, clamping, saturation, a policy stall, stale and resumed
/// encoders, e-stop and its clearing. Returns the allocations counted.
fn exercise<const N: usize, C: JointController<N>>(mut sup: Supervisor<N, C>) -> u64 {
    let mut seen = [false; 32];
    let mut plant = DecoupledPlant::<N>::arm_like(JVec::from_element(0.1));
    let dt = 0.001;
    // Warm-up outside the count (first-use lazies, if any, are not per-tick).
    let mut now = Stamp {
        sec: 10,
        nanosec: 0,
    };
    let mut run = |sup: &mut Supervisor<N, C>, k: u64, now: &mut Stamp, seen: &mut [bool; 32]| {
        let s = plant.state;
        let sample = EncoderSample {
            stamp: *now,
            q: s.q,
            qd: k.is_multiple_of(2).then_some(s.qd),
        };
        let enc = (!(3000..3020).contains(&k)).then_some(&sample);
        let t = k as f64 * dt;
        let mut goal =
            JVec::<N>::from_fn(|i, _| 0.1 + 0.2 * ((t + i as f64).sin() - (i as f64).sin()));
        if k == 1500 {
            goal[0] = f64::NAN;
        }
        if k == 1600 {
            goal[1] += 0.9;
        }
        if k == 1700 {
            goal[2] = 9.0;
        }
        let mut chunk = TargetChunk::single(now.add(std::time::Duration::from_millis(50)), goal);
        if k.is_multiple_of(200) {
            let _ = chunk.push(now.add(std::time::Duration::from_millis(100)), goal);
        }
        let policy = k.is_multiple_of(50) && !(2000..2400).contains(&k);
        let estop = (4000..4010).contains(&k);
        if k == 4020 {
            sup.clear_estop();
        }
        let cmd = sup.tick(*now, enc, policy.then_some(&chunk), estop);
        while let Some(e) = sup.pop_event() {
            seen[e.kind as usize] = true;
        }
        plant.step(&cmd.effort, &JVec::zeros(), dt);
        *now = now.add(std::time::Duration::from_millis(1));
    };
    for k in 0..100 {
        run(&mut sup, k, &mut now, &mut seen);
    }
    let before = allocs();
    for k in 100..5000 {
        run(&mut sup, k, &mut now, &mut seen);
    }
    let n = allocs() - before;
    use EventKind::*;
    for kind in [
        Started,
        TargetNonFinite,
        TargetJump,
        TargetClamped,
        PolicyStale,
        PolicyResumed,
        EncoderStale,
        EncoderRecovered,
        EStop,
        EStopCleared,
        EffortSaturated,
    ] {
        assert!(seen[kind as usize], "the run never went through {kind:?}");
    }
    n
}

fn limits<const N: usize>() -> JointLimits<N> {
    let mut l = JointLimits::uniform(2.5, 2.0, 87.0);
    l.effort[1] = 1.0; // below the gravity load of joint 1: forces saturation events
    l
}

#[test]
fn ticks_do_not_allocate() {
    let cfg = SupervisorConfig {
        policy_period: 0.05,
        ..Default::default()
    };
    let g7 = DecoupledPlant::<7>::arm_like(JVec::zeros()).gravity_model();
    let g6 = DecoupledPlant::<6>::arm_like(JVec::zeros()).gravity_model();
    let n = exercise(Supervisor::new(
        cfg.clone(),
        limits::<7>(),
        ActiveInference::new(&AicGains::default(), g7).unwrap(),
    ));
    assert_eq!(n, 0, "aic 7");
    let n = exercise(Supervisor::new(
        cfg.clone(),
        limits::<6>(),
        ActiveInference::new(&AicGains::default(), g6).unwrap(),
    ));
    assert_eq!(n, 0, "aic 6");
    let n = exercise(Supervisor::new(
        cfg.clone(),
        limits::<7>(),
        UnbiasedActiveInference::new(&UaicGains::default(), g7).unwrap(),
    ));
    assert_eq!(n, 0, "uaic 7");
    let n = exercise(Supervisor::new(
        cfg.clone(),
        limits::<6>(),
        PdGravity::new(&PdGains::default(), g6).unwrap(),
    ));
    assert_eq!(n, 0, "pd 6");
    let interp = SupervisorConfig {
        interpolation: Interpolation::Linear,
        ..cfg.clone()
    };
    let n = exercise(Supervisor::new(
        interp,
        limits::<7>(),
        PdGravity::new(&PdGains::default(), g7).unwrap(),
    ));
    assert_eq!(n, 0, "pd 7 linear");
}

#[test]
fn a_counted_allocation_is_seen() {
    let before = allocs();
    let v = std::hint::black_box(vec![1u8; 16]);
    drop(v);
    assert_eq!(allocs() - before, 1, "the counter works");
}

#[test]
fn loop_core_tick_does_not_allocate() {
    use kotoba_controller::rt::{RtConfig, channel};
    let g7 = DecoupledPlant::<7>::arm_like(JVec::zeros()).gravity_model();
    let sup = Supervisor::new(
        SupervisorConfig::default(),
        limits::<7>(),
        ActiveInference::new(&AicGains::default(), g7).unwrap(),
    );
    let (mut core, mut ports) = channel(sup, &RtConfig::default());
    let mut now = Stamp { sec: 1, nanosec: 0 };
    let mut count = 0;
    for k in 0..3000u64 {
        // The transport side (other threads in real use) pushes and drains.
        ports.encoder.write(Some(EncoderSample {
            stamp: now,
            q: JVec::from_element(0.1),
            qd: None,
        }));
        if k % 50 == 0 {
            ports.target.write(Some(TargetChunk::single(
                now.add(std::time::Duration::from_millis(50)),
                JVec::from_element(0.15),
            )));
        }
        let before = allocs();
        core.tick(now);
        if k >= 10 {
            count += allocs() - before;
        }
        while ports.commands.pop().is_ok() {}
        while ports.events.pop().is_ok() {}
        now = now.add(std::time::Duration::from_millis(1));
    }
    assert_eq!(count, 0);
}
