//! The EIPL training recipe with language: full BPTT over whole sequences, targets
//! shifted one step, loss `0.1 img + 1.0 joint + s(n) 0.1 points + w label-CE`,
//! where `s(n)` ramps the point loss in so that the CNN learns features first.

use candle_core::{DType, Device, Tensor};
use rand::{Rng, SeedableRng};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::augment::{AugmentConfig, augment_images, augment_joints, draw_colour_order, permute_colours};
use crate::checkpoint::{Checkpoint, InstructionStart};
use crate::config::{JointNorm, ModelConfig};
use crate::data::{Dataset, DatasetShape};
use crate::error::{DplError, Result};
use crate::model::{Sarnn, SeqOut, Words};
use crate::optim::Adam;

mod losses;
mod prepared;
mod goal_fit;
mod validation;

pub use losses::Losses;
use prepared::{Prepared, encoder_points, prepare};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub val_fraction: f64,
    pub lr: f64,
    pub adam_eps: f64,
    pub w_image: f64,
    pub w_joint: f64,
    pub w_point: f64,
    pub w_label: f64,
    /// Weight of the subgoal loss, for a model with [`ModelConfig::goal_head`].
    #[serde(default = "one")]
    pub w_goal: f64,
    /// Batches over which the point loss ramps from 0 to full weight (EIPL: 1000).
    pub point_ramp_batches: u64,
    pub augment: AugmentConfig,
    /// Train on windows of this many steps (truncated back-propagation through
    /// time, each window from a fresh recurrent state) instead of whole episodes;
    /// 0 = whole episodes (EIPL). Bounds memory: candle keeps every activation of
    /// a batch for the backward pass, about 20 MB per 64x64 step.
    #[serde(default)]
    pub window: usize,
    /// Train only the recurrent core and its heads (language projection, LSTM,
    /// joint, point and label heads) on attention points that the checkpoint's
    /// encoder reads once from every frame; the encoders and the image decoder
    /// stay as they are. No convolution runs per batch, so an epoch costs a
    /// fraction of a full one: the motion can be trained far longer on a CPU
    /// (EIPL's two-stage CAE + RNN recipe, here with SARNN's own encoder).
    #[serde(default)]
    pub freeze_vision: bool,
    /// With `freeze_vision`: the share of the model's own previous joint
    /// prediction in its joint input (see [`Sarnn::core_seq_feedback`]); 0 =
    /// teacher forcing. A policy run with `joint_input_param = 1 − feedback`
    /// sees what it was trained on.
    #[serde(default)]
    pub joint_feedback: f64,
    /// Decoupled weight decay (AdamW) on every weight matrix and kernel (not
    /// biases): each step shrinks them by `lr · weight_decay` of themselves.
    /// 0 = plain Adam, as EIPL.
    #[serde(default)]
    pub weight_decay: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 1000,
            batch_size: 5,
            seed: 0,
            val_fraction: 0.2,
            lr: 1e-3,
            adam_eps: 1e-7,
            w_image: 0.1,
            w_joint: 1.0,
            w_point: 0.1,
            w_label: 0.1,
            w_goal: 1.0,
            point_ramp_batches: 1000,
            augment: AugmentConfig::default(),
            window: 0,
            freeze_vision: false,
            joint_feedback: 0.0,
            weight_decay: 0.0,
        }
    }
}

/// EIPL's `LossScheduler(curve="s")`: `u - sin(2 pi u) / 2 pi`, `u = n / end` capped at 1.
pub fn point_ramp(batches: u64, end: u64) -> f64 {
    if end == 0 {
        return 1.0;
    }
    let u = (batches as f64 / end as f64).min(1.0);
    u - (2.0 * std::f64::consts::PI * u).sin() / (2.0 * std::f64::consts::PI)
}

