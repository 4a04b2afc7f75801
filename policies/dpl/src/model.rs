//! SARNN (EIPL `SARNN.py`) with a language latent and a next-label head.
//!
//! Per step: two unshared 3-conv stacks read the image; one ends in a spatial
//! softmax giving K attention points, the other gives K feature maps. The LSTM
//! reads `[points, joints]` plus the language latent `z` (concatenated or FiLM),
//! and its state is decoded into next joints, next points and next-label logits.
//! The next image is decoded from the feature maps gated by Gaussian heatmaps at
//! the predicted points. Every layer ends in LeakyReLU(0.3), as in EIPL.

use candle_core::{D, Device, Tensor};

use crate::config::{Conditioning, GoalEncoder, ModelConfig};
use crate::direct::{DirectConv, DirectStack};
use crate::error::{DplError, Result};
use crate::params::{Init, Params};

mod attention;
mod core_seq;
mod goal;
mod pixel_goal;

const SLOPE: f64 = 0.3;
const CH1: usize = 16;
const CH2: usize = 32;

fn leaky(x: &Tensor) -> candle_core::Result<Tensor> {
    crate::conv::leaky_relu(x, SLOPE as f32)
}

#[derive(Clone)]
struct Conv {
    w: Tensor,
    b: Tensor,
    pad: usize,
}

impl Conv {
    fn frozen(&self) -> Self {
        Self {
            w: self.w.detach(),
            b: self.b.detach(),
            pad: self.pad,
        }
    }
    fn new(
        init: &mut Init,
        name: &str,
        cin: usize,
        cout: usize,
        k: usize,
        pad: usize,
    ) -> Result<Self> {
        Ok(Self {
            w: init.xavier(&format!("{name}.weight"), &[cout, cin, k, k])?,
            b: init.zeros(&format!("{name}.bias"), &[cout])?,
            pad,
        })
    }
    /// `x` and the result are channel-major, `(C, N, H, W)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        leaky(&crate::conv::conv2d_cm(x, &self.w, &self.b, self.pad)?)
    }

    /// Floats of the unfolded input per image for an `h x w` input, and the output size.
    fn cols_per_image(&self, h: usize, w: usize) -> (usize, usize, usize) {
        let (cin, k) = (self.w.dims()[1], self.w.dims()[2]);
        let (oh, ow) = crate::conv::out_hw(h, w, k, self.pad);
        ((cin * k * k + 1) * oh * ow, oh, ow)
    }
}

/// Largest unfolded input built at once (bytes). Kept under glibc's largest
/// mmap threshold (32 MiB) so the buffers are reused from the heap instead of
/// being mapped, zeroed by page faults and unmapped on every layer.
const COLS_BUDGET: usize = 16 << 20;

/// Runs a conv stack on `(N, C, H, W)` images, channel-major inside, in chunks of
/// images whose unfolded inputs stay under [`COLS_BUDGET`].
fn run_stack(stack: &[Conv; 3], x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, _, mut h, mut w) = x.dims4()?;
    let mut per_image = 1;
    for c in stack {
        let (cols, oh, ow) = c.cols_per_image(h, w);
        per_image = per_image.max(cols * 4);
        (h, w) = (oh, ow);
    }
    let chunk = (COLS_BUDGET / per_image).max(1);
    let mut outs = Vec::with_capacity(n.div_ceil(chunk));
    for start in (0..n).step_by(chunk) {
        let mut y = x.narrow(0, start, chunk.min(n - start))?.transpose(0, 1)?.contiguous()?;
        for c in stack {
            y = c.forward(&y)?;
        }
        outs.push(y);
    }
    Tensor::cat(&outs, 1)?.transpose(0, 1)?.contiguous()
}

/// The normalised coordinate, 0..1, of each of `n` cells along an axis.
fn axis(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32 / (n - 1) as f32).collect()
}

/// `(h·w, 2)`: the normalised (x, y), each in 0..1, of every cell of an
/// `h × w` map, row by row.
fn grid(h: usize, w: usize, device: &Device) -> candle_core::Result<Tensor> {
    let (xs, ys) = (axis(w), axis(h));
    let g: Vec<f32> = ys.iter().flat_map(|&y| xs.iter().flat_map(move |&x| [x, y])).collect();
    Tensor::from_vec(g, (h * w, 2), device)
}

