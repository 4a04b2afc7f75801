//! Records the sample dataset: the simulator's scripted demonstrator folding
//! the towel, a few episodes per instruction, written in lockstep (no network)
//! through `kotoba_recorder::Dataset`.
//!
//! ```text
//! scripts/setup_mujoco.sh && . scripts/env.sh
//! cargo run --release -p kotoba-recorder --features sim --example record_sim -- demos/sample 3
//! ```

use kotoba_msgs::{Qos, ZBuf, sensor_msgs, std_msgs, time_from_nanos};
use kotoba_recorder::{Dataset, EpisodeMeta, WriterOptions};
use kotoba_sim::expert::{Expert, ExpertConfig};
use kotoba_sim::task::{Task, score};
use kotoba_sim::{Camera, JointReading, RobotModel, Sim, SimConfig};
use sha2::Digest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).map(String::as_str).unwrap_or("demos/sample"));
    let per_task: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let (w, h) = (64u32, 48u32);
    let mut sim_cfg = SimConfig::default();
    sim_cfg.camera.width = w;
    sim_cfg.camera.height = h;
    let mut sim = Sim::new(sim_cfg, RobotModel::default_arm(), 0)?;
    // Arm joints then the gripper, the order of `JointReading`.
    let names: Vec<String> = sim.robot().joint_names();
    let urdf_hash = hex::encode(sha2::Sha256::digest(kotoba_sim::DEFAULT_URDF.as_bytes()));
    let mut ds = Dataset::create(&out, "/labels", "/instruction")?;
    let opts = WriterOptions::default();
    let cfg = ExpertConfig::default();
    // Sim time is mapped onto a fixed epoch so the files are reproducible.
    let base_ns: i64 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
    let ns = |t: f64| base_ns + (t * 1e9).round() as i64;
    let (js_q, img_q, cmd_q) = (Qos::default().with_depth(100), Qos::sensor_data(), Qos::default());
    for task in Task::ALL {
        for seed in 0..per_task {
            sim.reset(seed)?;
            // The scene is rebuilt on reset (randomised towel), so is the camera.
            let mut cam = Camera::new(&sim, w, h)?;
            let t0 = sim.time();
            let start = sim.towel_vertices().to_vec();
            let meta = EpisodeMeta {
                instruction: task.instruction().into(),
                operator: "scripted-expert".into(),
                robot_description_hash: Some(urdf_hash.clone()),
            };
            let mut ep = ds.begin_episode(meta, &opts)?;
            let instr = std_msgs::String { data: task.instruction().into() };
            ep.write_msg("/instruction", &Qos::latched(), &instr, ns(t0), ns(t0))?;
            let mut expert = Expert::new(task, cfg.clone(), &sim, seed);
            let steps = ((cfg.period / sim.config().timestep).round() as usize).max(1);
            let frame_every = (1.0 / sim.config().camera.rate_hz / cfg.period).round().max(1.0) as u64;
            let mut reading = JointReading::with_joints(names.len());
            let mut tick = 0u64;
            while !expert.done() && sim.time() - t0 < 40.0 {
                let a = expert.tick(&sim);
                let now = ns(sim.time());
                if let Some(l) = a.label {
                    ep.write_msg("/labels", &cmd_q, &std_msgs::String { data: l.into() }, now, now)?;
                }
                let mut cmd = a.positions.clone();
                cmd.push(a.gripper);
                ep.write_msg("/arm_controller/commands", &cmd_q, &std_msgs::Float64MultiArray { data: cmd, ..Default::default() }, now, now)?;
                sim.command_positions(&a.positions)?;
                sim.command_gripper(a.gripper)?;
                for _ in 0..steps {
                    sim.step();
                }
                sim.read_joints(&mut reading);
                let t = ns(sim.time());
                let js = sensor_msgs::JointState {
                    header: std_msgs::Header { stamp: time_from_nanos(t), frame_id: String::new() },
                    name: names.clone(),
                    position: reading.position.clone(),
                    velocity: reading.velocity.clone(),
                    effort: reading.effort.clone(),
                };
                ep.write_msg("/joint_states", &js_q, &js, t, t)?;
                if tick % frame_every == 0 {
                    let f = cam.capture(&sim)?;
                    let ft = ns(f.time);
                    let img = sensor_msgs::Image {
                        header: std_msgs::Header { stamp: time_from_nanos(ft), frame_id: "camera".into() },
                        height: f.height,
                        width: f.width,
                        encoding: "rgb8".into(),
                        is_bigendian: 0,
                        step: f.width * 3,
                        data: ZBuf::from(f.rgb),
                    };
                    ep.write_msg("/camera/image_raw", &img_q, &img, t, ft)?;
                }
                tick += 1;
            }
            sim.step_n((0.5 / sim.config().timestep) as usize);
            let s = score(task, sim.config().towel.count, &start, sim.towel_vertices());
            let e = ds.save_episode(ep, s.success)?;
            println!("{} {:?} seed {seed}: {:.1} s, success {}, labels {}", e.name, task, e.duration_s, e.success, e.labels.len());
        }
    }
    Ok(())
}