/// One mini-batch as tensors.
pub struct Batch {
    pub images_in: Tensor,
    pub images_target: Tensor,
    pub joints_in: Tensor,
    /// The joint input before augmentation (a residual model's base).
    pub joints_clean: Tensor,
    pub joints_target: Tensor,
    pub instr: Tensor,
    pub label_emb: Tensor,
    pub label_idx: Tensor,
    /// `(B, T)` the subgoal head's map for each step: the label, or with
    /// [`crate::ModelConfig::goal_instructions`] instruction × labels + label.
    pub goal_key: Tensor,
    /// `(B, T, D)` normalised joint targets at the end of each step's phase.
    pub goals: Tensor,
    /// `(B, T, 2K)` attention points of the input frames, when the vision is
    /// frozen (then the image tensors are empty and no convolution runs).
    pub points: Option<Tensor>,
    /// `(B, T, D)` added to the subgoal the core reads: the turn of
    /// [`AugmentConfig::base_rotation`] and the offsets of
    /// [`AugmentConfig::phase_shift`], when drawn.
    pub goal_shift: Option<Tensor>,
}

/// Steps `start..start + len` of one episode: one sequence of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub episode: usize,
    pub start: usize,
    pub len: usize,
}

/// Counters that a resumed run continues from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub epoch: usize,
    pub batches: u64,
    pub best_val: Option<f64>,
}

pub struct Trainer {
    pub ckpt: Checkpoint,
    pub cfg: TrainConfig,
    pub opt: Adam,
    pub state: TrainState,
    pub train_idx: Vec<usize>,
    pub val_idx: Vec<usize>,
    data: Dataset,
    prepared: Vec<Prepared>,
    shape: DatasetShape,
}

impl Trainer {
    /// Validates `data` against `model_cfg` (joint count, image size, embedding size
    /// and label count must agree), fits the joint normalisation and builds a fresh model.
    pub fn new(
        model_cfg: &ModelConfig,
        cfg: TrainConfig,
        data: Dataset,
        device: &Device,
    ) -> Result<Self> {
        let shape = data.validate()?;
        let norm = JointNorm::fit(
            data.episodes
                .iter()
                .flat_map(|e| e.joints.chunks(e.num_joints)),
            shape.joints,
        );
        let start_label = most_common_first_label(&data, |_| true);
        let start_labels = start_labels(&data);
        let model = Sarnn::new(model_cfg, cfg.seed, device)?;
        let ckpt = Checkpoint {
            model,
            norm,
            labels: data.labels.clone(),
            start_label,
            start_labels,
        };
        Self::with_checkpoint(ckpt, cfg, data, shape)
    }

    /// Continues from a checkpoint (its normalisation is kept, not refitted).
    pub fn from_checkpoint(ckpt: Checkpoint, cfg: TrainConfig, data: Dataset) -> Result<Self> {
        let shape = data.validate()?;
        Self::with_checkpoint(ckpt, cfg, data, shape)
    }