#[derive(Clone)]
struct Dense {
    w: Tensor,
    b: Tensor,
}

impl Dense {
    fn frozen(&self) -> Self {
        Self {
            w: self.w.detach(),
            b: self.b.detach(),
        }
    }
    fn new(init: &mut Init, name: &str, cin: usize, cout: usize) -> Result<Self> {
        Ok(Self {
            w: init.xavier(&format!("{name}.weight"), &[cout, cin])?,
            b: init.zeros(&format!("{name}.bias"), &[cout])?,
        })
    }
    /// `x` is 2-D `(n, cin)`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.w.t()?)?.broadcast_add(&self.b)
    }
}

/// LSTM state `(h, c)`, each `(batch, hidden)`.
#[derive(Clone, Debug)]
pub struct LstmState {
    pub h: Tensor,
    pub c: Tensor,
}

#[derive(Clone)]
struct Lstm {
    w_ih: Tensor,
    w_hh: Tensor,
    b: Tensor,
    hidden: usize,
}

impl Lstm {
    fn frozen(&self) -> Self {
        Self {
            w_ih: self.w_ih.detach(),
            w_hh: self.w_hh.detach(),
            b: self.b.detach(),
            hidden: self.hidden,
        }
    }
    /// Input projection for many steps at once: `(n, in) -> (n, 4H)`.
    fn input_gates(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.w_ih.t()?)?.broadcast_add(&self.b)
    }
    /// One step given the precomputed input gates (PyTorch gate order i, f, g, o).
    fn step(&self, gx: &Tensor, s: &LstmState) -> candle_core::Result<LstmState> {
        let g = (gx + s.h.matmul(&self.w_hh.t()?)?)?;
        let hd = self.hidden;
        let i = candle_nn::ops::sigmoid(&g.narrow(1, 0, hd)?)?;
        let f = candle_nn::ops::sigmoid(&g.narrow(1, hd, hd)?)?;
        let c_hat = g.narrow(1, 2 * hd, hd)?.tanh()?;
        let o = candle_nn::ops::sigmoid(&g.narrow(1, 3 * hd, hd)?)?;
        let c = ((f * &s.c)? + (i * c_hat)?)?;
        let h = (o * c.tanh()?)?;
        Ok(LstmState { h, c })
    }
}

/// Outputs for a batch of sequences, time-major inside each batch row.
pub struct SeqOut {
    /// `(B*T, 3, H, W)` predicted next images in [0, 1]-ish.
    pub image: Tensor,
    /// `(B, T, D)` predicted next joints (normalised).
    pub joints: Tensor,
    /// `(B, T, 2K)` attention points read from the current image.
    pub enc_pts: Tensor,
    /// `(B, T, 2K)` predicted next attention points.
    pub dec_pts: Tensor,
    /// `(B, T, V)` next-label logits.
    pub label_logits: Tensor,
    pub last: LstmState,
}

/// What a batch of sequences says: the instruction `(B, E)`, the active
/// labels' embeddings `(B, T, E)` and, for a core that reads a subgoal
/// ([`ModelConfig::goal_input`]), which of the subgoal head's maps each step
/// uses `(B, T)` (u32; [`crate::Batch::goal_key`]).
#[derive(Clone, Copy)]
pub struct Words<'a> {
    pub instr: &'a Tensor,
    pub labels: &'a Tensor,
    pub goal_key: Option<&'a Tensor>,
    /// `(B, T, D)` added to the subgoal the core reads (training only; see
    /// [`crate::AugmentConfig::base_rotation`]).
    pub goal_shift: Option<&'a Tensor>,
}

impl<'a> Words<'a> {
    /// Instruction and label embeddings, without label indices.
    pub fn new(instr: &'a Tensor, labels: &'a Tensor) -> Self {
        Self { instr, labels, goal_key: None, goal_shift: None }
    }
}

