//! The training loop around [`Trainer`]: progress bar, per-epoch losses to the
//! console and to `losses.csv` / `losses.json`, checkpoints (`last/`, `best/`)
//! and resume.

use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::checkpoint::{Checkpoint, read_json, write_json};
use crate::config::ModelConfig;
use crate::data::Dataset;
use crate::error::{DplError, Result};
use crate::train::{Losses, TrainConfig, Trainer};

pub const LAST_DIR: &str = "last";
pub const BEST_DIR: &str = "best";
const STATE_FILE: &str = "train_state.json";
const OPT_FILE: &str = "optimizer.safetensors";
const TRAIN_CONFIG_FILE: &str = "train_config.json";

/// One line of the training log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochLog {
    pub epoch: usize,
    pub seconds: f64,
    pub train: Losses,
    pub val: Option<Losses>,
    pub point_ramp: f64,
}

/// Where a run writes and whether it shows a progress bar.
pub struct FitOptions {
    pub out_dir: PathBuf,
    pub progress: bool,
    /// Print one line of losses per epoch to stderr.
    pub console: bool,
}

/// Starts a fresh run, or resumes the one in `out_dir/last` when `resume` is set.
pub fn build_trainer(
    model_cfg: &ModelConfig,
    cfg: TrainConfig,
    data: Dataset,
    out_dir: &Path,
    resume: bool,
    device: &Device,
) -> Result<Trainer> {
    if !resume {
        return Trainer::new(model_cfg, cfg, data, device);
    }
    let last = out_dir.join(LAST_DIR);
    let ckpt = Checkpoint::load(&last, device)?;
    let saved: TrainConfig = read_json(&last.join(TRAIN_CONFIG_FILE))?;
    // The seed and split define the run; keep them, take the new epoch budget.
    let cfg = TrainConfig {
        epochs: cfg.epochs,
        ..saved
    };
    let mut t = Trainer::from_checkpoint(ckpt, cfg, data)?;
    t.opt.load(&last.join(OPT_FILE))?;
    t.state = read_json(&last.join(STATE_FILE))?;
    Ok(t)
}

/// Saves model, optimizer and counters so that [`build_trainer`] can resume.
pub fn save_run(t: &Trainer, dir: &Path) -> Result<()> {
    t.ckpt.save(dir)?;
    t.opt.save(&dir.join(OPT_FILE))?;
    write_json(&dir.join(TRAIN_CONFIG_FILE), &t.cfg)?;
    write_json(&dir.join(STATE_FILE), &t.state)
}

/// The second stage of the recipe: from the best checkpoint of a finished run
/// in `opts.out_dir`, `epochs` more epochs with the vision frozen on whole
/// episodes (see [`TrainConfig::freeze_vision`]), logged and checkpointed in
/// the same folder, the epoch count continuing. Windowed training starts every
/// window from a zero recurrent state, while a policy runs its state through a
/// whole episode; this stage trains the core the way it runs. `joint_noise`
/// overrides the input noise of the first stage.
pub fn fit_motor(stage1: Trainer, epochs: usize, joint_noise: Option<f32>, opts: &FitOptions) -> Result<Vec<EpochLog>> {
    let state = stage1.state.clone();
    let device = stage1.model().device().clone();
    let mut cfg = stage1.cfg.clone();
    let data = stage1.into_data();
    let ckpt = Checkpoint::load(&opts.out_dir.join(BEST_DIR), &device)?;
    cfg.freeze_vision = true;
    cfg.window = 0;
    cfg.epochs = state.epoch + epochs;
    if let Some(n) = joint_noise {
        cfg.augment.joint_noise = n;
    }
    let mut t = Trainer::from_checkpoint(ckpt, cfg, data)?;
    // The losses change meaning (no image term): the best is tracked afresh.
    t.state = crate::train::TrainState { epoch: state.epoch, batches: state.batches, best_val: None };
    fit(&mut t, opts)
}

