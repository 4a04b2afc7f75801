//! `kotoba train`: train the language-conditioned SARNN (kotoba-dpl), and the
//! `kotoba bench policy` entry point.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use kotoba_core::BenchReport;
use kotoba_dpl::synthetic::SyntheticConfig;
use kotoba_dpl::{AugmentConfig, Conditioning, FitOptions, GoalEncoder, ModelConfig, TrainConfig};
use kotoba_text::{EmbeddingCache, EncoderConfig};

use crate::bundle::Manifest;
use crate::episodes::SampleSpec;

#[derive(Clone, Copy, ValueEnum)]
pub enum CondArg {
    /// Append the language latent to the LSTM input.
    Concat,
    /// Scale and shift the LSTM input by the language latent (FiLM).
    Film,
}

/// Where the goal points come from (`--goal-encoder`).
#[derive(Clone, Copy, ValueEnum)]
pub enum GoalEncoderArg {
    /// The point encoder's last maps (region centroids).
    Maps,
    /// A per-pixel colour score and one linear ramp per point.
    Pixels,
}

/// What a residual model adds its change to (`--residual-base`).
#[derive(Clone, Copy, ValueEnum, Default)]
pub enum BaseArg {
    /// The current joint reading.
    #[default]
    Input,
    /// The previous target: the policy integrates its own commands.
    PreviousTarget,
}

impl From<BaseArg> for kotoba_dpl::ResidualBase {
    fn from(b: BaseArg) -> Self {
        match b {
            BaseArg::Input => Self::Input,
            BaseArg::PreviousTarget => Self::PreviousTarget,
        }
    }
}

