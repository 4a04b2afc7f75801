//! `kotoba teleop --scripted`: the scripted expert demonstrator, in-process and in
//! lockstep with the simulator, driving the robot through the same position/gripper
//! commands a person's teleop sends, and speaking its phase labels.

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use kotoba_sim::expert::ExpertConfig;
use kotoba_sim::task::{self, Task};
use kotoba_sim::{RobotModel, Sim, SimConfig, run_scripted};
use std::collections::BTreeMap;

#[derive(Clone, Copy, ValueEnum)]
pub enum TaskArg {
    LeftToRight,
    BottomToTop,
    CornerToCorner,
    All,
}

#[derive(Args)]
pub struct TeleopArgs {
    /// Use the scripted expert (reads the true cloth state). Keyboard and leader-arm
    /// teleoperation are not implemented yet.
    #[arg(long)]
    pub scripted: bool,
    /// Episodes per instruction (seeds `--seed`, `--seed`+1, ...).
    #[arg(long, default_value_t = 1)]
    pub episodes: u64,
    /// First seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Which instruction(s) to demonstrate.
    #[arg(long, value_enum, default_value = "all")]
    pub task: TaskArg,
    /// Print the success rate per instruction (and each episode's metric).
    #[arg(long)]
    pub report: bool,
}

pub fn run(a: TeleopArgs) -> Result<()> {
    if !a.scripted {
        bail!(
            "only `--scripted` is implemented: keyboard jogging and leader-arm pass-through are not yet"
        );
    }
    let tasks: Vec<Task> = match a.task {
        TaskArg::LeftToRight => vec![Task::LeftToRight],
        TaskArg::BottomToTop => vec![Task::BottomToTop],
        TaskArg::CornerToCorner => vec![Task::CornerToCorner],
        TaskArg::All => Task::ALL.to_vec(),
    };
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
