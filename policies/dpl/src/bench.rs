//! `kotoba bench policy`: the candle SARNN against the PyTorch implementation of
//! the same architecture (`bench/policy/sarnn_torch.py`), same machine, same run,
//! same thread count.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use candle_core::Device;
use kotoba_core::{BenchReport, BenchRow, Better, Stamp};
use serde::Deserialize;

use crate::checkpoint::Checkpoint;
use crate::config::ModelConfig;
use crate::error::{DplError, Result};
use crate::policy::{Observation, Policy, RuntimeConfig, SarnnPolicy};
use crate::regress::RegressConfig;
use crate::synthetic::{SyntheticConfig, generate};
use crate::train::{TrainConfig, Trainer};

/// Sizes shared with the Python peer (passed on its command line).
#[derive(Debug, Clone)]
pub struct BenchSizes {
    pub batch: usize,
    pub seq_len: usize,
    pub joints: usize,
    pub embed_dim: usize,
    pub labels: usize,
    pub infer_iters: usize,
    pub train_iters: usize,
    pub er_ticks: usize,
    pub er_window: usize,
    pub er_iterations: usize,
}

impl BenchSizes {
    pub fn new(quick: bool) -> Self {
        Self {
            batch: 5,
            seq_len: 20,
            joints: 8,
            embed_dim: 384,
            labels: 4,
            infer_iters: if quick { 30 } else { 200 },
            train_iters: if quick { 3 } else { 10 },
            er_ticks: if quick { 5 } else { 30 },
            er_window: 10,
            er_iterations: 20,
        }
    }
}