#[derive(Args)]
pub struct TrainArgs {
    /// Dataset folder written by `kotoba record` (or `kotoba demo`). Default: `demos/sample`.
    #[arg(long, conflicts_with = "synthetic")]
    pub dataset: Option<PathBuf>,
    /// Train on the built-in synthetic task (a blob moving where the instruction says).
    #[arg(long)]
    pub synthetic: bool,
    /// Synthetic task: number of episodes.
    #[arg(long, default_value_t = 16)]
    pub synthetic_episodes: usize,
    /// Synthetic task: steps per episode.
    #[arg(long, default_value_t = 20)]
    pub synthetic_steps: usize,
    /// Synthetic task: joint count (>= 3).
    #[arg(long, default_value_t = 4)]
    pub synthetic_joints: usize,
    /// Output directory: losses.csv, losses.json, last/ and best/ checkpoints.
    #[arg(long, default_value = "runs/dpl")]
    pub out: PathBuf,
    /// Continue the run in `<out>/last` (model, optimizer, epoch counter, seed).
    #[arg(long)]
    pub resume: bool,
    /// Total epochs (a resumed run continues up to this number).
    #[arg(long, default_value_t = 300)]
    pub epochs: usize,
    /// Sequences per batch (EIPL: 5).
    #[arg(long, default_value_t = 5)]
    pub batch_size: usize,
    /// Adam learning rate (EIPL: 1e-3).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Seed for weights, split, shuffling and augmentation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fraction of episodes held out for validation (whole episodes; at least one
    /// when above 0, none at 0, when the best checkpoint follows the training loss).
    #[arg(long, default_value_t = 0.2)]
    pub val_fraction: f64,
    /// Batches over which the attention-point loss ramps in (EIPL: 1000).
    #[arg(long, default_value_t = 1000)]
    pub point_ramp: u64,
    /// Train on windows of this many steps (truncated BPTT) instead of whole
    /// episodes; 0 = whole episodes, as EIPL. Memory grows with batch x window
    /// (about 20 MB per 64x64 step on the CPU).
    #[arg(long, default_value_t = 40)]
    pub window: usize,
    /// Start from the weights and joint normalisation of this checkpoint folder
    /// (a run's `best/` or `last/`) with a fresh optimizer and this command's
    /// training settings: fine-tuning. The model shape comes from the checkpoint;
    /// the model options below are ignored.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["resume", "synthetic"])]
    pub init_from: Option<PathBuf>,
    /// With `--init-from`: keep its encoders and image decoder and train only
    /// the recurrent core and heads, on attention points read once from every
    /// frame. An epoch then runs no convolution, so the motion can be trained
    /// for thousands of epochs on a CPU. There is no image loss.
    #[arg(long, requires = "init_from")]
    pub freeze_vision: bool,
    /// With `--freeze-vision`: replace the checkpoint's recurrent core and heads
    /// by fresh ones with this many LSTM units (its vision is kept).
    #[arg(long, requires = "freeze_vision")]
    pub new_core: Option<usize>,
    /// Do not feed the verbal label into the model, only predict it: a running
    /// policy then cannot get stuck on a stale label of its own. With
    /// `--init-from` it applies to the loaded model.
    #[arg(long)]
    pub no_label_input: bool,
    /// With `--freeze-vision`: feed this share of the model's own previous
    /// joint prediction into its joint input while training (0..1; 0 = teacher
    /// forcing), so it learns from the errors it makes in closed loop. Run the
    /// policy with `joint_input_param = 1 − this`.
    #[arg(long, default_value_t = 0.0, requires = "freeze_vision")]
    pub joint_feedback: f64,
    /// After `--epochs`, this many more epochs from the best checkpoint with the
    /// vision frozen, on whole episodes (see `--freeze-vision`): windows start
    /// from a zero recurrent state, a running policy does not. 0 = one stage.
    #[arg(long, default_value_t = 0, conflicts_with = "freeze_vision")]
    pub motor_epochs: usize,
    /// Joint input noise of the `--motor-epochs` stage (default: `--joint-noise`).
    #[arg(long)]
    pub motor_joint_noise: Option<f32>,
    /// Turn input augmentation off.
    #[arg(long)]
    pub no_augment: bool,
    /// Std-dev of the Gaussian noise added to the joint inputs, in normalised
    /// units (0..1 over each joint's range). EIPL's 0.1 makes the model lean on
    /// its recurrence and the image; smaller lets it use the joint readings.
    #[arg(long, default_value_t = 0.1)]
    pub joint_noise: f32,
    /// Swap the colour channels of each training sequence (one of six orders,
    /// inputs and targets alike), so an object's hue stops mattering.
    #[arg(long)]
    pub colour_permute: bool,
    /// For a core that reads the subgoal (`--goal-input`): turn each training
    /// sequence about the robot's base by a random angle within ±this (rad),
    /// the first joint's inputs, targets and the subgoal alike, so the core
    /// learns to follow the subgoal instead of recognising the scene. 0 = off.
    #[arg(long, default_value_t = 0.0)]
    pub base_rotation: f32,
    /// For a core that reads the subgoal (`--goal-input`): move where each
    /// phase of a training sequence ends by an offset per joint within ±this
    /// (normalised units, a fraction of each joint's range), the motion
    /// ramping to it over the phase and the subgoal moved with it, so the core
    /// learns to go where the subgoal says. 0 = off.
    #[arg(long, default_value_t = 0.0)]
    pub phase_shift: f32,
    /// Weight of the image-prediction loss (EIPL's 0.1; the joint loss weighs 1).
    /// Lower lets the joint loss shape the vision more.
    #[arg(long, default_value_t = 0.1)]
    pub image_weight: f64,
    /// How language enters the recurrent core.
    #[arg(long, value_enum, default_value = "concat")]
    pub conditioning: CondArg,
    /// Model image side (square; episodes must already be this size).
    #[arg(long, default_value_t = 64)]
    pub image_size: usize,
    /// The feature encoder and image decoder see the image averaged over
    /// blocks of this side (`--image-size 64 --feature-pool 2` runs them at
    /// 32x32: a 64x64 vision in about 60 % of the time), while the point
    /// encoder and pixel goal points read it whole. 1 = off. On the towel such
    /// a vision folded less than the full one (docs/towel-folding.md, session 16).
    #[arg(long, default_value_t = 1)]
    pub feature_pool: usize,
    /// With --init-from a checkpoint trained on another image size: carry
    /// its weights to --image-size (no layer's shape depends on it), e.g. to
    /// finish at 64x64 a vision trained mostly at 32x32.
    #[arg(long, requires = "init_from")]
    pub resize: bool,
    /// What the arm outputs learn to predict one step ahead: the next measured
    /// joints (`state`, EIPL) or the next commanded positions (`command`, which
    /// lead the measured ones by the servo lag).
    #[arg(long, value_enum, default_value = "state")]
    pub arm_targets: crate::episodes::ArmTargets,
    /// Spatial attention points.
    #[arg(long, default_value_t = 5)]
    pub keypoints: usize,
    /// Spatial-softmax temperature. EIPL's 1e-4 makes each point the arg-max
    /// of its feature map, a position on the feature grid; a larger one gives
    /// a soft arg-max that moves smoothly between grid cells.
    #[arg(long, default_value_t = 1e-4)]
    pub temperature: f64,
    /// Width of the Gaussian each point paints for the image decoder,
    /// `exp(-d² / heatmap_size)` over image-normalised coordinates. EIPL's 0.1
    /// covers about a fifth of the image, so where a point sits within an
    /// object barely changes the reconstruction; a smaller one rewards precise points.
    #[arg(long, default_value_t = 0.1)]
    pub heatmap_size: f64,
    /// Standardise each attention map before the spatial softmax (then a
    /// temperature near 0.1–0.3 gives points that are sharp yet still move
    /// smoothly).
    #[arg(long)]
    pub standardize_attention: bool,
    /// LSTM hidden size.
    #[arg(long, default_value_t = 50)]
    pub hidden: usize,
    /// Size of the learned language latent.
    #[arg(long, default_value_t = 16)]
    pub lang_dim: usize,
    /// Model rate in Hz (episodes must be resampled to it).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Predict joint changes (input + learned delta) instead of EIPL's absolute
    /// joints. With `--init-from` an absolute-joint checkpoint, its joint head is
    /// replaced by a zeroed residual one.
    #[arg(long)]
    pub residual_joints: bool,
    /// With --residual-joints: add the change to the current reading (input) or
    /// to the previous target (previous-target: in training the recorded one,
    /// on the robot the policy's own last output, so the controller's lag does
    /// not feed back into the next target; no online error regression).
    /// Default: input, or the --init-from checkpoint's.
    #[arg(long, value_enum, requires = "residual_joints")]
    pub residual_base: Option<BaseArg>,
    /// Add a subgoal head: from the attention points, the active label and the
    /// instruction, predict the arm's pose at the end of the current phase (from
    /// the demonstrations' own joints and labels). Its loss teaches the points
    /// where the task is, e.g. the towel's corner, which next-frame prediction
    /// alone does not: the towel is still until grasped.
    #[arg(long)]
    pub goal_head: bool,
    /// The last this-many keypoints become goal points: they paint no heatmap
    /// for the image decoder, so next-frame prediction does not pull them onto
    /// the moving arm, and each sits at the centroid of its map's positive part
    /// (not a softmax peak), so it moves with a region such as the towel. The
    /// core and the subgoal head read them (use with `--goal-head`).
    #[arg(long, default_value_t = 0)]
    pub goal_points: usize,
    /// Where the goal points come from: `maps`, the point encoder's last maps;
    /// `pixels`, a per-pixel colour score (blind to the channels' order) with
    /// one linear ramp per point, so each point is where the scored region (the
    /// towel) reaches furthest in its direction. The pixel encoder has too few
    /// weights to tell scenes apart, so it cannot memorise the demonstrations.
    #[arg(long, value_enum, default_value_t = GoalEncoderArg::Maps)]
    pub goal_encoder: GoalEncoderArg,
    /// Softmax temperature of `--goal-encoder pixels` (units of the pixel
    /// score's spread; lower is sharper).
    #[arg(long, default_value_t = 0.03)]
    pub goal_temperature: f64,
    /// Weight of the subgoal loss (with `--goal-head`).
    #[arg(long, default_value_t = 1.0, requires = "goal_head")]
    pub goal_weight: f64,
    /// Feed the subgoal head's prediction into the recurrent core, so the core
    /// learns to move towards the target it is told. Needs a subgoal head
    /// (`--goal-head`, or an `--init-from` checkpoint with one); with
    /// `--init-from` it needs `--new-core`, since the core's input grows.
    #[arg(long)]
    pub goal_input: bool,
    /// With `--goal-input` and `--residual-joints`: the change also pulls
    /// towards the subgoal, through a per-joint gate the core sets, so the arm
    /// heads for the subgoal on any scene and the core learns when and how fast.
    #[arg(long, requires = "goal_input")]
    pub goal_pull: bool,
    /// Initial bias of the `--goal-pull` gate: −3 starts nearly shut (an
    /// untrained model holds still), +3 nearly open (the target starts at the
    /// subgoal plus the core's change, so the grasp follows the subgoal).
    #[arg(long, default_value_t = -3.0, requires = "goal_pull", allow_negative_numbers = true)]
    pub goal_gate_init: f64,
    /// With `--goal-pull`: the change is the gated pull alone, without the
    /// free head, so each step closes a fraction (set by the core) of the way
    /// to the phase's end and the arm arrives where the subgoal says.
    #[arg(long, requires = "goal_pull")]
    pub goal_pull_only: bool,
    /// With `--goal-input`: the core reads the joints only as their offset
    /// from the subgoal (`subgoal − joints`), not the two apart, so the same
    /// distance to go gives the same motion on any scene.
    #[arg(long, requires = "goal_input")]
    pub goal_relative: bool,
    /// With `--goal-pull`: the core reads neither the subgoal nor the goal
    /// points, so where the towel lies reaches the motion only through the pull.
    #[arg(long, requires = "goal_pull", conflicts_with = "goal_relative")]
    pub goal_blind: bool,
    /// With `--goal-input`: the core also reads the distance to the subgoal
    /// (one number: how far, not where), so a `--goal-blind` core can tell
    /// when it has arrived.
    #[arg(long, requires = "goal_input")]
    pub goal_distance: bool,
    /// With `--goal-blind`: the core reads none of the attention points,
    /// only the joints and the words (and the distance with `--goal-distance`).
    #[arg(long, requires = "goal_blind")]
    pub core_without_points: bool,
    /// With `--goal-head`: one subgoal map per (instruction, label) instead of
    /// one per label, for data where the same words name different targets in
    /// different tasks (a half fold reaches for other corners than the corner fold).
    #[arg(long, requires = "goal_head")]
    pub goal_per_instruction: bool,
    /// With `--goal-head`: one subgoal map per phase (a label's place in the
    /// task's usual sequence of labels) instead of one per label, for tasks
    /// that say the same words more than once for different targets (a half
    /// fold reaches for a corner three times). With several instructions,
    /// add `--goal-per-instruction`.
    #[arg(long, requires = "goal_head")]
    pub goal_per_phase: bool,
    /// Instead of training: set the subgoal head of the `--init-from`
    /// checkpoint to its least-squares fit over every step of the training
    /// episodes (the head is affine in the points, so this is its best fit;
    /// gradient descent approaches it slowly), print the fit, and save the
    /// model to `--out` (best and last).
    #[arg(long, requires = "init_from")]
    pub fit_goal_head: bool,
    /// Ridge penalty of `--fit-goal-head`.
    #[arg(long, default_value_t = 1e-3, requires = "fit_goal_head")]
    pub goal_ridge: f64,
    /// Decoupled weight decay (AdamW) on the weight matrices and kernels: each
    /// step shrinks them by `--lr` × this of themselves; 0 = plain Adam (EIPL).
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Run on the CPU even when built with CUDA.
    #[arg(long)]
    pub cpu: bool,
    /// No progress bar (per-epoch lines are still printed).
    #[arg(long)]
    pub quiet: bool,
}