    fn with_checkpoint(
        ckpt: Checkpoint,
        cfg: TrainConfig,
        data: Dataset,
        shape: DatasetShape,
    ) -> Result<Self> {
        check_compatible(ckpt.model.config(), &shape)?;
        let mut ckpt = ckpt;
        if ckpt.start_labels.is_empty() {
            // A checkpoint from before per-instruction start labels.
            ckpt.start_labels = start_labels(&data);
        }
        for s in ckpt.start_labels.iter_mut().filter(|s| s.phases.is_empty()) {
            // From before phase sequences.
            s.phases = data.usual_phases(&s.instruction);
        }
        if cfg.batch_size == 0 {
            return Err(DplError::Config("batch_size must be > 0".into()));
        }
        if cfg.joint_feedback > 0.0 && ckpt.model.config().on_previous_target() {
            return Err(DplError::Config(
                "joint_feedback feeds predictions back as the joint input; a model on its previous target already runs on them".into(),
            ));
        }
        if ckpt.labels.names != data.labels.names {
            return Err(DplError::mismatch(
                "label vocabulary",
                format!("{:?}", ckpt.labels.names),
                format!("{:?}", data.labels.names),
            ));
        }
        for (name, v) in [("base_rotation", cfg.augment.base_rotation), ("phase_shift", cfg.augment.phase_shift)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(DplError::Config(format!("{name} must be a finite number >= 0, got {v}")));
            }
        }
        if !(cfg.weight_decay.is_finite() && cfg.weight_decay >= 0.0) {
            return Err(DplError::Config(format!("weight_decay must be a finite number >= 0, got {}", cfg.weight_decay)));
        }
        ckpt.check_goal_maps()?;
        let mut prepared: Vec<Prepared> = data
            .episodes
            .iter()
            .map(|e| {
                let i = ckpt.instruction_index(&e.instruction);
                prepare(e, &ckpt.norm, i, (ckpt.model.config().goal_phases > 0).then(|| ckpt.phases(i)))
            })
            .collect();
        if cfg.freeze_vision {
            for p in &mut prepared {
                p.points = Some(encoder_points(&ckpt.model, p, &shape)?);
            }
        }
        let (train_idx, val_idx) = data.split(cfg.val_fraction, cfg.seed);
        let mut opt = Adam::new(ckpt.model.params(), cfg.lr, cfg.adam_eps)?;
        opt.weight_decay = cfg.weight_decay;
        Ok(Self {
            ckpt,
            cfg,
            opt,
            state: TrainState::default(),
            train_idx,
            val_idx,
            data,
            prepared,
            shape,
        })
    }

    /// The episodes being trained on (see `train_idx` and `val_idx`).
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// Gives the dataset back (for a next training stage).
    pub fn into_data(self) -> Dataset {
        self.data
    }

    pub fn model(&self) -> &Sarnn {
        &self.ckpt.model
    }

    /// Builds a batch from episode indices; `rng` enables input augmentation.
    pub fn batch(&self, idx: &[usize], rng: Option<&mut ChaCha8Rng>) -> Result<Batch> {
        let spans: Vec<Span> = idx.iter().map(|&i| Span { episode: i, start: 0, len: self.prepared[i].len }).collect();
        self.batch_spans(&spans, rng)
    }

    /// The sequences of a batch: whole episodes, or windows of exactly
    /// `cfg.window` steps tiled at a random phase (`rng`) or from the start (no
    /// `rng`). The head before the phase and the tail after the last whole window
    /// get a window of their own that overlaps its neighbour, rather than a short
    /// one padded by repeating its last frame: padding in mid-motion would teach
    /// "the next command is the current one", a bias towards lagging.
    pub fn spans(&self, idx: &[usize], rng: Option<&mut ChaCha8Rng>) -> Vec<Span> {
        let w = self.cfg.window;
        let mut rng = rng;
        let mut out = Vec::new();
        for &i in idx {
            let len = self.prepared[i].len;
            if w < 2 || len <= w {
                out.push(Span { episode: i, start: 0, len });
                continue;
            }
            let offset = rng.as_deref_mut().map_or(0, |r| r.random_range(0..w));
            if offset > 0 {
                out.push(Span { episode: i, start: 0, len: w });
            }
            let mut start = offset;
            while start + w <= len {
                out.push(Span { episode: i, start, len: w });
                start += w;
            }
            if start < len {
                out.push(Span { episode: i, start: len - w, len: w });
            }
        }
        out
    }

    /// Builds a batch from spans; `rng` enables input augmentation.
    pub fn batch_spans(&self, spans: &[Span], mut rng: Option<&mut ChaCha8Rng>) -> Result<Batch> {
        let s = &self.shape;
        let t_len = spans.iter().map(|sp| sp.len).max().unwrap_or(0);
        let (b, d, e, plane) = (spans.len(), s.joints, s.embed_dim, 3 * s.height * s.width);
        let mut img_t = Vec::with_capacity(b * t_len * plane);
        let mut jnt_t = Vec::with_capacity(b * t_len * d);
        let (mut img_in, mut jnt_in, mut jnt_clean) = (Vec::new(), Vec::new(), Vec::with_capacity(b * t_len * d));
        let mut instr = Vec::with_capacity(b * e);
        let mut lab_e = Vec::with_capacity(b * t_len * e);
        let mut lab_i = Vec::with_capacity(b * t_len);
        let mut keys = Vec::with_capacity(b * t_len);
        let per_instruction = self.ckpt.model.config().goal_instructions > 0;
        let v = self.ckpt.model.config().maps_per_instruction();
        let mut goals = Vec::with_capacity(b * t_len * d);
        let frozen = self.cfg.freeze_vision;
        let k2 = 2 * self.ckpt.model.config().keypoints;
        let mut pts = Vec::with_capacity(if frozen { b * t_len * k2 } else { 0 });
        // The base turn, in the first joint's normalised units.
        let turn = self.cfg.augment.base_rotation;
        let reads_goal = self.ckpt.model.config().goal_input && rng.is_some();
        let turns = turn > 0.0 && reads_goal;
        let phase_shift = self.cfg.augment.phase_shift;
        let moves_phases = phase_shift > 0.0 && reads_goal;
        let norm = &self.ckpt.norm;
        let turn_scale = (norm.hi - norm.lo) / (norm.max[0] - norm.min[0]);
        let shifted = turns || moves_phases;
        let mut shifts = Vec::with_capacity(if shifted { b * t_len * d } else { 0 });
        for sp in spans {
            let (p, ep) = (&self.prepared[sp.episode], &self.data.episodes[sp.episode]);
            // The episode's instruction's block of the subgoal head's maps,
            // in which a step's map is its label's or its phase's.
            let first_map = if per_instruction { p.instruction * v } else { 0 };
            let map = |t: usize| p.phases.as_ref().map_or(ep.labels[t], |ph| ph[t]);
            let start_img = img_t.len();
            let mut xj = Vec::with_capacity(t_len * d);
            // Short sequences repeat their last step (EIPL pads the same way).
            let steps: Vec<usize> = (0..t_len).map(|t| sp.start + t.min(sp.len - 1)).collect();
            for &tt in &steps {
                if let Some(pp) = &p.points {
                    pts.extend_from_slice(&pp[tt * k2..(tt + 1) * k2]);
                } else {
                    img_t.extend_from_slice(&p.images[tt * plane..(tt + 1) * plane]);
                }
                jnt_t.extend_from_slice(&p.targets[tt * d..(tt + 1) * d]);
                xj.extend_from_slice(&p.joints[tt * d..(tt + 1) * d]);
                lab_e.extend_from_slice(self.data.labels.embedding(ep.labels[tt]));
                lab_i.push(ep.labels[tt] as u32);
                keys.push((first_map + map(tt)) as u32);
                let end = p.phase_ends[tt];
                goals.extend_from_slice(&p.targets[end * d..(end + 1) * d]);
            }
            instr.extend_from_slice(&ep.instruction);
            if shifted {
                // Not the subgoal head's targets: its input, the image, did not move.
                let n0 = jnt_t.len() - t_len * d;
                let mut goal_shift = vec![0f32; t_len * d];
                if let (true, Some(r)) = (turns, rng.as_deref_mut()) {
                    let dq = r.random_range(-turn..=turn) * turn_scale;
                    for t in 0..t_len {
                        jnt_t[n0 + t * d] += dq;
                        xj[t * d] += dq;
                        goal_shift[t * d] += dq;
                    }
                }
                if let (true, Some(r)) = (moves_phases, rng.as_deref_mut()) {
                    let draw = || (0..d).map(|_| r.random_range(-phase_shift..=phase_shift)).collect();
                    let (along, at_end) = crate::augment::phase_shifts(&p.phase_ends, &steps, d, draw);
                    for (i, (a, g)) in along.iter().zip(&at_end).enumerate() {
                        jnt_t[n0 + i] += a;
                        xj[i] += a;
                        goal_shift[i] += g;
                    }
                }
                shifts.extend(goal_shift);
            }
            jnt_clean.extend_from_slice(&xj);
            if let Some(order) = rng.as_deref_mut().and_then(|r| draw_colour_order(&self.cfg.augment, r)) {
                permute_colours(order, &mut img_t[start_img..], plane);
            }
            let mut xi = img_t[start_img..].to_vec();
            if let Some(r) = rng.as_deref_mut() {
                if !frozen {
                    augment_images(&self.cfg.augment, r, &mut xi, s.height, s.width);
                }
                augment_joints(&self.cfg.augment, r, &mut xj);
            }
            img_in.extend(xi);
            jnt_in.extend(xj);
        }
        let dev = self.ckpt.model.device();
        let img_shape = (if frozen { 0 } else { b * t_len }, 3, s.height, s.width);
        Ok(Batch {
            images_in: Tensor::from_vec(img_in, img_shape, dev)?,
            images_target: Tensor::from_vec(img_t, img_shape, dev)?,
            joints_in: Tensor::from_vec(jnt_in, (b, t_len, d), dev)?,
            joints_clean: Tensor::from_vec(jnt_clean, (b, t_len, d), dev)?,
            joints_target: Tensor::from_vec(jnt_t, (b, t_len, d), dev)?,
            instr: Tensor::from_vec(instr, (b, e), dev)?,
            label_emb: Tensor::from_vec(lab_e, (b, t_len, e), dev)?,
            label_idx: Tensor::from_vec(lab_i, (b, t_len), dev)?,
            goal_key: Tensor::from_vec(keys, (b, t_len), dev)?,
            goals: Tensor::from_vec(goals, (b, t_len, d), dev)?,
            points: if frozen { Some(Tensor::from_vec(pts, (b, t_len, k2), dev)?) } else { None },
            goal_shift: if shifted { Some(Tensor::from_vec(shifts, (b, t_len, d), dev)?) } else { None },
        })
    }

    /// The training pass over a batch (teacher-forced, unless `joint_feedback`
    /// feeds predictions back); with the vision frozen only the recurrent core
    /// runs, on the batch's points, and `image` is empty.
    pub fn forward(&self, batch: &Batch) -> Result<SeqOut> {
        let m = &self.ckpt.model;
        // The prediction at step t is scored against target t + 1, so the
        // previous target of that prediction is target t.
        let base = if m.config().on_previous_target() { &batch.joints_target } else { &batch.joints_clean };
        let words = Words {
            instr: &batch.instr,
            labels: &batch.label_emb,
            goal_key: Some(&batch.goal_key),
            goal_shift: batch.goal_shift.as_ref(),
        };
        match &batch.points {
            Some(points) => {
                let c = if self.cfg.joint_feedback > 0.0 {
                    m.core_seq_feedback(points, &batch.joints_clean, self.cfg.joint_feedback, words)?
                } else {
                    m.core_seq(points, &batch.joints_in, Some(base), words, None)?
                };
                Ok(SeqOut {
                    image: Tensor::zeros(0, DType::F32, m.device())?,
                    joints: c.joints,
                    enc_pts: points.clone(),
                    dec_pts: c.dec_pts,
                    label_logits: c.label_logits,
                    last: c.last,
                })
            }
            None => m.forward_seq_from(&batch.images_in, &batch.joints_in, Some(base), words, None),
        }
    }

    /// Forward pass and loss for one batch; returns the total as a tensor (for backward) and the terms.
    pub fn loss(&self, batch: &Batch, ramp: f64) -> Result<(Tensor, Losses)> {
        let (b, t, _) = batch.joints_in.dims3()?;
        let n = t - 1;
        let out = self.forward(batch)?;
        let l_img = if batch.points.is_some() {
            Tensor::new(0f32, self.ckpt.model.device())?
        } else {
            let img_pred = out.image.reshape((b, t, ()))?.narrow(1, 0, n)?;
            let img_tgt = self.ckpt.model.pooled(&batch.images_target)?.reshape((b, t, ()))?.narrow(1, 1, n)?;
            candle_nn::loss::mse(&img_pred, &img_tgt)?
        };
        let l_jnt = candle_nn::loss::mse(
            &out.joints.narrow(1, 0, n)?,
            &batch.joints_target.narrow(1, 1, n)?,
        )?;
        // EIPL does not detach the encoder points used as targets. Pixel goal
        // points are left out: see `Sarnn::predicted_points`.
        let w = self.ckpt.model.predicted_points();
        let l_pt = candle_nn::loss::mse(
            &out.dec_pts.narrow(1, 0, n)?.narrow(2, 0, w)?,
            &out.enc_pts.narrow(1, 1, n)?.narrow(2, 0, w)?,
        )?;
        let logits = out.label_logits.narrow(1, 0, n)?.reshape((b * n, ()))?;
        let tgt = batch.label_idx.narrow(1, 1, n)?.reshape(b * n)?;
        let l_lab = candle_nn::loss::cross_entropy(&logits, &tgt)?;
        let goal = self.ckpt.model.predict_goal(&out.enc_pts, &batch.goal_key, &batch.instr, &batch.label_emb)?;
        let l_goal = match goal {
            Some(g) => candle_nn::loss::mse(&g, &batch.goals)?,
            None => Tensor::new(0f32, self.ckpt.model.device())?,
        };
        let c = &self.cfg;
        let total = (((((&l_img * c.w_image)? + (&l_jnt * c.w_joint)?)?
            + (&l_pt * (c.w_point * ramp))?)?
            + (&l_lab * c.w_label)?)?
            + (&l_goal * c.w_goal)?)?;
        let scalar =
            |x: &Tensor| -> Result<f64> { Ok(x.to_dtype(DType::F64)?.to_scalar::<f64>()?) };
        let losses = Losses {
            image: scalar(&l_img)?,
            joint: scalar(&l_jnt)?,
            point: scalar(&l_pt)?,
            label: scalar(&l_lab)?,
            goal: scalar(&l_goal)?,
            total: scalar(&total)?,
        };
        if !losses.total.is_finite() {
            return Err(DplError::NonFinite("training loss".into()));
        }
        Ok((total, losses))
    }

    /// One pass over the training episodes (shuffled by seed and epoch, so a resumed
    /// run draws the same batches). `progress(done, total)` is called after each batch.
    pub fn train_epoch(&mut self, progress: &mut dyn FnMut(usize, usize)) -> Result<Losses> {
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.cfg
                .seed
                .wrapping_mul(0x9e37_79b9)
                .wrapping_add(self.state.epoch as u64),
        );
        let mut order = self.spans(&self.train_idx, Some(&mut rng));
        order.shuffle(&mut rng);
        let chunks: Vec<Vec<Span>> = order
            .chunks(self.cfg.batch_size)
            .map(<[Span]>::to_vec)
            .collect();
        let mut sum = Losses::default();
        let mut seen = 0usize;
        for (k, idx) in chunks.iter().enumerate() {
            let batch = self.batch_spans(idx, Some(&mut rng))?;
            let ramp = point_ramp(self.state.batches, self.cfg.point_ramp_batches);
            let (total, l) = self.loss(&batch, ramp)?;
            let grads = total.backward()?;
            self.opt.step(&grads)?;
            self.state.batches += 1;
            sum.add_scaled(&l, idx.len() as f64);
            seen += idx.len();
            progress(k + 1, chunks.len());
        }
        self.state.epoch += 1;
        let mut mean = Losses::default();
        mean.add_scaled(&sum, 1.0 / seen.max(1) as f64);
        Ok(mean)
    }

}

