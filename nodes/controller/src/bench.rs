//! `kotoba bench controller` and `kotoba bench rt`.
//!
//! Honest about the machine: the numbers come from whatever computer runs
//! them (a shared 2-core VM in CI), with whatever scheduling it grants; the
//! notes say what was granted. Tracking figures are on the unit-test plant
//! ([`crate::plant`]), not on an arm.

use crate::lockstep::{Lockstep, Plant};
use crate::metrics::{Histogram, HistogramSnapshot, LoopMetrics};
use crate::plant::{DecoupledPlant, PendulumGravity};
use crate::rt::{RtConfig, RtSetup};
use crate::*;
use kotoba_core::{BenchReport, BenchRow, Better, ManualClock, Stamp, SystemClock};
use std::sync::Arc;
use std::time::Duration;

const TICK_P99_TARGET_US: f64 = 10.0;
const JITTER_P999_TARGET_US: f64 = 200.0;
const MISS_TARGET_PCT: f64 = 0.1;

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

fn machine_note(r: &mut BenchReport) {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rt = std::path::Path::new("/sys/kernel/realtime").exists();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    r.note(format!(
        "load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    ));
    r.note(format!(
        "machine: {cpus} CPUs, kernel {} ({}), shared and noisy unless stated otherwise",
        kernel.trim(),
        if rt { "PREEMPT_RT" } else { "not PREEMPT_RT" }
    ));
}

fn spin_note(r: &mut BenchReport, spin_ns: u64) {
    if spin_ns > 0 {
        r.note(format!(
            "spin: the loop sleeps to {:.0} us before each deadline and spins the rest (RtConfig::spin_ns, --spin-us), {:.0} % of a CPU busy-waiting; cyclictest does not spin",
            spin_ns as f64 / 1e3,
            spin_ns as f64 / 1e4
        ));
    }
}

fn setup_note(r: &mut BenchReport, s: &RtSetup) {
    r.note(format!(
        "RT set-up: SCHED_FIFO {}, mlockall {}, cpu_dma_latency=0 {}{}",
        if s.sched_fifo { "granted" } else { "refused" },
        if s.memory_locked {
            "granted"
        } else {
            "refused"
        },
        if s.cpu_dma_latency_zero {
            "held"
        } else {
            "not held"
        },
        if s.warnings.is_empty() {
            String::new()
        } else {
            format!(" ({})", s.warnings.join("; "))
        }
    ));
}

/// Times `sup.tick` alone (supervisor + interpolation + controller), `n` ticks
/// against the plant, policy chunks at 20 Hz.
fn time_ticks<const N: usize, C: JointController<N>>(
    sup: Supervisor<N, C>,
    n: u64,
) -> (HistogramSnapshot, f64) {
    let mut tracking = 0u64;
    let q0 = JVec::<N>::from_element(0.2);
    let mut plant = DecoupledPlant::<N>::arm_like(q0);
    let mut sup = sup;
    let h = Histogram::default();
    let mut now = Stamp { sec: 1, nanosec: 0 };
    for k in 0..n {
        let t = k as f64 * 1e-3;
        let s = plant.state;
        let sample = EncoderSample {
            stamp: now,
            q: s.q,
            qd: Some(s.qd),
        };
        let chunk = (k % 50 == 0).then(|| {
            TargetChunk::single(
                now.add(Duration::from_millis(50)),
                q0 + JVec::from_fn(|i, _| 0.2 * ((t + 0.05 + i as f64).sin() - (i as f64).sin())),
            )
        });
        let t0 = rtsys::monotonic_ns();
        let cmd = sup.tick(now, Some(&sample), chunk.as_ref(), false);
        let t1 = rtsys::monotonic_ns();
        while sup.pop_event().is_some() {}
        if k > 100 {
            h.record(t1 - t0);
            tracking += (cmd.mode == Mode::Tracking) as u64;
        }
        plant.step(&cmd.effort, &JVec::zeros(), 1e-3);
        now = now.add(Duration::from_millis(1));
    }
    (
        h.snapshot(),
        tracking as f64 / (n.saturating_sub(101)).max(1) as f64,
    )
}

fn limits<const N: usize>() -> JointLimits<N> {
    JointLimits::uniform(2.5, 2.0, 87.0)
}

fn cfg() -> SupervisorConfig {
    SupervisorConfig {
        policy_period: 0.05,
        ..Default::default()
    }
}

fn pd_gains<const N: usize>(plant: &DecoupledPlant<N>) -> PdGains {
    let w = 20.0;
    PdGains {
        kp: PerJoint::Each(plant.inertia.iter().map(|i| i * w * w).collect()),
        kd: PerJoint::Each(plant.inertia.iter().map(|i| 2.0 * i * w).collect()),
    }
}

fn tick_rows<const N: usize>(r: &mut BenchReport, n: u64) {
    let g = DecoupledPlant::<N>::arm_like(JVec::zeros()).gravity_model();
    let aic = ActiveInference::new(&AicGains::default(), g).expect("default gains");
    let pd = PdGravity::new(&PdGains::default(), g).expect("default gains");
    let uaic = UnbiasedActiveInference::new(&UaicGains::default(), g).expect("default gains");
    let (a, fa) = time_ticks(Supervisor::new(cfg(), limits::<N>(), aic), n);
    let (p, fp) = time_ticks(Supervisor::new(cfg(), limits::<N>(), pd), n);
    let (u, fu) = time_ticks(Supervisor::new(cfg(), limits::<N>(), uaic), n);
    r.note(format!(
        "tick {N}j: supervisor tracking (not holding) in {:.1} % / {:.1} % / {:.1} % of timed ticks (aic / pd / uaic)",
        fa * 100.0,
        fp * 100.0,
        fu * 100.0
    ));
    for (q, name) in [(0.5, "p50"), (0.99, "p99"), (1.0, "max")] {
        let mut row = BenchRow::new(format!("tick aic {N}j {name}"), us(a.quantile(q)), "us")
            .peer(us(p.quantile(q)), Better::Lower);
        if name == "p99" {
            row = row.target(TICK_P99_TARGET_US, Better::Lower);
        }
        r.push(row);
    }
    r.push(
        BenchRow::new(format!("tick uaic {N}j p99"), us(u.quantile(0.99)), "us")
            .peer(us(p.quantile(0.99)), Better::Lower),
    );
}

/// Runs the 1 kHz loop for `secs` with the AIC on 7 joints; a feeder thread
/// plays the transport (plant stepped with the latest command, encoder
/// samples and 20 Hz targets pushed through the lock-free ports).
fn loop_rows(r: &mut BenchReport, secs: f64, spin_ns: u64) -> std::io::Result<()> {
    let nominal = DecoupledPlant::<7>::arm_like(JVec::from_element(0.2));
    let aic =
        ActiveInference::new(&AicGains::default(), nominal.gravity_model()).expect("default gains");
    let sup = Supervisor::new(cfg(), limits::<7>(), aic);
    let rt_cfg = RtConfig { spin_ns, ..RtConfig::default() };
    spin_note(r, spin_ns);
    let (core, mut ports) = rt::channel(sup, &rt_cfg);
    let metrics = ports.metrics.clone();
    let handle = rt::spawn(core, SystemClock, &rt_cfg)?;
    setup_note(r, &handle.setup);
    let clock = SystemClock;
    let mut plant = nominal;
    let start = rtsys::monotonic_ns();
    let end = start + (secs * 1e9) as u64;
    let mut effort = JVec::<7>::zeros();
    let mut k = 0u64;
    let mut events = std::collections::BTreeMap::<String, u64>::new();
    let base = metrics.snapshot();
    while rtsys::monotonic_ns() < end {
        use kotoba_core::Clock;
        let now = clock.now();
        while let Ok(c) = ports.commands.pop() {
            effort = c.effort;
        }
        while let Ok(e) = ports.events.pop() {
            *events.entry(format!("{:?}", e.kind)).or_default() += 1;
        }
        plant.step(&effort, &JVec::zeros(), 1e-3);
        ports.encoder.write(Some(EncoderSample {
            stamp: now,
            q: plant.state.q,
            qd: Some(plant.state.qd),
        }));
        if k.is_multiple_of(50) {
            let t = k as f64 * 1e-3;
            let goal = JVec::from_element(0.2)
                + JVec::from_fn(|i, _| 0.2 * ((t + 0.05 + i as f64).sin() - (i as f64).sin()));
            ports.target.write(Some(TargetChunk::single(
                now.add(Duration::from_millis(50)),
                goal,
            )));
        }
        k += 1;
        std::thread::sleep(Duration::from_micros(1000));
    }
    drop(handle.stop());
    let m = metrics.snapshot().since(&base);
    let lat = &m.wakeup_latency;
    r.note(format!(
        "loop: {secs:.0} s at 1 kHz, AIC 7 joints, transport played by a normal thread (plant + 20 Hz targets); \
         {} ticks, supervisor events {events:?}, {} commands dropped",
        m.ticks, m.commands_dropped
    ));
    let miss_pct = 100.0 * m.deadline_misses as f64 / (m.ticks + m.deadline_misses).max(1) as f64;
    r.push(BenchRow::new(
        "loop wake-up jitter p99",
        us(lat.quantile(0.99)),
        "us",
    ));
    r.push(
        BenchRow::new("loop wake-up jitter p99.9", us(lat.quantile(0.999)), "us")
            .target(JITTER_P999_TARGET_US, Better::Lower),
    );
    r.push(BenchRow::new(
        "loop wake-up jitter max",
        us(lat.window_max()),
        "us",
    ));
    r.push(BenchRow::new(
        "loop tick compute p99",
        us(m.compute.quantile(0.99)),
        "us",
    ));
    r.push(
        BenchRow::new("loop deadline misses", miss_pct, "%").target(MISS_TARGET_PCT, Better::Lower),
    );
    Ok(())
}

/// Tracking on the unit-test plant: sine RMS/max and step settling.
struct Track {
    rms: f64,
    max: f64,
    settle: f64,
}

/// Sine tracking (amplitude `amp`, `hz`) and a `step` set point, 20 Hz targets.
#[allow(clippy::too_many_arguments)]
fn track<const N: usize, C: JointController<N>, P: Plant<N>>(
    mk: impl Fn() -> C,
    mk_plant: impl Fn() -> P,
    q0: JVec<N>,
    amp: f64,
    hz: f64,
    step: f64,
    limits: JointLimits<N>,
) -> Track {
    let traj = |t: f64| {
        q0 + JVec::from_fn(|i, _| {
            amp * ((std::f64::consts::TAU * hz * t + i as f64).sin() - (i as f64).sin())
        })
    };
    let run = |goal: &dyn Fn(f64) -> JVec<N>, secs: f64| {
        let sup = Supervisor::new(cfg(), limits, mk());
        let mut ls = Lockstep::new(
            sup,
            mk_plant(),
            ManualClock::new(Stamp {
                sec: 100,
                nanosec: 0,
            }),
        );
        ls.tick(None);
        let t0 = ls.now_secs();
        let mut err = Vec::new();
        for k in 0..(secs * 1000.0) as u64 {
            let t = k as f64 * 1e-3;
            let chunk = (k % 50 == 0)
                .then(|| TargetChunk::single(Stamp::from_secs_f64(t0 + t + 0.05), goal(t + 0.05)));
            ls.tick(chunk.as_ref());
            err.push((ls.plant.state().q - goal(t + 1e-3)).abs().max());
        }
        err
    };
    let err = run(&traj, 6.0);
    let s = &err[1000..];
    let rms = (s.iter().map(|x| x * x).sum::<f64>() / s.len() as f64).sqrt();
    let max = s.iter().cloned().fold(0.0, f64::max);
    let err = run(&|_| q0 + JVec::from_element(step), 10.0);
    // Settling: last time the error was outside 5 % of the step; infinite
    // when it is still outside at the end of the run (a steady-state offset).
    let band = 0.05 * step;
    let settle = match err.iter().rposition(|e| *e > band) {
        Some(i) if i + 1 == err.len() => f64::INFINITY,
        Some(i) => (i + 1) as f64 * 1e-3,
        None => 0.0,
    };
    Track { rms, max, settle }
}

fn push_rows(r: &mut BenchReport, label: &str, aic: &Track, uaic: &Track, pd: &Track) {
    for (name, t) in [("aic", aic), ("uaic", uaic)] {
        r.push(
            BenchRow::new(
                format!("{name} sine error rms, {label}"),
                t.rms * 1e3,
                "mrad",
            )
            .peer(pd.rms * 1e3, Better::Lower),
        );
        r.push(
            BenchRow::new(
                format!("{name} sine error max, {label}"),
                t.max * 1e3,
                "mrad",
            )
            .peer(pd.max * 1e3, Better::Lower),
        );
        let row = BenchRow::new(format!("{name} step settling (5%), {label}"), t.settle, "s");
        // Both never settled: no meaningful ratio.
        r.push(if t.settle.is_infinite() && pd.settle.is_infinite() {
            row
        } else {
            row.peer(pd.settle, Better::Lower)
        });
    }
}

fn tracking_rows(r: &mut BenchReport) {
    let nominal = DecoupledPlant::<7>::arm_like(JVec::zeros());
    let g: PendulumGravity<7> = nominal.gravity_model();
    let q0 = JVec::<7>::from_fn(|i, _| 0.3 - 0.1 * i as f64);
    for (label, plant) in [
        ("test plant", nominal.clone()),
        (
            "test plant, payload +1.5 kg @0.4 m",
            nominal.clone().with_payload(1.5, 0.4),
        ),
    ] {
        let mk_plant = || {
            let mut p = plant.clone();
            p.state = JointState::at_rest(q0);
            p
        };
        let l = limits::<7>();
        let aic = track(
            || ActiveInference::new(&AicGains::default(), g).expect("gains"),
            mk_plant,
            q0,
            0.25,
            0.5,
            0.08,
            l,
        );
        let uaic = track(
            || UnbiasedActiveInference::new(&UaicGains::default(), g).expect("gains"),
            mk_plant,
            q0,
            0.25,
            0.5,
            0.08,
            l,
        );
        let pd = track(
            || PdGravity::new(&pd_gains(&nominal), g).expect("gains"),
            mk_plant,
            q0,
            0.25,
            0.5,
            0.08,
            l,
        );
        push_rows(r, label, &aic, &uaic, &pd);
    }
}

/// The same figures on the MuJoCo arm of `kotoba-sim` (feature `mujoco`).
#[cfg(feature = "mujoco")]
fn mujoco_rows(r: &mut BenchReport) {
    use crate::mujoco::{ARM_JOINTS, SimArm, URDF};
    r.note("tracking on the MUJOCO ARM (kotoba-sim, UR5e-class, 1 ms physics step per tick): 0.25 Hz sine of 0.1 rad, 0.05 rad step; gravity model from the URDF; wrong payload = the controllers' model carries 1.5 kg more on the last link; AIC with AicGains::arm_tracking (tau 50 ms, velocity feed-forward); peer = PD (PdGains::arm_tracking: kp 400/400/300/60/60/30, kd 40/40/30/6/6/3)");
    let (Ok(limits), Ok(g)) = (
        JointLimits::<6>::from_urdf_str(URDF, Some(&ARM_JOINTS)),
        ChainGravity::<6>::from_urdf_str(URDF, Some(&ARM_JOINTS)),
    ) else {
        r.note("MuJoCo rows skipped: the arm URDF did not load");
        return;
    };
    let wrong = g.with_payload(1.5);
    let pd_gains = PdGains::arm_tracking();
    let home = JVec::<6>::from_row_slice(&kotoba_sim::HOME);
    let mk_plant = || {
        SimArm::new(kotoba_sim::SimConfig::default(), 1, 1e-3).expect("the default scene builds")
    };
    for (label, gm) in [("MuJoCo arm", &g), ("MuJoCo arm, wrong payload", &wrong)] {
        let aic = track(
            || ActiveInference::new(&AicGains::arm_tracking(), gm.clone()).expect("gains"),
            mk_plant,
            home,
            0.1,
            0.25,
            0.05,
            limits,
        );
        let uaic = track(
            || UnbiasedActiveInference::new(&UaicGains::default(), gm.clone()).expect("gains"),
            mk_plant,
            home,
            0.1,
            0.25,
            0.05,
            limits,
        );
        let pd = track(
            || PdGravity::new(&pd_gains, gm.clone()).expect("gains"),
            mk_plant,
            home,
            0.1,
            0.25,
            0.05,
            limits,
        );
        push_rows(r, label, &aic, &uaic, &pd);
    }
}

/// `kotoba bench controller`.
pub fn controller(quick: bool, spin_ns: u64) -> std::io::Result<BenchReport> {
    let mut r = BenchReport::new("controller");
    machine_note(&mut r);
    let n = if quick { 20_000 } else { 200_000 };
    r.note(if cfg!(debug_assertions) { "build: debug profile (opt-level 1 here, 3 for nalgebra): tick times are pessimistic; use --release for the real figure" } else { "build: release" });
    r.note(format!("tick: supervisor + interpolation + controller step, {n} ticks timed with CLOCK_MONOTONIC (~20-50 ns overhead) on a normal thread, so max includes preemption by the rest of the machine; peer = PD + gravity compensation in the same run"));
    tick_rows::<6>(&mut r, n);
    tick_rows::<7>(&mut r, n);
    loop_rows(&mut r, if quick { 5.0 } else { 60.0 }, spin_ns)?;
    r.note("tracking: on the UNIT-TEST PLANT (decoupled joints, inertia + damping + pendulum gravity, see kotoba_controller::plant), NOT the MuJoCo arm; 0.5 Hz sine of 0.25 rad via 20 Hz targets + cubic interpolation, error vs the true sine after 1 s; 0.08 rad step (1.6 rad/s over one policy period, under the 2 rad/s limit); controllers get the nominal gravity model; peer = PD (critically damped at 20 rad/s on the nominal plant); settling inf = still outside the band after 10 s (steady-state offset); errors are the worst joint per tick");
    tracking_rows(&mut r);
    #[cfg(feature = "mujoco")]
    mujoco_rows(&mut r);
    #[cfg(not(feature = "mujoco"))]
    r.note("MuJoCo arm rows not built: build with the `mujoco` feature (kotoba-controller/mujoco)");
    Ok(r)
}

/// `kotoba bench rt`: the machine's own 1 kHz wake-up jitter, an empty tick on
/// a SCHED_FIFO thread (when granted), like `cyclictest -m -p50 -i1000`.
pub fn rt(quick: bool, spin_ns: u64) -> std::io::Result<BenchReport> {
    let mut r = BenchReport::new("rt");
    machine_note(&mut r);
    let secs = if quick { 5.0 } else { 60.0 };
    let cfg = RtConfig { spin_ns, ..RtConfig::default() };
    spin_note(&mut r, spin_ns);
    let metrics = Arc::new(LoopMetrics::default());
    let h = rt::spawn_loop(&cfg, metrics.clone(), (), |_| {})?;
    setup_note(&mut r, &h.setup);
    std::thread::sleep(Duration::from_secs_f64(secs));
    drop(h.stop());
    let m = metrics.snapshot();
    let lat = &m.wakeup_latency;
    r.note(format!(
        "{secs:.0} s at 1 kHz, empty tick, {} wake-ups, histogram resolution 1/64",
        m.ticks
    ));
    let peer = cyclictest(secs);
    match &peer {
        Some(_) => r.note(format!("peer: cyclictest -m -p50 -t1 -i1000 -h2000 for {secs:.0} s right after, same machine (1 us histogram)")),
        None => r.note("peer: cyclictest not found (nodes/controller/scripts/install-rt-tests.sh installs it)"),
    };
    let rows = [
        (
            "wake-up latency p50",
            us(lat.quantile(0.5)),
            peer.as_ref().map(|c| c.p50),
        ),
        (
            "wake-up latency p99",
            us(lat.quantile(0.99)),
            peer.as_ref().map(|c| c.p99),
        ),
        (
            "wake-up latency p99.9",
            us(lat.quantile(0.999)),
            peer.as_ref().map(|c| c.p999),
        ),
        (
            "wake-up latency max",
            us(lat.max),
            peer.as_ref().map(|c| c.max),
        ),
    ];
    for (name, v, p) in rows {
        let mut row = BenchRow::new(name, v, "us");
        if let Some(p) = p {
            row = row.peer(p, Better::Lower);
        }
        if name.ends_with("p99.9") {
            row = row.target(JITTER_P999_TARGET_US, Better::Lower);
        }
        r.push(row);
    }
    let miss_pct = 100.0 * m.deadline_misses as f64 / (m.ticks + m.deadline_misses).max(1) as f64;
    r.push(BenchRow::new("deadline misses", miss_pct, "%").target(MISS_TARGET_PCT, Better::Lower));
    Ok(r)
}

/// cyclictest's figures from its histogram (1 µs buckets up to 2 ms).
struct Cyclic {
    p50: f64,
    p99: f64,
    p999: f64,
    max: f64,
}

/// Runs cyclictest if installed, with the same period, priority and mlockall.
fn cyclictest(secs: f64) -> Option<Cyclic> {
    let loops = (secs * 1000.0) as u64;
    let out = std::process::Command::new("cyclictest")
        .args([
            "-m",
            "-p50",
            "-t1",
            "-i1000",
            "-q",
            "-h",
            "2000",
            "-l",
            &loops.to_string(),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut hist: Vec<(f64, u64)> = Vec::new();
    let mut max = None;
    let mut overflows = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# Max Latencies:") {
            max = rest
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<f64>().ok());
        } else if let Some(rest) = line.strip_prefix("# Histogram Overflows:") {
            overflows = rest
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
        } else if !line.starts_with('#') {
            let mut it = line.split_whitespace().map(|x| x.parse::<u64>());
            if let (Some(Ok(us)), Some(Ok(n))) = (it.next(), it.next()) {
                hist.push((us as f64, n));
            }
        }
    }
    let max = max?;
    let total: u64 = hist.iter().map(|h| h.1).sum::<u64>() + overflows;
    let q = |p: f64| {
        let rank = ((p * total as f64).ceil() as u64).max(1);
        let mut acc = 0;
        for (us, n) in &hist {
            acc += n;
            if acc >= rank {
                return *us;
            }
        }
        max // in the overflow bucket
    };
    Some(Cyclic {
        p50: q(0.5),
        p99: q(0.99),
        p999: q(0.999),
        max,
    })
}
