//! Scripted demonstrations recorded in lockstep with the simulator (feature
//! `sim`): the expert folds, speaks its labels, and every message is written
//! through the same [`Episode`] API as a live recording, stamped in sim time.
//! Used by `kotoba demo` and the sample-dataset example.

use crate::dataset::{Dataset, EpisodeEntry};
use crate::episode::{Episode, EpisodeMeta};
use crate::error::Result;
use crate::writer::WriterOptions;
use kotoba_msgs::{Qos, ZBuf, sensor_msgs, std_msgs, time_from_nanos};
use kotoba_sim::expert::{Expert, ExpertConfig};
use kotoba_sim::task::{FoldScore, Task, score};
use kotoba_sim::{Camera, Frame, JointReading, Sim};

/// Sim time is mapped onto this epoch (2026-01-01T00:00:00Z) so files are reproducible.
pub const EPOCH_NS: i64 = 1_767_225_600_000_000_000;

/// Topic names the scripted recording (and the demo's rollouts) use.
pub mod topics {
    pub const JOINT_STATES: &str = "/joint_states";
    pub const IMAGE: &str = "/camera/image_raw";
    pub const COMMANDS: &str = "/arm_controller/commands";
    pub const LABELS: &str = "/labels";
    pub const INSTRUCTION: &str = "/instruction";
}

/// Sim seconds → stamp in ns.
pub fn sim_ns(t: f64) -> i64 {
    EPOCH_NS + (t * 1e9).round() as i64
}

/// Writes the sim's encoder reading as a `JointState` (arm joints then gripper).
pub fn write_joint_state(ep: &mut Episode, names: &[String], r: &JointReading, t_ns: i64) -> Result<()> {
    let js = sensor_msgs::JointState {
        header: std_msgs::Header { stamp: time_from_nanos(t_ns), frame_id: String::new() },
        name: names.to_vec(),
        position: r.position.clone(),
        velocity: r.velocity.clone(),
        effort: r.effort.clone(),
    };
    ep.write_msg(topics::JOINT_STATES, &Qos::default().with_depth(100), &js, t_ns, t_ns)
}

/// Writes a rendered frame as an rgb8 `Image`.
pub fn write_image(ep: &mut Episode, f: &Frame, recv_ns: i64) -> Result<()> {
    let ft = sim_ns(f.time);
    let img = sensor_msgs::Image {
        header: std_msgs::Header { stamp: time_from_nanos(ft), frame_id: "camera".into() },
        height: f.height,
        width: f.width,
        encoding: "rgb8".into(),
        is_bigendian: 0,
        step: f.width * 3,
        data: ZBuf::from(f.rgb.clone()),
    };
    ep.write_msg(topics::IMAGE, &Qos::sensor_data(), &img, recv_ns, ft)
}

/// One recorded scripted episode.
pub struct ScriptedOutcome {
    pub entry: EpisodeEntry,
    pub score: FoldScore,
}

/// Resets `sim` to `seed`, lets the expert perform `task` while recording
/// joints (at the expert's 100 Hz), camera frames (at the camera rate, `w`×`h`),
/// commands, labels and the instruction, settles, scores and saves the episode.
pub fn record_scripted(
    ds: &mut Dataset,
    sim: &mut Sim,
    task: Task,
    seed: u64,
    (w, h): (u32, u32),
    meta: EpisodeMeta,
    opts: &WriterOptions,
    cfg: &ExpertConfig,
) -> Result<ScriptedOutcome> {
    sim.reset(seed)?;
    // The scene is rebuilt on reset (randomised towel), so is the camera.
    let mut cam = Camera::new(sim, w, h)?;
    let names = sim.robot().joint_names();
    let t0 = sim.time();
    let start = sim.towel_vertices().to_vec();
    let mut ep = ds.begin_episode(meta, opts)?;
    let instr = std_msgs::String { data: task.instruction().into() };
    ep.write_msg(topics::INSTRUCTION, &Qos::latched(), &instr, sim_ns(t0), sim_ns(t0))?;
    let mut expert = Expert::new(task, cfg.clone(), sim, seed);
    let steps = ((cfg.period / sim.config().timestep).round() as usize).max(1);
    let frame_every = (1.0 / sim.config().camera.rate_hz / cfg.period).round().max(1.0) as u64;
    let mut reading = JointReading::with_joints(names.len());
    let mut tick = 0u64;
    while !expert.done() && sim.time() - t0 < 40.0 {
        let a = expert.tick(sim);
        let now = sim_ns(sim.time());
        if let Some(l) = a.label {
            ep.write_msg(topics::LABELS, &Qos::default(), &std_msgs::String { data: l.into() }, now, now)?;
        }
        let mut cmd = a.positions.clone();
        cmd.push(a.gripper);
        let msg = std_msgs::Float64MultiArray { data: cmd, ..Default::default() };
        ep.write_msg(topics::COMMANDS, &Qos::default(), &msg, now, now)?;
        sim.command_positions(&a.positions)?;
        sim.command_gripper(a.gripper)?;
        for _ in 0..steps {
            sim.step();
        }
        sim.read_joints(&mut reading);
        let t = sim_ns(sim.time());
        write_joint_state(&mut ep, &names, &reading, t)?;
        if tick.is_multiple_of(frame_every) {
            let f = cam.capture(sim)?;
            write_image(&mut ep, &f, t)?;
        }
        tick += 1;
    }
    sim.step_n((0.5 / sim.config().timestep) as usize);
    let s = score(task, sim.config().towel.count, &start, sim.towel_vertices());
    let entry = ds.save_episode(ep, s.success)?;
    Ok(ScriptedOutcome { entry, score: s })
}
