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

#[test]
fn a_spinning_loop_ticks_and_a_margin_of_a_whole_period_is_refused() {
    use std::sync::Arc;
    let cfg = RtConfig { lock_memory: false, priority: 0, spin_ns: 200_000, ..RtConfig::default() };
    let metrics = Arc::new(kotoba_controller::metrics::LoopMetrics::default());
    let h = rt::spawn_loop(&cfg, metrics.clone(), 0u64, |n| *n += 1).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let ticks = h.stop().unwrap();
    let m = metrics.snapshot();
    assert!(ticks > 10 && m.ticks == ticks, "{ticks} ticks, metrics {}", m.ticks);
    assert_eq!(m.wakeup_latency.count(), ticks);

    let whole = RtConfig { spin_ns: cfg.period_ns, ..cfg };
    let err = rt::spawn_loop(&whole, metrics, (), |_| {}).err().expect("refused");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("spin margin"), "{err}");
}
