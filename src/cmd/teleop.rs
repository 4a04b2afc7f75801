//! `kotoba teleop`: drive the robot through the position/gripper commands of
//! ros2_control. Three modes, one module each: `--scripted` (the expert
//! demonstrator, in-process and in lockstep with the simulator; here),
//! `--keys` (keyboard jogging of the tool, `teleop_keys`) and `--leader TOPIC`
//! (leader-arm pass-through, `teleop_leader`).

use crate::cmd::conn::ConnArgs;
use crate::cmd::teleop_keys::KeysArgs;
use crate::cmd::teleop_leader::LeaderArgs;
use anyhow::Result;
use clap::{ArgGroup, Args, ValueEnum};
use kotoba_sim::expert::ExpertConfig;
use kotoba_sim::task::{self, Task};
use kotoba_sim::{RobotModel, Sim, SimConfig, run_scripted};
use std::collections::BTreeMap;

const MODES: &str = "\
Modes:
  --scripted      The scripted expert folds the towel in an in-process MuJoCo simulation
                  (reads the true cloth state) and prints each episode's labels.
  --keys          Keyboard jogging of the tool in this terminal (works over SSH). Reads the
                  follower's joint states, moves a Cartesian tool target per key press, solves
                  IK and publishes joint targets on /<position-controller>/commands at --rate.
                  Keys: w/s +x/-x, a/d +y/-y, r/f +z/-z (world frame, --step metres), q/e yaw
                  +/- (--yaw-step), g gripper open/closed, space hold (target = where the arm
                  is), 1-9 publish a preset label on /labels, Esc or Ctrl-C quit.
  --leader TOPIC  Leader-arm pass-through: each sensor_msgs/JointState on TOPIC (e.g.
                  /leader/joint_states) is mapped by joint name (--map to rename) onto the
                  follower's arm, clamped to its URDF limits and published as a position
                  target (at most --max-rate); a mapped gripper joint goes to
                  /<gripper-controller>/commands. A leader silent for --stale-after seconds
                  stops the commands (the follower holds its last target).

Against the simulator: `kotoba router & kotoba sim & kotoba teleop --keys`.";

#[derive(Clone, Copy, ValueEnum)]
pub enum TaskArg {
    LeftToRight,
    BottomToTop,
    CornerToCorner,
    All,
}

impl TaskArg {
    /// The simulator's tasks this stands for.
    pub fn tasks(self) -> Vec<Task> {
        match self {
            TaskArg::LeftToRight => vec![Task::LeftToRight],
            TaskArg::BottomToTop => vec![Task::BottomToTop],
            TaskArg::CornerToCorner => vec![Task::CornerToCorner],
            TaskArg::All => Task::ALL.to_vec(),
        }
    }
}

#[derive(Args)]
#[command(group(ArgGroup::new("teleop_mode").required(true).args(["scripted", "keys", "leader"])))]
#[command(after_long_help = MODES)]
pub struct TeleopArgs {
    /// Run the scripted expert demonstrator in an in-process simulation.
    #[arg(long)]
    pub scripted: bool,
    /// Jog the tool with the keyboard (needs an interactive terminal).
    #[arg(long)]
    pub keys: bool,
    /// Pass a leader arm's sensor_msgs/JointState on TOPIC through to the follower.
    #[arg(long, value_name = "TOPIC")]
    pub leader: Option<String>,
    #[command(flatten, next_help_heading = "Scripted (--scripted)")]
    pub script: ScriptedArgs,
    #[command(flatten, next_help_heading = "Follower (--keys, --leader)")]
    pub follower: FollowerArgs,
    #[command(flatten, next_help_heading = "Keyboard (--keys)")]
    pub jog: KeysArgs,
    #[command(flatten, next_help_heading = "Leader arm (--leader)")]
    pub lead: LeaderArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Args)]