/// Trains until `t.cfg.epochs` epochs are done, logging and checkpointing each epoch.
pub fn fit(t: &mut Trainer, opts: &FitOptions) -> Result<Vec<EpochLog>> {
    std::fs::create_dir_all(&opts.out_dir).map_err(DplError::io(&opts.out_dir))?;
    let json_path = opts.out_dir.join("losses.json");
    let mut log: Vec<EpochLog> = if t.state.epoch > 0 && json_path.exists() {
        read_json(&json_path)?
    } else {
        Vec::new()
    };
    log.retain(|l| l.epoch <= t.state.epoch);
    let csv_path = opts.out_dir.join("losses.csv");
    let remaining = t.cfg.epochs.saturating_sub(t.state.epoch);
    let bar = if opts.progress {
        ProgressBar::new(remaining as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} epoch {pos}/{len} [{bar:30}] {elapsed_precise} eta {eta} {msg}",
        )
        .map_err(|e| DplError::Config(e.to_string()))?
        .progress_chars("=> "),
    );
    while t.state.epoch < t.cfg.epochs {
        let start = std::time::Instant::now();
        let train = t.train_epoch(&mut |k, n| bar.set_message(format!("batch {k}/{n}")))?;
        let val = t.evaluate()?;
        let entry = EpochLog {
            epoch: t.state.epoch,
            seconds: start.elapsed().as_secs_f64(),
            train,
            val,
            point_ramp: crate::train::point_ramp(t.state.batches, t.cfg.point_ramp_batches),
        };
        let line = format_epoch(&entry);
        if opts.console {
            bar.println(&line);
        }
        bar.set_message(line);
        bar.inc(1);
        let score = val.map(|v| v.total).unwrap_or(train.total);
        if t.state.best_val.is_none_or(|b| score < b) {
            t.state.best_val = Some(score);
            save_run(t, &opts.out_dir.join(BEST_DIR))?;
        }
        save_run(t, &opts.out_dir.join(LAST_DIR))?;
        log.push(entry);
        write_json(&json_path, &log)?;
        write_csv(&csv_path, &log)?;
    }
    bar.finish_and_clear();
    Ok(log)
}

/// `epoch 12 train total 0.0123 (img .. joint .. pt .. label ..) val total ...`
pub fn format_epoch(e: &EpochLog) -> String {
    let f = |l: &Losses| {
        // Only a model with the subgoal head has a goal term.
        let goal = if l.goal > 0.0 { format!(" goal {:.5}", l.goal) } else { String::new() };
        format!(
            "total {:.5} (img {:.5} joint {:.5} pt {:.5} label {:.4}{goal})",
            l.total, l.image, l.joint, l.point, l.label
        )
    };
    match &e.val {
        Some(v) => format!(
            "epoch {:>4}  train {}  val {}  {:.1}s",
            e.epoch,
            f(&e.train),
            f(v),
            e.seconds
        ),
        None => format!(
            "epoch {:>4}  train {}  {:.1}s",
            e.epoch,
            f(&e.train),
            e.seconds
        ),
    }
}

fn write_csv(path: &Path, log: &[EpochLog]) -> Result<()> {
    let mut s = String::from(
        "epoch,seconds,point_ramp,train_total,train_image,train_joint,train_point,train_label,val_total,val_image,val_joint,val_point,val_label,train_goal,val_goal\n",
    );
    for e in log {
        let v =
            |f: fn(&Losses) -> f64| e.val.as_ref().map(|l| f(l).to_string()).unwrap_or_default();
        let tr = &e.train;
        s.push_str(&format!(
            "{},{:.3},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            e.epoch,
            e.seconds,
            e.point_ramp,
            tr.total,
            tr.image,
            tr.joint,
            tr.point,
            tr.label,
            v(|l| l.total),
            v(|l| l.image),
            v(|l| l.joint),
            v(|l| l.point),
            v(|l| l.label),
            tr.goal,
            v(|l| l.goal)
        ));
    }
    let mut f = std::fs::File::create(path).map_err(DplError::io(path))?;
    f.write_all(s.as_bytes()).map_err(DplError::io(path))
}
