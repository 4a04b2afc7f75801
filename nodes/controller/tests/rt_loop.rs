//! The RT thread end to end: ports in, commands/events/metrics out, stop hands
//! the core back. Functional only (no timing assertions: this runs on shared
//! CI machines; `kotoba bench controller` measures timing).

use kotoba_controller::plant::DecoupledPlant;
use kotoba_controller::rt::{self, RtConfig};
use kotoba_controller::*;
use kotoba_core::{Clock, SystemClock};
use std::time::Duration;

#[test]
fn loop_thread_runs_and_hands_the_core_back() {
    let plant = DecoupledPlant::<6>::arm_like(JVec::from_element(0.1));
    let pd = PdGravity::new(&PdGains::default(), plant.gravity_model()).unwrap();
    let sup = Supervisor::new(
        SupervisorConfig::default(),
        JointLimits::uniform(2.5, 2.0, 87.0),
        pd,
    );
    // Ask for SCHED_FIFO and mlockall like production; refusal must not fail.
    let cfg = RtConfig {
        lock_memory: false,
        ..RtConfig::default()
    };
    let (core, mut ports) = rt::channel(sup, &cfg);
    let handle = rt::spawn(core, SystemClock, &cfg).unwrap();
    assert!(handle.is_running());
    if !handle.setup.sched_fifo {
        assert!(!handle.setup.warnings.is_empty(), "a refusal is explained");
    }
    let mut commands = 0;
    let mut last = None;
    for _ in 0..100 {
        ports.encoder.write(Some(EncoderSample {
            stamp: SystemClock.now(),
            q: plant.state.q,
            qd: None,
        }));
        std::thread::sleep(Duration::from_millis(2));
        while let Ok(c) = ports.commands.pop() {
            commands += 1;
            last = Some(c);
        }
        if commands > 20 {
            break;
        }
    }
    assert!(commands > 20, "commands flow out ({commands})");
    assert_eq!(last.unwrap().mode, Mode::Holding);
    assert_eq!(ports.events.pop().map(|e| e.kind), Ok(EventKind::Started));
    ports
        .estop
        .store(true, std::sync::atomic::Ordering::Release);
    std::thread::sleep(Duration::from_millis(20));
    let core = handle.stop().unwrap();
    assert_eq!(core.supervisor.mode(), Mode::EStopped);
    let m = ports.metrics.snapshot();
    assert!(m.ticks > 20 && m.wakeup_latency.count() == m.ticks && m.compute.count() == m.ticks);
}