/// The shape of a fresh core for [`Sarnn::with_new_core`]: its LSTM units
/// and what it reads and how it moves, the core's fields of [`ModelConfig`]
/// (each documented there).
#[derive(Debug, Clone, Copy)]
pub struct NewCore {
    pub hidden: usize,
    pub goal_input: bool,
    pub goal_pull: bool,
    pub goal_pull_only: bool,
    pub goal_gate_init: f64,
    pub goal_relative: bool,
    pub goal_blind: bool,
    pub goal_distance: bool,
    pub core_reads_points: bool,
}

impl NewCore {
    /// The core `cfg` describes.
    pub fn of(cfg: &ModelConfig) -> Self {
        Self {
            hidden: cfg.hidden,
            goal_input: cfg.goal_input,
            goal_pull: cfg.goal_pull,
            goal_pull_only: cfg.goal_pull_only,
            goal_gate_init: cfg.goal_gate_init,
            goal_relative: cfg.goal_relative,
            goal_blind: cfg.goal_blind,
            goal_distance: cfg.goal_distance,
            core_reads_points: cfg.core_reads_points,
        }
    }

    /// `cfg` with this core.
    fn apply(self, cfg: &ModelConfig) -> ModelConfig {
        ModelConfig {
            hidden: self.hidden,
            goal_input: self.goal_input,
            goal_pull: self.goal_pull,
            goal_pull_only: self.goal_pull_only,
            goal_gate_init: self.goal_gate_init,
            goal_relative: self.goal_relative,
            goal_blind: self.goal_blind,
            goal_distance: self.goal_distance,
            core_reads_points: self.core_reads_points,
            ..cfg.clone()
        }
    }
}

/// The default model's core: 50 units, reading no subgoal.
impl Default for NewCore {
    fn default() -> Self {
        Self::of(&ModelConfig::default())
    }
}

/// [`Sarnn::core_seq`]'s outputs: [`SeqOut`] without the images.
pub struct CoreOut {
    pub joints: Tensor,
    pub dec_pts: Tensor,
    pub label_logits: Tensor,
    pub last: LstmState,
}

/// The network. Cheap to clone (tensors share storage with the trainable vars).
pub struct Sarnn {
    cfg: ModelConfig,
    params: Params,
    device: Device,
    pos_enc: [Conv; 3],
    im_enc: [Conv; 3],
    dec_img: [Conv; 3],
    lstm: Lstm,
    dec_joint: Dense,
    dec_pt: Dense,
    label_head: Dense,
    lang: Dense,
    film: Option<Dense>,
    goal: Option<goal::GoalHead>,
    /// The goal points' own encoder ([`crate::GoalEncoder::Pixels`]).
    pixel_goal: Option<pixel_goal::PixelGoal>,
    /// The gate of [`ModelConfig::goal_pull`].
    goal_gate: Option<Dense>,
    /// `(hw, 2)` normalised (x, y) of each cell of the point encoder's maps.
    grid: Tensor,
    /// `(1, w)` and `(1, h)`: the normalised x of each column and y of each
    /// row of the feature encoder's maps, which the heatmaps gate (the point
    /// maps' unless [`ModelConfig::feature_pool`] shrinks them).
    map_xs: Tensor,
    map_ys: Tensor,
}

