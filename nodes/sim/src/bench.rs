//! `kotoba bench sim`: real-time factor at 1 kHz physics, without and with one
//! 128×128 camera at 10 Hz, over a scripted fold (arm moving, towel awake and folded).

use crate::camera::Camera;
use crate::expert::{Expert, ExpertConfig};
use crate::robot::RobotModel;
use crate::sim::Sim;
use crate::task::Task;
use crate::{Result, SimConfig};
use kotoba_core::{BenchReport, BenchRow, Better};
use std::time::Instant;

struct Run {
    rtf: f64,
    step_us: f64,
    frames: u64,
    dropped: u64,
}

fn run(seconds: f64, camera: bool, seed: u64) -> Result<Run> {
    let cfg = SimConfig::default();
    let (dt, rate, (w, h)) = (
        cfg.timestep,
        cfg.camera.rate_hz,
        (cfg.camera.width, cfg.camera.height),
    );
    let mut sim = Sim::new(cfg, RobotModel::default_arm(), seed)?;
    let mut cam = if camera {
        Some(Camera::new(&sim, w, h)?)
    } else {
        None
    };
    let ecfg = ExpertConfig::default();
    let mut expert = Expert::new(Task::LeftToRight, ecfg.clone(), &sim, seed);
    let per_tick = (ecfg.period / dt).round() as u64;
    let per_frame = (1.0 / (rate * dt)).round() as u64;
    let steps = (seconds / dt) as u64;
    let mut frames = 0;
    let t0 = Instant::now();
    for k in 0..steps {
        if k % per_tick == 0 {
            let a = expert.tick(&sim);
            let _ = sim.command_positions(&a.positions);
            let _ = sim.command_gripper(a.gripper);
        }
        sim.step();
        if let Some(c) = cam.as_mut() {
            while c.try_frame()?.is_some() {
                frames += 1;
            }
            if k % per_frame == 0 {
                c.request(&sim)?;
            }
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let dropped = cam.as_ref().map_or(0, |c| c.dropped());
    Ok(Run {
        rtf: seconds / wall,
        step_us: wall / steps as f64 * 1e6,
        frames,
        dropped,
    })
}

/// Runs the benchmark; `quick` simulates 4 s instead of 12 s (the whole fold).
pub fn bench_sim(quick: bool) -> Result<BenchReport> {
    let seconds = if quick { 4.0 } else { 12.0 };
    let mut rep = BenchReport::new("sim");
    rep.note(format!("MuJoCo 3.17.0, 1 ms step, 9x9 flex towel, scripted left-to-right fold, {seconds} s simulated per run"));
    rep.note("camera: 128x128 rgb8 at 10 Hz on a render thread (Mesa EGL, CPU)");
    let plain = run(seconds, false, 1)?;
    rep.push(
        BenchRow::new("real-time factor, no camera", plain.rtf, "x").target(1.0, Better::Higher),
    );
    rep.push(BenchRow::new(
        "physics step, no camera",
        plain.step_us,
        "us",
    ));
    let cam = run(seconds, true, 1)?;
    rep.push(
        BenchRow::new("real-time factor, camera 128x128 @ 10 Hz", cam.rtf, "x")
            .target(1.0, Better::Higher),
    );
    rep.push(BenchRow::new(
        "physics step, with camera",
        cam.step_us,
        "us",
    ));
    rep.push(BenchRow::new(
        "camera frames delivered",
        cam.frames as f64,
        "frames",
    ));
    rep.push(
        BenchRow::new("camera frames dropped", cam.dropped as f64, "frames")
            .target(0.0, Better::Lower),
    );
    Ok(rep)
}