/// Milliseconds per call, median of `n` after `warm` untimed calls.
fn median_ms(warm: usize, n: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warm {
        f()?;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1e3);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

/// The bench's synthetic data and a trainer on it.
fn bench_trainer(s: &BenchSizes) -> Result<(Trainer, crate::data::Dataset)> {
    let syn = SyntheticConfig {
        episodes: 2 * s.batch,
        steps: s.seq_len,
        height: 64,
        width: 64,
        joints: s.joints,
        embed_dim: s.embed_dim,
        instructions: 2,
        seed: 1,
    };
    let mut data = generate(&syn);
    // Widen the vocabulary to the bench's label count (extra labels unused by the data).
    for i in data.labels.len()..s.labels {
        data.labels.names.push(format!("extra{i}"));
        data.labels
            .embeddings
            .extend(std::iter::repeat_n(0.01 * i as f32, s.embed_dim));
    }
    let mcfg = ModelConfig {
        joints: s.joints,
        embed_dim: s.embed_dim,
        labels: s.labels,
        ..ModelConfig::default()
    };
    let tcfg = TrainConfig {
        batch_size: s.batch,
        val_fraction: 0.0,
        ..TrainConfig::default()
    };
    let trainer = Trainer::new(&mcfg, tcfg, data.clone(), &Device::Cpu)?;
    Ok((trainer, data))
}

/// Milliseconds per training step (forward, backward, Adam) on the first batch,
/// median of `iters` after one untimed step.
fn train_step_ms(trainer: &mut Trainer, s: &BenchSizes, iters: usize) -> Result<f64> {
    let idx: Vec<usize> = (0..s.batch).collect();
    let batch = trainer.batch(&idx, None)?;
    median_ms(1, iters, || {
        let (loss, _) = trainer.loss(&batch, 1.0)?;
        let g = loss.backward()?;
        trainer.opt.step(&g)
    })
}

/// Rust-side figures: (inference ms, training sequences/s, ER-enabled tick ms, plain tick ms).
pub fn measure_rust(s: &BenchSizes) -> Result<(f64, f64, f64, f64)> {
    let (mut trainer, data) = bench_trainer(s)?;
    let train_ms = train_step_ms(&mut trainer, s, s.train_iters)?;
    let seq_per_s = s.batch as f64 / (train_ms / 1e3);

    let ep = &data.episodes[0];
    let ckpt = || Checkpoint {
        model: trainer.ckpt.model.frozen(),
        norm: trainer.ckpt.norm.clone(),
        labels: trainer.ckpt.labels.clone(),
        start_label: 0,
        start_labels: Vec::new(),
    };
    let run = |policy: &mut SarnnPolicy, warm: usize, n: usize| -> Result<f64> {
        let mut t = 0usize;
        median_ms(warm, n, || {
            let k = t % ep.len();
            t += 1;
            let obs = Observation {
                stamp: Stamp::from_nanos(t as i64 * 100_000_000),
                image: ep.image(k),
                joints: ep.joint_row(k),
                instruction: &ep.instruction,
                label: None,
            };
            policy.step(&obs).map(|_| ())
        })
    };
    let mut plain = SarnnPolicy::new(ckpt(), RuntimeConfig::default())?;
    let infer_ms = run(&mut plain, 10, s.infer_iters)?;
    let er = RegressConfig {
        window: s.er_window,
        iterations: s.er_iterations,
        ..RegressConfig::default()
    };
    let mut with_er = SarnnPolicy::new(
        ckpt(),
        RuntimeConfig {
            regression: Some(er),
            ..RuntimeConfig::default()
        },
    )?;
    // Fill the window first so every timed tick regresses over a full window.
    let er_ms = run(&mut with_er, s.er_window + 1, s.er_ticks)?;
    Ok((infer_ms, seq_per_s, er_ms, infer_ms))
}

#[derive(Debug, Deserialize)]
struct PeerResult {
    torch_version: String,
    threads: usize,
    infer_ms: f64,
    train_seq_per_s: f64,
    er_tick_ms: f64,
}

fn run_peer(python: &Path, script: &Path, s: &BenchSizes, threads: usize) -> Result<PeerResult> {
    let out = Command::new(python)
        .envs(kotoba_core::peer_allocator_env())
        .arg(script)
        .args(["--threads", &threads.to_string()])
        .args([
            "--batch",
            &s.batch.to_string(),
            "--seq-len",
            &s.seq_len.to_string(),
        ])
        .args([
            "--joints",
            &s.joints.to_string(),
            "--embed-dim",
            &s.embed_dim.to_string(),
            "--labels",
            &s.labels.to_string(),
        ])
        .args([
            "--infer-iters",
            &s.infer_iters.to_string(),
            "--train-iters",
            &s.train_iters.to_string(),
        ])
        .args([
            "--er-ticks",
            &s.er_ticks.to_string(),
            "--er-window",
            &s.er_window.to_string(),
            "--er-iterations",
            &s.er_iterations.to_string(),
        ])
        .output()
        .map_err(|e| DplError::Peer(format!("{}: {e}", python.display())))?;
    if !out.status.success() {
        return Err(DplError::Peer(format!(
            "{} exited {}: {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or("");
    serde_json::from_str(line)
        .map_err(|e| DplError::Peer(format!("bad JSON from peer ({e}): {stdout}")))
}

/// Runs both sides. `python` is the interpreter with torch (the bench venv); when it
/// or torch is missing the report says so and carries the Rust figures only.
pub fn bench_policy(quick: bool, python: &Path, script: &Path) -> Result<BenchReport> {
    let s = BenchSizes::new(quick);
    let threads = candle_core::utils::get_num_threads();
    let mut rep = BenchReport::new("policy");
    rep.note(format!("SARNN 64x64, K=5, LSTM 50, {} joints, {}-d embeddings, {} labels, concat conditioning; CPU, {threads} threads both sides", s.joints, s.embed_dim, s.labels));
    rep.note("both sides run with the kotoba binary's glibc allocator settings (the peer through MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_)");
    rep.note(format!(
        "training: batch {} x {} steps, full BPTT + Adam step; ER: window {} x {} iterations",
        s.batch, s.seq_len, s.er_window, s.er_iterations
    ));
    let (infer_ms, seq_s, er_ms, plain_ms) = measure_rust(&s)?;
    let peer = match run_peer(python, script, &s, threads) {
        Ok(p) => {
            rep.note(format!(
                "peer: PyTorch {} ({} threads), {}",
                p.torch_version,
                p.threads,
                script.display()
            ));
            Some(p)
        }
        Err(e) => {
            rep.note(format!(
                "peer not run: {e} (install with scripts/setup_policy_bench.sh)"
            ));
            None
        }
    };
    let mut row = BenchRow::new("inference batch-1 step (median)", infer_ms, "ms");
    if let Some(p) = &peer {
        row = row.peer(p.infer_ms, Better::Lower).ratio_target(1.5);
    }
    rep.push(row);
    let mut row = BenchRow::new("training throughput", seq_s, "seq/s");
    if let Some(p) = &peer {
        row = row
            .peer(p.train_seq_per_s, Better::Higher)
            .ratio_target(1.0);
    }
    rep.push(row);
    let mut row = BenchRow::new("error-regression tick (model step + ER)", er_ms, "ms");
    if let Some(p) = &peer {
        row = row.peer(p.er_tick_ms, Better::Lower);
    }
    rep.push(row);
    rep.push(
        BenchRow::new(
            "error-regression cost per tick (ER tick - plain tick)",
            (er_ms - plain_ms).max(0.0),
            "ms",
        )
        .target(20.0, Better::Lower),
    );
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bench's training step alone, for `perf record` on the test binary:
    /// `KOTOBA_PROFILE_ITERS=20 cargo test -p kotoba-dpl --lib profile_training_step -- --ignored --nocapture`.
    #[test]
    #[ignore = "profiling; run by hand"]
    fn profile_training_step() {
        let s = BenchSizes::new(true);
        let iters = std::env::var("KOTOBA_PROFILE_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
        let (mut trainer, _) = bench_trainer(&s).unwrap();
        let ms = train_step_ms(&mut trainer, &s, iters).unwrap();
        eprintln!("training step {ms:.1} ms ({:.2} seq/s)", s.batch as f64 / (ms / 1e3));
    }
}
