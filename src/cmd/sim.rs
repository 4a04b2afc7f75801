//! `kotoba sim`: the simulated robot as a ROS 2 node — a thin adapter over
//! `kotoba_sim::Sim` (physics, commands, encoders) and `kotoba_sim::Camera`.
//!
//! Publishes `/joint_states` every physics step (1 kHz), `/clock`, `/camera/image_raw`
//! (rgb8) at `--camera-rate`, `/robot_description` (latched). Accepts ros2_control-style
//! commands: `/<position-controller>/commands` and `/<effort-controller>/commands`
//! (std_msgs/Float64MultiArray), `/<position-controller>/joint_trajectory`
//! (trajectory_msgs/JointTrajectory: its first point's positions are taken as the target), and
//! `/<gripper-controller>/commands` (one value: finger opening in metres).

use crate::cmd::conn::ConnArgs;
use anyhow::{Context, Result};
use clap::Args;
use kotoba_bus::{Bus, Qos};
use kotoba_msgs::{
    builtin_interfaces::Time, rosgraph_msgs::Clock, sensor_msgs, std_msgs, trajectory_msgs,
};
use kotoba_sim::{Camera, JointReading, RobotModel, Sim, SimConfig, StepEvent};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct SimArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Episode seed (towel pose/size/colour, lighting, arm start pose).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Simulator config (YAML, `kotoba_sim::SimConfig`); defaults otherwise.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Lockstep: advance `--steps-per-command` physics steps only when a position or
    /// effort command arrives (deterministic; for tests and data generation).
    /// Otherwise the sim is paced to the wall clock.
    #[arg(long)]
    pub lockstep: bool,
    /// Physics steps per received command in lockstep mode.
    #[arg(long, default_value_t = 1)]
    pub steps_per_command: u32,
    /// Camera frames per simulated second (0 = no camera).
    #[arg(long, default_value_t = 10.0)]
    pub camera_rate: f64,
    /// Camera width and height (up to 640x480).
    #[arg(long, default_value_t = 128)]
    pub width: u32,
    #[arg(long, default_value_t = 128)]
    pub height: u32,
    /// Name of the position controller (topics `/<name>/commands`, `/<name>/joint_trajectory`).
    #[arg(long, default_value = "position_controller")]
    pub position_controller: String,
    /// Name of the effort controller (topic `/<name>/commands`).
    #[arg(long, default_value = "effort_controller")]
    pub effort_controller: String,
    /// Name of the gripper controller (topic `/<name>/commands`).
    #[arg(long, default_value = "gripper_controller")]
    pub gripper_controller: String,
    /// Stop after this many simulated seconds (runs until Ctrl-C otherwise).
    #[arg(long)]
    pub duration: Option<f64>,
}

fn stamp(t: f64) -> Time {
    kotoba_msgs::time_from_nanos((t * 1e9).round() as i64)
}