/// Errors when the model and the data disagree on shapes.
pub fn check_compatible(m: &ModelConfig, s: &DatasetShape) -> Result<()> {
    if m.joints != s.joints {
        return Err(DplError::mismatch(
            "joint count (model vs dataset)",
            m.joints,
            s.joints,
        ));
    }
    if (m.image_height, m.image_width) != (s.height, s.width) {
        return Err(DplError::mismatch(
            "image size (model vs dataset)",
            format!("{}x{}", m.image_height, m.image_width),
            format!("{}x{}", s.height, s.width),
        ));
    }
    if m.embed_dim != s.embed_dim {
        return Err(DplError::mismatch(
            "embedding size (model vs dataset)",
            m.embed_dim,
            s.embed_dim,
        ));
    }
    if m.labels != s.labels {
        return Err(DplError::mismatch(
            "label count (model vs dataset)",
            m.labels,
            s.labels,
        ));
    }
    Ok(())
}

/// u8 HWC -> f32 CHW in [0, 1] (EIPL scales images linearly, no mean/std).
pub fn hwc_to_chw(src: &[u8], h: usize, w: usize, dst: &mut [f32]) {
    let plane = h * w;
    for (p, px) in src.chunks_exact(3).enumerate() {
        for c in 0..3 {
            dst[c * plane + p] = px[c] as f32 / 255.0;
        }
    }
}

/// Each instruction's most common first label.
fn start_labels(data: &Dataset) -> Vec<InstructionStart> {
    data.instructions()
        .into_iter()
        .map(|i| InstructionStart {
            instruction: i.to_vec(),
            label: most_common_first_label(data, |o| o.instruction == i),
            phases: data.usual_phases(i),
        })
        .collect()
}

/// The label that the episodes passing `keep` most often start with.
fn most_common_first_label(data: &Dataset, keep: impl Fn(&crate::data::Episode) -> bool) -> usize {
    let mut counts = vec![0usize; data.labels.len()];
    for e in data.episodes.iter().filter(|e| keep(e)) {
        if let Some(&l) = e.labels.first() {
            counts[l] += 1;
        }
    }
    counts
        .iter()
        .enumerate()
        .max_by_key(|(i, c)| (**c, usize::MAX - i))
        .map(|(i, _)| i)
        .unwrap_or(0)
}