/// The network-shaping flags whose value differs from an `--init-from`
/// checkpoint's (which wins). The hidden size is left out when `--new-core`
/// replaces the core.
fn ignored_shape_flags(asked: &ModelConfig, ckpt: &ModelConfig, new_core: bool) -> Vec<&'static str> {
    [
        ("--keypoints", asked.keypoints != ckpt.keypoints),
        ("--hidden", asked.hidden != ckpt.hidden && !new_core),
        ("--lang-dim", asked.lang_dim != ckpt.lang_dim),
        ("--conditioning", asked.conditioning != ckpt.conditioning),
        ("--temperature", asked.temperature != ckpt.temperature),
        ("--heatmap-size", asked.heatmap_size != ckpt.heatmap_size),
        ("--standardize-attention", asked.standardize_attention != ckpt.standardize_attention),
        ("--goal-head", asked.goal_head != ckpt.goal_head),
        ("--goal-points", asked.goal_points != ckpt.goal_points),
        ("--goal-input", asked.goal_input != ckpt.goal_input && !new_core),
        ("--goal-pull", asked.goal_pull != ckpt.goal_pull && !new_core),
        ("--goal-pull-only", asked.goal_pull_only != ckpt.goal_pull_only && !new_core),
        ("--goal-gate-init", asked.goal_gate_init != ckpt.goal_gate_init && !new_core),
        ("--goal-relative", asked.goal_relative != ckpt.goal_relative && !new_core),
        ("--goal-blind", asked.goal_blind != ckpt.goal_blind && !new_core),
        ("--goal-distance", asked.goal_distance != ckpt.goal_distance && !new_core),
        ("--core-without-points", asked.core_reads_points != ckpt.core_reads_points && !new_core),
        ("--goal-per-instruction", asked.goal_instructions != ckpt.goal_instructions),
        ("--goal-per-phase", asked.goal_phases != ckpt.goal_phases),
        ("--goal-encoder", asked.goal_encoder != ckpt.goal_encoder),
        ("--goal-temperature", asked.goal_temperature != ckpt.goal_temperature),
        ("--feature-pool", asked.feature_pool != ckpt.feature_pool),
    ]
    .into_iter()
    .filter_map(|(flag, differs)| differs.then_some(flag))
    .collect()
}