pub fn run(a: SimArgs) -> Result<()> {
    let cfg: SimConfig = match &a.config {
        Some(p) => serde_yaml::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?,
        )
        .with_context(|| format!("parsing {}", p.display()))?,
        None => SimConfig::default(),
    };
    let robot = RobotModel::default_arm();
    let mut sim = Sim::new(cfg, robot.clone(), a.seed)?;
    let bus = Bus::open(&a.conn.bus_config(), "kotoba_sim")?;
    let js_pub = bus.publisher::<sensor_msgs::JointState>("/joint_states", Qos::sensor_data())?;
    let clock_pub = bus.publisher::<Clock>("/clock", Qos::sensor_data())?;
    let img_pub = bus.publisher::<sensor_msgs::Image>("/camera/image_raw", Qos::sensor_data())?;
    let desc_pub = bus.publisher::<std_msgs::String>("/robot_description", Qos::latched())?;
    desc_pub.publish(&std_msgs::String {
        data: robot.urdf_text.clone(),
    })?;
    let depth = Qos::default().with_depth(if a.lockstep { 1000 } else { 10 });
    let pos_sub = bus.subscriber::<std_msgs::Float64MultiArray>(
        &format!("/{}/commands", a.position_controller),
        depth,
    )?;
    let traj_sub = bus.subscriber::<trajectory_msgs::JointTrajectory>(
        &format!("/{}/joint_trajectory", a.position_controller),
        Qos::default(),
    )?;
    let eff_sub = bus.subscriber::<std_msgs::Float64MultiArray>(
        &format!("/{}/commands", a.effort_controller),
        depth,
    )?;
    let grip_sub = bus.subscriber::<std_msgs::Float64MultiArray>(
        &format!("/{}/commands", a.gripper_controller),
        Qos::default(),
    )?;
    let mut cam = if a.camera_rate > 0.0 {
        Some(Camera::new(&sim, a.width, a.height)?)
    } else {
        None
    };
    let dt = sim.config().timestep;
    let frame_every = if a.camera_rate > 0.0 {
        ((1.0 / (a.camera_rate * dt)).round() as u64).max(1)
    } else {
        u64::MAX
    };
    let names = robot.joint_names();
    let mut reading = JointReading::default();
    let (t0, sim0) = (Instant::now(), sim.time());
    let mut last_report = Instant::now();
    tracing::info!(lockstep = a.lockstep, camera = ?cam.as_ref().map(|c| c.size()), "kotoba sim running");
    let apply = |sim: &mut Sim, r: kotoba_sim::Result<()>, what: &str| {
        if let Err(e) = r {
            tracing::warn!(error = %e, "{what} command rejected; holding the last valid target");
        }
        let _ = sim;
    };
    loop {
        if a.duration.is_some_and(|d| sim.time() - sim0 >= d) {
            break;
        }
        let mut got_command = false;
        while let Some(m) = pos_sub.try_recv() {
            let r = sim.command_positions(&m.data);
            apply(&mut sim, r, "position");
            got_command = true;
        }
        while let Some(m) = eff_sub.try_recv() {
            let r = sim.command_efforts(&m.data);
            apply(&mut sim, r, "effort");
            got_command = true;
        }
        while let Some(m) = traj_sub.try_recv() {
            match m.points.first() {
                Some(p) => {
                    let r = sim.command_positions(&p.positions);
                    apply(&mut sim, r, "trajectory");
                }
                None => tracing::warn!("trajectory without points ignored"),
            }
            got_command = true;
        }
        while let Some(m) = grip_sub.try_recv() {
            let r = match m.data.as_slice() {
                [x] => sim.command_gripper(*x),
                _ => Err(kotoba_sim::SimError::WrongLength {
                    what: "gripper",
                    expected: "1".into(),
                    got: m.data.len(),
                }),
            };
            apply(&mut sim, r, "gripper");
        }
        let steps = if a.lockstep {
            if !got_command {
                std::thread::sleep(Duration::from_micros(100));
                continue;
            }
            a.steps_per_command.max(1)
        } else {
            1
        };
        for _ in 0..steps {
            if let StepEvent::Unstable { reason } = sim.step() {
                tracing::warn!(%reason, "unstable physics: episode reset, still running");
            }
            sim.read_joints(&mut reading);
            let header = std_msgs::Header {
                stamp: stamp(reading.time),
                frame_id: String::new(),
            };
            js_pub.publish(&sensor_msgs::JointState {
                header,
                name: names.clone(),
                position: reading.position.clone(),
                velocity: reading.velocity.clone(),
                effort: reading.effort.clone(),
            })?;
            clock_pub.publish(&Clock {
                clock: stamp(reading.time),
            })?;
            if let Some(c) = cam.as_mut() {
                if sim.steps() % frame_every == 0 {
                    c.request(&sim)?;
                }
                while let Some(f) = c.try_frame()? {
                    img_pub.publish(&sensor_msgs::Image {
                        header: std_msgs::Header {
                            stamp: stamp(f.time),
                            frame_id: "camera".into(),
                        },
                        height: f.height,
                        width: f.width,
                        encoding: "rgb8".into(),
                        is_bigendian: 0,
                        step: f.width * 3,
                        data: kotoba_msgs::ZBuf::from(f.rgb),
                    })?;
                }
            }
        }
        let (sim_el, wall) = (sim.time() - sim0, t0.elapsed().as_secs_f64());
        if !a.lockstep && sim_el > wall {
            std::thread::sleep(Duration::from_secs_f64(sim_el - wall));
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            last_report = Instant::now();
            tracing::info!(
                sim_s = format!("{sim_el:.1}"),
                rtf = format!("{:.2}", sim_el / wall.max(1e-9)),
                dropped_frames = cam.as_ref().map_or(0, |c| c.dropped()),
                "real-time factor"
            );
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    println!(
        "simulated {:.2} s in {:.2} s wall: real-time factor {:.2}",
        sim.time() - sim0,
        wall,
        (sim.time() - sim0) / wall
    );
    Ok(())
}
