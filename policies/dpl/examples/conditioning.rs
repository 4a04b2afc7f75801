//! Concat vs FiLM on the synthetic task: same data, seed and budget for both;
//! prints validation losses and how far apart two instructions drive the
//! closed-loop rollout from the same start. Run:
//! `cargo run --release -p kotoba-dpl --example conditioning -- [epochs] [seeds]`

use kotoba_core::Stamp;
use kotoba_dpl::synthetic::{SyntheticConfig, generate, instruction_embeddings};
use kotoba_dpl::{
    Checkpoint, Conditioning, Device, ModelConfig, Observation, Policy, RuntimeConfig, SarnnPolicy,
    TrainConfig, Trainer,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let epochs = args.first().copied().unwrap_or(120);
    let seeds = args.get(1).copied().unwrap_or(3);
    let syn = SyntheticConfig {
        episodes: 12,
        steps: 12,
        height: 16,
        width: 16,
        joints: 3,
        embed_dim: 32,
        instructions: 2,
        seed: 3,
    };
    let data = generate(&syn);
    let instr = instruction_embeddings(&syn);
    println!("conditioning  seed  val_total  val_joint  hold_still  rollout_gap  dir_ok  seconds");
    for cond in [Conditioning::Concat, Conditioning::Film] {
        for seed in 0..seeds as u64 {
            let mcfg = ModelConfig {
                image_height: 16,
                image_width: 16,
                joints: 3,
                embed_dim: 32,
                labels: 2,
                lang_dim: 8,
                hidden: 32,
                conditioning: cond,
                ..ModelConfig::default()
            };
            let tcfg = TrainConfig {
                epochs,
                batch_size: 4,
                seed,
                val_fraction: 0.25,
                point_ramp_batches: 50,
                ..TrainConfig::default()
            };
            let start = std::time::Instant::now();
            let mut t = Trainer::new(&mcfg, tcfg, data.clone(), &Device::Cpu)?;
            for _ in 0..epochs {
                t.train_epoch(&mut |_, _| {})?;
            }
            let val = t.evaluate()?.ok_or("no validation split")?;
            let ep = &data.episodes[0];
            let roll = |e: &[f32]| -> Result<Vec<f32>, Box<dyn std::error::Error>> {
                let c = &t.ckpt;
                let ck = Checkpoint {
                    model: c.model.frozen(),
                    norm: c.norm.clone(),
                    labels: c.labels.clone(),
                    start_label: c.start_label,
                    start_labels: c.start_labels.clone(),
                };
                let mut p = SarnnPolicy::new(
                    ck,
                    RuntimeConfig {
                        input_param: 0.0,
                        joint_input_param: None,
                        horizon: 1,
                        regression: None,
                        joint_margin: None,
                        max_lead: None,
                    },
                )?;
                let mut xs = Vec::new();
                for k in 0..6 {
                    let obs = Observation {
                        stamp: Stamp::from_nanos(k * 100_000_000),
                        image: ep.image(0),
                        joints: ep.joint_row(0),
                        instruction: e,
                        label: None,
                    };
                    xs.push(p.step(&obs)?.chunk.targets[0]);
                }
                Ok(xs)
            };
            let (a, b) = (roll(&instr[0])?, roll(&instr[1])?);
            let gap = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
            let dir_ok = a[5] - a[0] > 0.05 && b[5] - b[0] < -0.05;
            let name = format!("{cond:?}");
            println!(
                "{name:<12}  {seed:>4}  {:>9.5}  {:>9.5}  {:>10.5}  {gap:>11.3}  {dir_ok:>6}  {:>7.1}",
                val.total,
                val.joint,
                t.hold_still_joint_mse(),
                start.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}