pub fn run(a: TrainArgs) -> Result<()> {
    if !(0.0..=1.0).contains(&a.joint_feedback) {
        bail!("--joint-feedback must be within 0..=1, got {}", a.joint_feedback);
    }
    for (flag, w) in [("--image-weight", a.image_weight), ("--goal-weight", a.goal_weight)] {
        if !(w.is_finite() && w >= 0.0) {
            bail!("{flag} must be a finite number >= 0, got {w}");
        }
    }
    for (flag, v) in [("--joint-noise", Some(a.joint_noise)), ("--motor-joint-noise", a.motor_joint_noise)] {
        if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= 0.0)) {
            bail!("{flag} must be a finite number >= 0, got {v}");
        }
    }
    let data = if a.synthetic {
        let cfg = SyntheticConfig {
            episodes: a.synthetic_episodes,
            steps: a.synthetic_steps,
            height: a.image_size,
            width: a.image_size,
            joints: a.synthetic_joints,
            ..SyntheticConfig::default()
        };
        kotoba_dpl::synthetic::generate(&cfg)
    } else {
        let dir = a.dataset.clone().unwrap_or_else(|| PathBuf::from("demos/sample"));
        if !dir.exists() {
            bail!("no dataset at {}: pass --dataset DIR (a `kotoba record` folder) or --synthetic", dir.display());
        }
        let spec = SampleSpec { rate_hz: a.rate, image_size: a.image_size, arm_targets: a.arm_targets, ..SampleSpec::default() };
        let (data, manifest, cache) = load_dataset(&dir, spec)?;
        manifest.save(&cache, &a.out)?;
        data
    };
    let shape = data.validate().context("dataset")?;
    let model = ModelConfig {
        image_height: a.image_size,
        image_width: a.image_size,
        feature_pool: a.feature_pool,
        keypoints: a.keypoints,
        temperature: a.temperature,
        heatmap_size: a.heatmap_size,
        standardize_attention: a.standardize_attention,
        hidden: a.hidden,
        joints: shape.joints,
        embed_dim: shape.embed_dim,
        labels: shape.labels,
        lang_dim: a.lang_dim,
        conditioning: match a.conditioning {
            CondArg::Concat => Conditioning::Concat,
            CondArg::Film => Conditioning::Film,
        },
        rate_hz: a.rate,
        residual_joints: a.residual_joints,
        residual_base: a.residual_base.unwrap_or_default().into(),
        label_input: !a.no_label_input,
        goal_head: a.goal_head,
        goal_points: a.goal_points,
        goal_input: a.goal_input,
        goal_pull: a.goal_pull,
        goal_pull_only: a.goal_pull_only,
        goal_gate_init: a.goal_gate_init,
        goal_relative: a.goal_relative,
        goal_blind: a.goal_blind,
        goal_distance: a.goal_distance,
        core_reads_points: !a.core_without_points,
        goal_instructions: if a.goal_per_instruction { data.instruction_count() } else { 0 },
        goal_phases: if a.goal_per_phase { data.most_phases() } else { 0 },
        goal_encoder: match a.goal_encoder {
            GoalEncoderArg::Maps => GoalEncoder::Maps,
            GoalEncoderArg::Pixels => GoalEncoder::Pixels,
        },
        goal_temperature: a.goal_temperature,
        ..ModelConfig::default()
    };
    let train = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        seed: a.seed,
        val_fraction: a.val_fraction,
        lr: a.lr,
        point_ramp_batches: a.point_ramp,
        augment: AugmentConfig {
            enabled: !a.no_augment,
            joint_noise: a.joint_noise,
            colour_permute: a.colour_permute,
            base_rotation: a.base_rotation,
            phase_shift: a.phase_shift,
            ..AugmentConfig::default()
        },
        window: a.window,
        freeze_vision: a.freeze_vision,
        joint_feedback: a.joint_feedback,
        weight_decay: a.weight_decay,
        w_image: a.image_weight,
        w_goal: a.goal_weight,
        ..TrainConfig::default()
    };
    let device = kotoba_dpl::device(!a.cpu)?;
    let mut trainer = match &a.init_from {
        Some(dir) => {
            let mut ckpt = kotoba_dpl::Checkpoint::load(dir, &device)
                .with_context(|| format!("--init-from {}", dir.display()))?;
            for flag in ignored_shape_flags(&model, ckpt.model.config(), a.new_core.is_some()) {
                eprintln!("note: {flag} is ignored with --init-from: the network keeps the shape of {}", dir.display());
            }
            let (h, w) = (ckpt.model.config().image_height, ckpt.model.config().image_width);
            if (h, w) != (a.image_size, a.image_size) {
                if !a.resize {
                    bail!("--init-from {}: its model reads {h}x{w} images, --image-size is {}: pass --resize to carry its weights to the new size", dir.display(), a.image_size);
                }
                eprintln!("--resize: the weights of {} ({h}x{w}) carried to {1}x{1} images", dir.display(), a.image_size);
                ckpt.model = ckpt.model.resized(a.image_size, a.image_size)?;
            }
            if a.residual_joints && !ckpt.model.config().residual_joints {
                eprintln!("--residual-joints: the absolute joint head of {} is replaced by a zeroed residual one", dir.display());
                ckpt.model.make_residual()?;
            }
            if let Some(b) = a.residual_base {
                ckpt.model.set_residual_base(b.into());
            }
            if a.no_label_input {
                ckpt.model.set_label_input(false);
            }
            let c = ckpt.model.config();
            // (asked, the checkpoint has it): each changes the core's inputs or heads.
            let core_options = [
                (a.goal_input, c.goal_input),
                (a.goal_pull, c.goal_pull),
                (a.goal_relative, c.goal_relative),
                (a.goal_blind, c.goal_blind),
                (a.goal_distance, c.goal_distance),
                (a.core_without_points, !c.core_reads_points),
            ];
            if a.new_core.is_none() && core_options.iter().any(|&(asked, has)| asked && !has) {
                bail!("--goal-input, --goal-pull, --goal-relative, --goal-blind, --goal-distance and --core-without-points with --init-from need --new-core: the core's input and heads change");
            }
            if let Some(h) = a.new_core {
                eprintln!("--new-core: a fresh {h}-unit recurrent core on the vision of {}", dir.display());
                let core = kotoba_dpl::NewCore { hidden: h, ..kotoba_dpl::NewCore::of(&model) };
                ckpt.model = ckpt.model.with_new_core(core, a.seed)?;
            }
            kotoba_dpl::Trainer::from_checkpoint(ckpt, train, data)?
        }
        None => kotoba_dpl::build_trainer(&model, train, data, &a.out, a.resume, &device)?,
    };
    eprintln!(
        "training {} params on {} train / {} val episodes ({} steps max), device {:?}, from epoch {}",
        trainer.model().params().count(),
        trainer.train_idx.len(),
        trainer.val_idx.len(),
        shape.max_len,
        device,
        trainer.state.epoch
    );
    if a.fit_goal_head {
        if !(a.goal_ridge.is_finite() && a.goal_ridge > 0.0) {
            bail!("--goal-ridge must be a finite number > 0, got {}", a.goal_ridge);
        }
        let rms = trainer.fit_goal_head(a.goal_ridge)?;
        let f = rms.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(" ");
        println!("subgoal head fitted on {} episodes: RMS per joint (normalised) [{f}]", trainer.train_idx.len());
        for sub in ["best", "last"] {
            kotoba_dpl::save_run(&trainer, &a.out.join(sub))?;
        }
        println!("saved to {}/{{best,last}}", a.out.display());
        return Ok(());
    }
    // A resumed second stage continues to the same total.
    if trainer.cfg.freeze_vision && a.resume && a.motor_epochs > 0 {
        trainer.cfg.epochs = a.epochs + a.motor_epochs;
    }
    if trainer.state.epoch >= trainer.cfg.epochs && (a.motor_epochs == 0 || trainer.cfg.freeze_vision) {
        // Nothing left to train: report the checkpoint on the validation episodes.
        match trainer.evaluate()? {
            Some(v) => println!(
                "validation of the starting weights: total {:.5} (img {:.5} joint {:.5} pt {:.5} label {:.4}); hold-still joint MSE {:.5}",
                v.total, v.image, v.joint, v.point, v.label, trainer.hold_still_joint_mse()
            ),
            None => println!("no validation episodes (--val-fraction 0), nothing to train"),
        }
        if !trainer.val_idx.is_empty() {
            let (model, hold) = trainer.joint_errors()?;
            let f = |v: &[f64]| v.iter().map(|x| format!("{:.5}", x)).collect::<Vec<_>>().join(" ");
            println!("per-joint validation MSE: model [{}]; holding still [{}]", f(&model), f(&hold));
        }
        if let Some(dir) = &a.init_from {
            step_replay_report(dir, &trainer, &device)?;
        }
        return Ok(());
    }
    let opts = FitOptions { out_dir: a.out.clone(), progress: !a.quiet, console: true };
    let log = if trainer.cfg.freeze_vision {
        kotoba_dpl::fit(&mut trainer, &opts)?
    } else {
        let log = kotoba_dpl::fit(&mut trainer, &opts)?;
        if a.motor_epochs > 0 {
            eprintln!("second stage: {} epochs of the recurrent core on whole episodes, vision frozen", a.motor_epochs);
            kotoba_dpl::fit_motor(trainer, a.motor_epochs, a.motor_joint_noise, &opts)?
        } else {
            log
        }
    };
    if let Some(last) = log.last() {
        println!("{}", kotoba_dpl::format_epoch(last));
    }
    println!(
        "checkpoints in {}/{{last,best}}, losses in {0}/losses.csv",
        a.out.display()
    );
    Ok(())
}