pub struct ScriptedArgs {
    /// Episodes per instruction (seeds `--seed`, `--seed`+1, ...).
    #[arg(long, default_value_t = 1, conflicts_with_all = ["keys", "leader"])]
    pub episodes: u64,
    /// First seed.
    #[arg(long, default_value_t = 0, conflicts_with_all = ["keys", "leader"])]
    pub seed: u64,
    /// Which instruction(s) to demonstrate.
    #[arg(long, value_enum, default_value = "all", conflicts_with_all = ["keys", "leader"])]
    pub task: TaskArg,
    /// Print the success rate per instruction (and each episode's metric).
    #[arg(long, conflicts_with_all = ["keys", "leader"])]
    pub report: bool,
}

/// The robot being driven: where its state comes from, where commands go.
#[derive(Args)]
pub struct FollowerArgs {
    /// The follower's sensor_msgs/JointState topic.
    #[arg(long, default_value = "/joint_states", value_name = "TOPIC", conflicts_with = "scripted")]
    pub joint_states: String,
    /// Position controller: arm targets go to `/<name>/commands` (std_msgs/Float64MultiArray).
    #[arg(long, default_value = "position_controller", value_name = "NAME", conflicts_with = "scripted")]
    pub position_controller: String,
    /// Gripper controller: the finger opening (m) goes to `/<name>/commands`.
    #[arg(long, default_value = "gripper_controller", value_name = "NAME", conflicts_with = "scripted")]
    pub gripper_controller: String,
    /// Stop after this many seconds (runs until Esc/Ctrl-C otherwise).
    #[arg(long, value_name = "SECONDS", conflicts_with = "scripted")]
    pub duration: Option<f64>,
}

impl FollowerArgs {
    pub fn arm_topic(&self) -> String {
        format!("/{}/commands", self.position_controller)
    }
    pub fn gripper_topic(&self) -> String {
        format!("/{}/commands", self.gripper_controller)
    }
}

pub fn run(a: TeleopArgs) -> Result<()> {
    if a.keys {
        return crate::cmd::teleop_keys::run(&a.conn, &a.follower, &a.jog);
    }
    if let Some(topic) = &a.leader {
        return crate::cmd::teleop_leader::run(&a.conn, &a.follower, &a.lead, topic);
    }
    scripted(&a.script)
}

fn scripted(a: &ScriptedArgs) -> Result<()> {
    let tasks = a.task.tasks();
    let mut sim = Sim::new(SimConfig::default(), RobotModel::default_arm(), a.seed)?;
    let cfg = ExpertConfig::default();
    let mut wins: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for &t in &tasks {
        for seed in a.seed..a.seed + a.episodes {
            let wall = std::time::Instant::now();
            let o = run_scripted(&mut sim, t, seed, &cfg)?;
            let s = &o.score;
            let e = wins.entry(t.instruction()).or_default();
            e.0 += s.success as u64;
            e.1 += 1;
            println!(
                "[{}] seed {seed}: \"{}\"",
                if s.success { "ok" } else { "FAIL" },
                t.instruction()
            );
            for (at, label) in &o.labels {
                println!("    {at:6.2}s  {label}");
            }
            if a.report {
                println!(
                    "    max pair {:.1} mm, mean pair {:.1} mm, fixed half moved {:.1} mm, corner {:.1} mm, layer {:.1} mm, area {:.2}; {:.1} s simulated in {:.1} s",
                    s.max_pair * 1e3,
                    s.mean_pair * 1e3,
                    s.fixed_move * 1e3,
                    s.corner * 1e3,
                    s.layer * 1e3,
                    s.area_ratio,
                    o.sim_seconds,
                    wall.elapsed().as_secs_f64()
                );
            }
        }
    }
    if a.report {
        println!(
            "\nsuccess per instruction (thresholds: max pair < {} m, mean pair < {} m, fixed half < {} m, corners < {} m, layer > {} m, area {:?}):",
            task::MAX_PAIR,
            task::MEAN_PAIR,
            task::FIXED_MOVE,
            task::CORNER,
            task::LAYER,
            task::AREA
        );
        for (instr, (ok, n)) in &wins {
            println!(
                "  {:5.1}%  {ok}/{n}  {instr}",
                100.0 * *ok as f64 / *n as f64
            );
        }
    }
    Ok(())
}