impl Sarnn {
    /// A fresh network whose every weight follows from `seed`.
    pub fn new(cfg: &ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        cfg.validate()?;
        let mut init = Init::new(seed, device);
        let (k, kp) = (cfg.kernel_size, cfg.keypoints);
        let stack =
            |init: &mut Init, name: &str, chans: [usize; 4], pad: usize| -> Result<[Conv; 3]> {
                Ok([
                    Conv::new(init, &format!("{name}.0"), chans[0], chans[1], k, pad)?,
                    Conv::new(init, &format!("{name}.1"), chans[1], chans[2], k, pad)?,
                    Conv::new(init, &format!("{name}.2"), chans[2], chans[3], k, pad)?,
                ])
            };
        let pos_enc = stack(&mut init, "pos_encoder", [3, CH1, CH2, kp], 0)?;
        let im_enc = stack(&mut init, "im_encoder", [3, CH1, CH2, kp], 0)?;
        // A stride-1 transposed convolution is a full (padding k-1) convolution; we
        // parametrise it directly in conv2d layout so the fast im2col path runs.
        let dec_img = stack(&mut init, "decoder_image", [kp, CH2, CH1, 3], k - 1)?;
        let h = cfg.hidden;
        let lstm = Lstm {
            w_ih: init.xavier("rec.weight_ih", &[4 * h, cfg.core_input()])?,
            w_hh: init.orthogonal("rec.weight_hh", 4 * h, h)?,
            b: init.zeros("rec.bias", &[4 * h])?,
            hidden: h,
        };
        let mut dec_joint = Dense::new(&mut init, "decoder_joint", h, cfg.joints)?;
        if cfg.residual_joints {
            // The change head starts at exactly zero: an untrained model says
            // "stay where you are". (Drawn first, so other layers keep their init.)
            dec_joint.w = init.zeros("decoder_joint.weight", &[cfg.joints, h])?;
        }
        let dec_pt = Dense::new(&mut init, "decoder_point", h, 2 * kp)?;
        let label_head = Dense::new(&mut init, "label_head", h, cfg.labels)?;
        let lang = Dense::new(&mut init, "lang_proj", 2 * cfg.embed_dim, cfg.lang_dim)?;
        let film = match cfg.conditioning {
            Conditioning::Film => Some(Dense::new(
                &mut init,
                "film",
                cfg.lang_dim,
                2 * (2 * kp + cfg.joints),
            )?),
            Conditioning::Concat => None,
        };
        // Drawn last, so a model without the head keeps the same initial weights.
        let goal = match cfg.goal_head {
            true => Some(goal::GoalHead::new(&mut init, cfg)?),
            false => None,
        };
        let goal_gate = match cfg.goal_pull {
            true => Some(goal::gate(&mut init, cfg)?),
            false => None,
        };
        let pixel_goal = match cfg.goal_encoder {
            GoalEncoder::Pixels => Some(pixel_goal::PixelGoal::new(&mut init, cfg)?),
            GoalEncoder::Maps => None,
        };
        let (ph, pw) = cfg.point_hw();
        let grid = grid(ph, pw, device)?;
        let (fh, fw) = cfg.feature_hw();
        let (map_xs, map_ys) = (Tensor::from_vec(axis(fw), (1, fw), device)?, Tensor::from_vec(axis(fh), (1, fh), device)?);
        Ok(Self {
            cfg: cfg.clone(),
            params: init.finish(),
            device: device.clone(),
            pos_enc,
            im_enc,
            dec_img,
            lstm,
            dec_joint,
            dec_pt,
            label_head,
            lang,
            film,
            goal,
            pixel_goal,
            goal_gate,
            grid,
            map_xs,
            map_ys,
        })
    }