/// The policy as it runs (step by step, `input_param` 1, no error
/// regression), fed the recorded train and validation episodes: per-joint RMS
/// in raw units against the next recorded target (the joints, or the commands
/// with `--arm-targets command`), next to holding still.
fn step_replay_report(dir: &Path, trainer: &kotoba_dpl::Trainer, device: &kotoba_dpl::Device) -> Result<()> {
    let ckpt = kotoba_dpl::Checkpoint::load(dir, device)?;
    let cfg = kotoba_dpl::RuntimeConfig { input_param: 1.0, regression: None, ..Default::default() };
    let mut policy = kotoba_dpl::SarnnPolicy::new(ckpt, cfg)?;
    let data = trainer.data();
    let f = |v: &[f64]| v.iter().map(|x| format!("{x:.4}")).collect::<Vec<_>>().join(" ");
    for (name, idx) in [("train", &trainer.train_idx), ("validation", &trainer.val_idx)] {
        let eps: Vec<_> = idx.iter().map(|&i| &data.episodes[i]).collect();
        if eps.is_empty() {
            continue;
        }
        for (how, labels) in [("recorded labels fed", Some(&data.labels)), ("own labels fed back", None)] {
            let r = kotoba_dpl::step_replay(&mut policy, &eps, labels)?;
            println!(
                "step-by-step policy on the {name} episodes ({} steps, {how}), RMS per joint: policy [{}]; holding still [{}]",
                r.steps,
                f(&r.policy_rms),
                f(&r.hold_rms)
            );
        }
    }
    Ok(())
}

