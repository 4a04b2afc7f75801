//! Runs the scripted expert in-process, in lockstep with the physics.

use crate::expert::{Expert, ExpertConfig};
use crate::sim::{Sim, StepEvent};
use crate::task::{FoldScore, Task, score};

/// What one scripted episode did.
#[derive(Debug, Clone)]
pub struct EpisodeOutcome {
    pub task: Task,
    pub seed: u64,
    pub score: FoldScore,
    /// (sim time relative to the episode start, label) in order.
    pub labels: Vec<(f64, &'static str)>,
    pub sim_seconds: f64,
    pub unstable: usize,
    pub rejected_commands: usize,
    pub ik_failures: usize,
}

/// Resets `sim` to `seed`, lets the expert fold, settles, and scores the towel.
pub fn run_scripted(
    sim: &mut Sim,
    task: Task,
    seed: u64,
    cfg: &ExpertConfig,
) -> crate::Result<EpisodeOutcome> {
    sim.reset(seed)?;
    let t_start = sim.time();
    let n = sim.config().towel.count;
    let start = sim.towel_vertices().to_vec();
    let mut expert = Expert::new(task, cfg.clone(), sim, seed);
    let steps_per_tick = ((cfg.period / sim.config().timestep).round() as usize).max(1);
    let (mut labels, mut unstable, mut rejected) = (Vec::new(), 0, 0);
    let limit = 40.0;
    while !expert.done() && sim.time() - t_start < limit {
        let a = expert.tick(sim);
        if let Some(l) = a.label {
            labels.push((sim.time() - t_start, l));
        }
        if sim.command_positions(&a.positions).is_err() || sim.command_gripper(a.gripper).is_err() {
            rejected += 1;
        }
        for _ in 0..steps_per_tick {
            if let StepEvent::Unstable { .. } = sim.step() {
                unstable += 1;
            }
        }
    }
    // Let the cloth settle before scoring.
    unstable += sim.step_n((0.5 / sim.config().timestep) as usize);
    let score = score(task, n, &start, sim.towel_vertices());
    Ok(EpisodeOutcome {
        task,
        seed,
        score,
        labels,
        sim_seconds: sim.time() - t_start,
        unstable,
        rejected_commands: rejected,
        ik_failures: expert.ik_failures(),
    })
}
