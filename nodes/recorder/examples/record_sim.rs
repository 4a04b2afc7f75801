//! Records the sample dataset: the simulator's scripted demonstrator folding
//! the towel, a few episodes per instruction, written in lockstep (no network).
//!
//! ```text
//! scripts/setup_mujoco.sh && . scripts/env.sh
//! cargo run -p kotoba-recorder --features sim --example record_sim -- demos/sample 3
//! ```

use kotoba_recorder::scripted::record_scripted;
use kotoba_recorder::{Dataset, EpisodeMeta, WriterOptions};
use kotoba_sim::expert::ExpertConfig;
use kotoba_sim::task::Task;
use kotoba_sim::{RobotModel, Sim, SimConfig};
use sha2::Digest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let out = std::path::PathBuf::from(args.get(1).map(String::as_str).unwrap_or("demos/sample"));
    let per_task: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let mut sim = Sim::new(SimConfig::default(), RobotModel::default_arm(), 0)?;
    let urdf_hash = hex::encode(sha2::Sha256::digest(kotoba_sim::DEFAULT_URDF.as_bytes()));
    let mut ds = Dataset::create(&out, "/labels", "/instruction")?;
    for task in Task::ALL {
        for seed in 0..per_task {
            let meta = EpisodeMeta {
                instruction: task.instruction().into(),
                operator: "scripted-expert".into(),
                robot_description_hash: Some(urdf_hash.clone()),
            };
            let cfg = ExpertConfig::default();
            // zstd: the sample lives in git, where size matters more than write speed.
            let opts = WriterOptions { compression: kotoba_recorder::Compression::Zstd, ..WriterOptions::default() };
            let o = record_scripted(&mut ds, &mut sim, task, seed, (64, 64), meta, &opts, &cfg)?;
            let e = &o.entry;
            println!("{} {task:?} seed {seed}: {:.1} s, success {}, labels {}", e.name, e.duration_s, e.success, e.labels.len());
        }
    }
    Ok(())
}