/// Loads a recorded dataset as a training set, embedding its instructions and
/// labels with the default sentence encoder (the dataset's own
/// `embeddings.json` is reused and extended when present).
pub fn load_dataset(dir: &Path, spec: SampleSpec) -> Result<(kotoba_dpl::Dataset, Manifest, EmbeddingCache)> {
    let cache_path = dir.join(crate::bundle::EMBEDDINGS_FILE);
    let mut cache = if cache_path.exists() { EmbeddingCache::load(&cache_path)? } else { EmbeddingCache::new() };
    let encoder = EncoderConfig::default().load()?;
    let loaded = crate::episodes::load(dir, &spec, encoder.as_ref(), &mut cache)?;
    for n in &loaded.notes {
        eprintln!("note: {n}");
    }
    // Stored with the dataset too, so re-training needs no encoder run.
    cache.save(&cache_path)?;
    let manifest = Manifest {
        sample: spec,
        gripper: loaded.gripper,
        instructions: loaded.instructions,
        encoder_model_id: encoder.model_id().to_string(),
        source_image: loaded.source_image,
        label_gripper: loaded.label_gripper,
        members: vec![],
    };
    Ok((loaded.data, manifest, cache))
}

/// `kotoba bench policy`: candle vs the PyTorch script in `bench/policy/`.
pub fn bench_policy(quick: bool) -> Result<BenchReport> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv = root.join(".venv/bin/python");
    let python = if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    };
    Ok(kotoba_dpl::bench::bench_policy(
        quick,
        &python,
        &root.join("bench/policy/sarnn_torch.py"),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_flags_that_an_init_checkpoint_overrides_are_named() {
        let ckpt = ModelConfig::default();
        assert!(ignored_shape_flags(&ckpt, &ckpt, false).is_empty());
        let asked = ModelConfig { temperature: 0.2, standardize_attention: true, hidden: 128, ..ckpt.clone() };
        assert_eq!(ignored_shape_flags(&asked, &ckpt, false), ["--hidden", "--temperature", "--standardize-attention"]);
        assert_eq!(ignored_shape_flags(&asked, &ckpt, true), ["--temperature", "--standardize-attention"]);
    }
}