    /// A copy for inference: same storage, but no gradient tracking, so running it
    /// records no autograd graph and gradients never flow into the weights.
    pub fn frozen(&self) -> Self {
        let f3 = |s: &[Conv; 3]| [s[0].frozen(), s[1].frozen(), s[2].frozen()];
        Self {
            cfg: self.cfg.clone(),
            params: self.params.clone(),
            device: self.device.clone(),
            pos_enc: f3(&self.pos_enc),
            im_enc: f3(&self.im_enc),
            dec_img: f3(&self.dec_img),
            lstm: self.lstm.frozen(),
            dec_joint: self.dec_joint.frozen(),
            dec_pt: self.dec_pt.frozen(),
            label_head: self.label_head.frozen(),
            lang: self.lang.frozen(),
            film: self.film.as_ref().map(Dense::frozen),
            goal: self.goal.as_ref().map(goal::GoalHead::frozen),
            pixel_goal: self.pixel_goal.as_ref().map(pixel_goal::PixelGoal::frozen),
            goal_gate: self.goal_gate.as_ref().map(Dense::frozen),
            grid: self.grid.clone(),
            map_xs: self.map_xs.clone(),
            map_ys: self.map_ys.clone(),
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// Turns an absolute-joint model into a residual one for fine-tuning: the
    /// joint head is zeroed, so the model starts from "stay where you are"
    /// rather than reading its absolute outputs as changes. The encoders, the
    /// recurrent core and the other heads keep their weights.
    pub fn make_residual(&mut self) -> Result<()> {
        for name in ["decoder_joint.weight", "decoder_joint.bias"] {
            let v = self.param(name)?;
            v.set(&v.as_tensor().zeros_like()?)?;
        }
        self.cfg.residual_joints = true;
        Ok(())
    }
    /// The parameter called `name`, or an error naming it.
    pub(crate) fn param(&self, name: &str) -> Result<&candle_core::Var> {
        self.params.get(name).ok_or_else(|| DplError::Config(format!("model has no parameter {name}")))
    }

    /// Names of the vision's parameters: both encoders, the image decoder and
    /// the goal points' pixel encoder.
    pub const VISION: [&'static str; 4] = ["pos_encoder", "im_encoder", "decoder_image", pixel_goal::PARAMS];

    /// A model with this one's vision (encoders and image decoder, copied) and
    /// its subgoal head (copied, if it has one), and a fresh recurrent core with
    /// `hidden` units and its own heads and language projection, initialised
    /// from `seed`: for training a larger core, or one that reads the subgoal
    /// (`goal_input`), on a trained vision with [`crate::TrainConfig::freeze_vision`].
    pub fn with_new_core(&self, core: NewCore, seed: u64) -> Result<Sarnn> {
        let cfg = core.apply(&self.cfg);
        let fresh = Sarnn::new(&cfg, seed, &self.device)?;
        for (name, var) in fresh.params.iter() {
            if Self::VISION.iter().chain(&[goal::PARAMS]).any(|v| name.starts_with(v)) {
                var.set(self.param(name)?.as_tensor())?;
            }
        }
        Ok(fresh)
    }

    /// This model for `height × width` images, every weight copied: no layer's
    /// shape depends on the image size (the convolutions slide, the points are
    /// normalised), so a vision trained on small frames can be finished on
    /// large ones.
    pub fn resized(&self, height: usize, width: usize) -> Result<Sarnn> {
        let cfg = ModelConfig { image_height: height, image_width: width, ..self.cfg.clone() };
        let fresh = Sarnn::new(&cfg, 0, &self.device)?;
        for (name, var) in fresh.params.iter() {
            var.set(self.param(name)?.as_tensor())?;
        }
        Ok(fresh)
    }

    /// Stops (or resumes) feeding the label into the core; see [`ModelConfig::label_input`].
    pub fn set_label_input(&mut self, on: bool) {
        self.cfg.label_input = on;
    }

    /// What a residual head adds its change to; the weights stay as they are.
    pub fn set_residual_base(&mut self, base: crate::ResidualBase) {
        self.cfg.residual_base = base;
    }

    pub fn params(&self) -> &Params {
        &self.params
    }
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Images `(N, 3, H, W)` -> (points `(N, 2K)`, feature maps `(N, K, h, w)`).
    pub fn encode(&self, img: &Tensor) -> candle_core::Result<(Tensor, Tensor)> {
        let p = run_stack(&self.pos_enc, img)?;
        let f = run_stack(&self.im_enc, &self.pooled(img)?)?;
        Ok((self.points(&p, img)?, f))
    }

    /// Images `(N, 3, H, W)` as the feature encoder sees them and the image
    /// decoder predicts them: averaged over [`ModelConfig::feature_pool`] blocks.
    pub fn pooled(&self, img: &Tensor) -> candle_core::Result<Tensor> {
        match self.cfg.feature_pool {
            0 | 1 => Ok(img.clone()),
            p => img.avg_pool2d(p),
        }
    }

    /// Coordinates of the points the point loss compares (the first this-many
    /// of `2K`): all, except pixel goal points. Those only say where the task
    /// is; the subgoal loss alone trains their encoder, and predicting their
    /// next value would only pull them towards whatever is easy to predict.
    pub fn predicted_points(&self) -> usize {
        match self.pixel_goal {
            Some(_) => 2 * (self.cfg.keypoints - self.cfg.goal_points),
            None => 2 * self.cfg.keypoints,
        }
    }

    /// Points `(N, 2K)` with pixel goal points detached, as the core gets
    /// them, so the core's losses leave their encoder to the subgoal loss.
    fn detach_pixel_goal_points(&self, pts: &Tensor) -> candle_core::Result<Tensor> {
        let keep = self.predicted_points();
        if keep == 2 * self.cfg.keypoints {
            return Ok(pts.clone());
        }
        Tensor::cat(&[&pts.narrow(1, 0, keep)?, &pts.narrow(1, keep, pts.dim(1)? - keep)?.detach()], 1)
    }

    /// Points `(N, 2K)` from the point encoder's maps `(N, K, h, w)`; with a
    /// pixel goal encoder the last `goal_points` come from the images `(N, 3,
    /// H, W)` instead (the maps' last ones then go unread).
    fn points(&self, maps: &Tensor, img: &Tensor) -> candle_core::Result<Tensor> {
        let pts = self.spatial_softmax(maps)?;
        let Some(pg) = &self.pixel_goal else { return Ok(pts) };
        Tensor::cat(&[&pts.narrow(1, 0, self.predicted_points())?, &pg.points(img)?], 1)
    }

    /// The point encoder, feature encoder and image decoder as direct-convolution
    /// stacks for the batch-1 CPU policy step (weights copied; see [`crate::direct`]).
    pub(crate) fn direct_stacks(&self) -> candle_core::Result<[DirectStack; 3]> {
        let conv = |c: &Conv| -> candle_core::Result<DirectConv> {
            let (co, ci, k, _) = c.w.dims4()?;
            Ok(DirectConv::new(ci, co, k, c.pad, c.w.flatten_all()?.to_vec1()?, c.b.to_vec1()?))
        };
        let stack = |s: &[Conv; 3], split: bool| -> candle_core::Result<DirectStack> {
            Ok(DirectStack::new(s.iter().map(conv).collect::<candle_core::Result<_>>()?, SLOPE as f32, split))
        };
        // The encoders run side by side (`encode_direct`); the decoder alone splits.
        Ok([stack(&self.pos_enc, false)?, stack(&self.im_enc, false)?, stack(&self.dec_img, true)?])
    }

    /// [`Sarnn::encode`] of one CHW image through [`Sarnn::direct_stacks`].
    pub(crate) fn encode_direct(&self, d: &mut [DirectStack; 3], img: &[f32]) -> candle_core::Result<(Tensor, Tensor)> {
        let dims = (3, self.cfg.image_height, self.cfg.image_width);
        let pooled;
        let (small, small_dims) = match self.cfg.feature_pool {
            0 | 1 => (img, dims),
            p => {
                pooled = crate::prep::pool_chw(img, dims, p);
                (&pooled[..], (3, dims.1 / p, dims.2 / p))
            }
        };
        let run = |s: &mut DirectStack, x: &[f32], dims| {
            let (v, (c, h, w)) = s.run(x, dims);
            Tensor::from_slice(v, (1, c, h, w), &self.device)
        };
        // The two encoders are independent: one each on two threads.
        let [pos, im, _] = d;
        let (p, f) = rayon::join(|| run(pos, img, dims), || run(im, small, small_dims));
        let (p, f) = (p?, f?);
        match self.pixel_goal {
            None => Ok((self.spatial_softmax(&p)?, f)),
            Some(_) => Ok((self.points(&p, &Tensor::from_slice(img, (1, dims.0, dims.1, dims.2), &self.device)?)?, f)),
        }
    }

    /// [`Sarnn::decode_image`] for one image through the decoder's direct stack.
    pub(crate) fn decode_image_direct(&self, dec: &mut DirectStack, dec_pts: &Tensor, feat: &Tensor) -> candle_core::Result<Tensor> {
        let gated = (self.heatmaps(dec_pts)? * feat)?;
        let (_, k, fh, fw) = gated.dims4()?;
        let (v, (c, h, w)) = dec.run(&gated.flatten_all()?.to_vec1::<f32>()?, (k, fh, fw));
        Tensor::from_slice(v, (1, c, h, w), &self.device)
    }

    /// Next image from predicted points and current feature maps.
    pub fn decode_image(&self, dec_pts: &Tensor, feat: &Tensor) -> candle_core::Result<Tensor> {
        run_stack(&self.dec_img, &(self.heatmaps(dec_pts)? * feat)?)
    }

    /// Language latent `z = tanh(W [instruction; label] + b)`; inputs `(n, E)` each.
    pub fn lang_latent(&self, instr: &Tensor, label: &Tensor) -> candle_core::Result<Tensor> {
        let label = if self.cfg.label_input { label.clone() } else { label.zeros_like()? };
        self.lang.forward(&Tensor::cat(&[instr, &label], 1)?)?.tanh()
    }

    /// LSTM input from points `(n, 2K)`, joints `(n, D)`, the subgoal `(n, D)`
    /// (a model with [`ModelConfig::goal_input`] needs it, any other refuses it)
    /// and latent `(n, Z)`; a [`ModelConfig::goal_relative`] core reads
    /// `subgoal − joints` in place of both, a [`ModelConfig::goal_blind`] one
    /// neither the subgoal nor the goal points; a [`ModelConfig::goal_distance`]
    /// one also reads `‖subgoal − joints‖`. The latent comes last: the error regression's
    /// hand-written gradient reads its weights as the last columns.
    pub fn core_input(
        &self,
        pts: &Tensor,
        joints: &Tensor,
        goal: Option<&Tensor>,
        z: &Tensor,
    ) -> candle_core::Result<Tensor> {
        match (goal, self.cfg.goal_input) {
            (None, true) => candle_core::bail!("this model's core reads a subgoal and none was given"),
            (Some(_), false) => candle_core::bail!("a subgoal was given to a core that does not read one"),
            _ => {}
        }
        let offset = match goal {
            Some(g) if self.cfg.goal_relative || self.cfg.goal_distance => Some((g - joints)?),
            _ => None,
        };
        // The tiny floor keeps the square root's gradient finite at zero
        // distance (joints fed back from predictions carry gradients).
        let distance = match (&offset, self.cfg.goal_distance) {
            (Some(o), true) => Some((o.sqr()?.sum_keepdim(1)? + 1e-12)?.sqrt()?),
            _ => None,
        };
        let joints_in = match (&offset, self.cfg.goal_relative) {
            (Some(o), true) => o,
            _ => joints,
        };
        let x = match self.cfg.core_points() {
            0 => joints_in.clone(),
            n => Tensor::cat(&[&pts.narrow(1, 0, 2 * n)?, joints_in], 1)?,
        };
        let x = match &self.film {
            None => x,
            Some(film) => {
                let gb = film.forward(z)?;
                let m = x.dim(1)?;
                let gamma = (gb.narrow(1, 0, m)? + 1.0)?;
                x.mul(&gamma)?.add(&gb.narrow(1, m, m)?)?
            }
        };
        let mut parts = vec![&x];
        parts.extend(distance.as_ref());
        parts.extend(goal.filter(|_| self.cfg.core_reads_goal()));
        if self.film.is_none() {
            parts.push(z);
        }
        Tensor::cat(&parts, 1)
    }

    /// LSTM input gates for `(n, in)` core inputs.
    /// The recurrent core and motor heads as plain arrays for the hand-written
    /// error-regression gradient; `None` with FiLM conditioning (not covered).
    pub(crate) fn core_weights(&self) -> candle_core::Result<Option<crate::regress_fast::CoreWeights>> {
        use crate::regress_fast::flat;
        if self.film.is_some() {
            return Ok(None);
        }
        let z = self.cfg.lang_dim;
        let cols = self.lstm.w_ih.dim(1)?;
        Ok(Some(crate::regress_fast::CoreWeights {
            hidden: self.cfg.hidden,
            w_hh: flat(&self.lstm.w_hh)?,
            w_z: flat(&self.lstm.w_ih.narrow(1, cols - z, z)?.contiguous()?)?,
            z_dim: z,
            w_j: flat(&self.dec_joint.w)?,
            b_j: flat(&self.dec_joint.b)?,
            w_p: flat(&self.dec_pt.w)?,
            b_p: flat(&self.dec_pt.b)?,
            residual: self.cfg.residual_joints,
            slope: SLOPE as f32,
        }))
    }

    pub fn input_gates(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.lstm.input_gates(x)
    }

    pub fn lstm_step(&self, gx: &Tensor, s: &LstmState) -> candle_core::Result<LstmState> {
        self.lstm.step(gx, s)
    }

    pub fn zero_state(&self, batch: usize) -> candle_core::Result<LstmState> {
        let z = Tensor::zeros(
            (batch, self.cfg.hidden),
            candle_core::DType::F32,
            &self.device,
        )?;
        Ok(LstmState { h: z.clone(), c: z })
    }

    /// Joint and point heads: `(n, H)` -> (joints `(n, D)`, points `(n, 2K)`).
    /// `joints_in` `(n, D)` is the joint input of the same step (used when the
    /// model predicts changes, `residual_joints`); `goal` `(n, D)` the subgoal
    /// the core read (used with [`ModelConfig::goal_pull`]).
    pub fn motor_heads(&self, h: &Tensor, joints_in: &Tensor, goal: Option<&Tensor>) -> candle_core::Result<(Tensor, Tensor)> {
        let yj = if self.cfg.residual_joints {
            let change = self.dec_joint.forward(h)?;
            let change = match (&self.goal_gate, goal) {
                (Some(gate), Some(g)) => {
                    let pull = candle_nn::ops::sigmoid(&gate.forward(h)?)?.mul(&(g - joints_in)?)?;
                    if self.cfg.goal_pull_only { pull } else { (change + pull)? }
                }
                (Some(_), None) => candle_core::bail!("this model pulls towards a subgoal and none was given"),
                (None, _) => change,
            };
            (joints_in + change)?
        } else {
            leaky(&self.dec_joint.forward(h)?)?
        };
        Ok((yj, leaky(&self.dec_pt.forward(h)?)?))
    }

    pub fn label_logits(&self, h: &Tensor) -> candle_core::Result<Tensor> {
        self.label_head.forward(h)
    }

    /// Teacher-forced pass over whole sequences: the encoders and the image decoder
    /// run on all `B*T` frames at once, only the LSTM steps through time.
    ///
    /// `images (B*T, 3, H, W)`, `joints (B, T, D)`, `instr (B, E)`, `labels (B, T, E)`.
    pub fn forward_seq(
        &self,
        images: &Tensor,
        joints: &Tensor,
        instr: &Tensor,
        labels: &Tensor,
        state: Option<LstmState>,
    ) -> Result<SeqOut> {
        self.forward_seq_from(images, joints, None, Words::new(instr, labels), state)
    }

    /// [`Sarnn::forward_seq`] where a residual model adds its changes to
    /// `residual_base` `(B, T, D)` instead of to the joint input. Training passes the
    /// clean joints here while the input carries augmentation noise: the noise is
    /// there to make the model robust, and added to the output it would only be an
    /// error no model can remove.
    pub fn forward_seq_from(
        &self,
        images: &Tensor,
        joints: &Tensor,
        residual_base: Option<&Tensor>,
        words: Words<'_>,
        state: Option<LstmState>,
    ) -> Result<SeqOut> {
        let (b, t, d) = joints.dims3()?;
        self.check_seq(images, b * t, d, words.instr, words.labels)?;
        let (enc_pts, feat) = self.encode(images)?;
        let m = self.core_seq(&self.detach_pixel_goal_points(&enc_pts)?.reshape((b, t, ()))?, joints, residual_base, words, state)?;
        let image = self.decode_image(&m.dec_pts.reshape((b * t, ()))?, &feat)?;
        Ok(SeqOut {
            image,
            joints: m.joints,
            enc_pts: enc_pts.reshape((b, t, ()))?,
            dec_pts: m.dec_pts,
            label_logits: m.label_logits,
            last: m.last,
        })
    }

    fn check_seq(
        &self,
        images: &Tensor,
        n: usize,
        d: usize,
        instr: &Tensor,
        labels: &Tensor,
    ) -> Result<()> {
        let c = &self.cfg;
        let want = [n, 3, c.image_height, c.image_width];
        if images.dims() != want {
            return Err(DplError::mismatch(
                "image batch shape",
                format!("{want:?}"),
                format!("{:?}", images.dims()),
            ));
        }
        if d != c.joints {
            return Err(DplError::mismatch("joint count", c.joints, d));
        }
        if instr.dim(D::Minus1)? != c.embed_dim || labels.dim(D::Minus1)? != c.embed_dim {
            return Err(DplError::mismatch(
                "embedding size",
                c.embed_dim,
                format!("{:?} / {:?}", instr.dims(), labels.dims()),
            ));
        }
        Ok(())
    }
}
