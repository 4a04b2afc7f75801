//! The run-time side: a [`Policy`] trait with plain arrays in and a timestamped
//! joint-target chunk out, and [`SarnnPolicy`], EIPL's online loop.

use std::time::Duration;

use candle_core::{D, Tensor};
use kotoba_core::Stamp;
use serde::{Deserialize, Serialize};

use crate::checkpoint::Checkpoint;
use crate::direct::DirectStack;
use crate::error::{DplError, Result, check_finite};
use crate::model::LstmState;
use crate::phases::{PhaseTracker, phase_weights};
use crate::regress::{ErrorRegression, RegressConfig, WindowStep};
use crate::train::hwc_to_chw;

/// What a policy expects of its inputs; a node checks its robot against this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySpec {
    pub image_height: usize,
    pub image_width: usize,
    pub joints: usize,
    pub embed_dim: usize,
    /// The policy must be stepped at this rate (the rate it was trained at).
    pub rate_hz: f64,
    pub label_names: Vec<String>,
    /// Whether each output carries a subgoal ([`PolicyOutput::subgoal`]).
    #[serde(default)]
    pub subgoal: bool,
}

/// One tick's sensations, all plain arrays.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub stamp: Stamp,
    /// `H x W x 3` RGB at the spec's size.
    pub image: &'a [u8],
    /// Raw joint positions.
    pub joints: &'a [f32],
    /// Sentence embedding of the current instruction.
    pub instruction: &'a [f32],
    /// Embedding of a label the operator just spoke, if any; otherwise the policy
    /// feeds back its own predicted label.
    pub label: Option<&'a [f32]>,
}

/// Joint targets for the next `len()` ticks: target `i` is for `start + i * period`.
#[derive(Debug, Clone, PartialEq)]
pub struct JointChunk {
    pub start: Stamp,
    pub period: Duration,
    pub joints: usize,
    /// `len x joints`, raw units.
    pub targets: Vec<f32>,
}

impl JointChunk {
    pub fn len(&self) -> usize {
        self.targets.len() / self.joints.max(1)
    }
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
    pub fn target(&self, i: usize) -> &[f32] {
        &self.targets[i * self.joints..(i + 1) * self.joints]
    }
    pub fn stamp(&self, i: usize) -> Stamp {
        self.start.add(self.period * i as u32)
    }
}

/// What one tick produces.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyOutput {
    pub chunk: JointChunk,
    /// Most likely next label and the whole distribution.
    pub label: usize,
    pub label_probs: Vec<f32>,
    /// Attention points read from the current image, normalised (x, y) in [0, 1].
    pub attention: Vec<[f32; 2]>,
    /// Attention points predicted for the next image.
    pub predicted_attention: Vec<[f32; 2]>,
    /// Mean squared prediction error over the regression window before/after this
    /// tick's regression (both `None` when regression is off or the window is short).
    pub window_error: Option<(f32, f32)>,
    /// Where the subgoal head expects the arm at the end of the current phase
    /// (raw joint units), for a model with one ([`crate::ModelConfig::goal_head`]).
    pub subgoal: Option<Vec<f32>>,
}

pub trait Policy {
    fn spec(&self) -> &PolicySpec;
    /// Forgets the recurrent state; call at the start of an episode.
    fn reset(&mut self);
    fn step(&mut self, obs: &Observation<'_>) -> Result<PolicyOutput>;
    /// Takes `target` (raw joint units) as the last step's first target in
    /// place of its own, for what the policy carries to its next step (the
    /// base of a residual change, the prediction `input_param` blends with).
    /// An [`crate::EnsemblePolicy`] tells every member the mean it sent, so
    /// none drifts on targets the robot never got. Stateless policies ignore it.
    fn follow(&mut self, _target: &[f32]) -> Result<()> {
        Ok(())
    }
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn spec(&self) -> &PolicySpec {
        (**self).spec()
    }
    fn reset(&mut self) {
        (**self).reset()
    }
    fn step(&mut self, obs: &Observation<'_>) -> Result<PolicyOutput> {
        (**self).step(obs)
    }
    fn follow(&mut self, target: &[f32]) -> Result<()> {
        (**self).follow(target)
    }
}

/// Settings of the online loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// EIPL `input_param`: `x = a * sensor + (1 - a) * previous prediction` (1 = pure sensor).
    pub input_param: f32,
    /// The same for the joints alone (`None`: `input_param`). 0 lets the model
    /// run on its own joint predictions, so a controller that lags its targets
    /// does not slow the motion down (the image still closes the loop).
    #[serde(default)]
    pub joint_input_param: Option<f32>,
    /// Ticks of joint targets per chunk; beyond the first, the model rolls out on its own predictions.
    pub horizon: usize,
    /// Online error regression; `None` turns it off.
    pub regression: Option<RegressConfig>,
    /// Joint targets stay within the range the model was taught (each joint's
    /// min..max in the training data) widened by this fraction of it on each
    /// side. A residual model integrates its own changes and can otherwise
    /// drift far outside anything it saw; `None` leaves the outputs as they are.
    #[serde(default = "default_joint_margin")]
    pub joint_margin: Option<f32>,
    /// For a model on its previous target: how far (raw joint units, rad) that
    /// target may lead the reading before the policy adds its next change.
    /// Integrating its own targets, the policy would otherwise run on when the
    /// arm is held back (contact, a safety hold), until every target is a jump
    /// the controller refuses. `None`: no leash. Ignored for other models.
    #[serde(default = "default_max_lead")]
    pub max_lead: Option<f32>,
}

fn default_max_lead() -> Option<f32> {
    Some(0.2)
}

fn default_joint_margin() -> Option<f32> {
    Some(0.1)
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            input_param: 0.8,
            joint_input_param: None,
            horizon: 1,
            regression: None,
            joint_margin: default_joint_margin(),
            max_lead: default_max_lead(),
        }
    }
}

/// The SARNN online loop: carries the LSTM state, blends sensors with its own
/// previous prediction, optionally regresses its latent on recent prediction errors.
pub struct SarnnPolicy {
    ckpt: Checkpoint,
    cfg: RuntimeConfig,
    spec: PolicySpec,
    state: Option<LstmState>,
    prev_image: Option<Tensor>,
    prev_joints: Option<Tensor>,
    /// The label distribution predicted last tick, `(1, V)`.
    prev_probs: Option<Tensor>,
    er: Option<ErrorRegression>,
    chw: Vec<f32>,
    norm_joints: Vec<f32>,
    /// Batch-1 conv stacks for the CPU (`None` on a GPU, where candle's convs run).
    direct: Option<[DirectStack; 3]>,
    /// The task's phase so far, for a subgoal head with a map per phase.
    phase: PhaseTracker,
}

impl SarnnPolicy {
    pub fn new(ckpt: Checkpoint, cfg: RuntimeConfig) -> Result<Self> {
        for a in [Some(cfg.input_param), cfg.joint_input_param].into_iter().flatten() {
            if !(0.0..=1.0).contains(&a) {
                return Err(DplError::Config(format!("input_param {a} outside [0, 1]")));
            }
        }
        for (name, v) in [("max_lead", cfg.max_lead), ("joint_margin", cfg.joint_margin)] {
            if v.is_some_and(|m| !(m.is_finite() && m >= 0.0)) {
                return Err(DplError::Config(format!("{name} {v:?} must be a finite number >= 0")));
            }
        }
        if cfg.horizon == 0 {
            return Err(DplError::Config("horizon must be >= 1".into()));
        }
        let m = ckpt.model.config();
        let spec = PolicySpec {
            image_height: m.image_height,
            image_width: m.image_width,
            joints: m.joints,
            embed_dim: m.embed_dim,
            rate_hz: m.rate_hz,
            label_names: ckpt.labels.names.clone(),
            subgoal: m.goal_head,
        };
        let ckpt = Checkpoint {
            model: ckpt.model.frozen(),
            ..ckpt
        };
        if cfg.regression.is_some() && ckpt.model.config().on_previous_target() {
            // The regression window scores predictions against the next reading
            // from the reading's own base; it has no record of past targets yet.
            return Err(DplError::Config(
                "online error regression is not implemented for a model on its previous target (residual_base = previous_target); turn regression off (`--regression-iters 0`, or `regression_iters = 0` in an eval spec)".into(),
            ));
        }
        if cfg.regression.is_some() && ckpt.model.config().goal_input {
            // The window would have to re-predict each step's subgoal under the
            // regressed latent; not written yet.
            return Err(DplError::Config(
                "online error regression is not implemented for a core that reads a subgoal (goal_input); turn regression off (`--regression-iters 0`, or `regression_iters = 0` in an eval spec)".into(),
            ));
        }
        ckpt.check_goal_maps()?;
        let er = cfg
            .regression
            .as_ref()
            .map(|r| ErrorRegression::new(&ckpt.model, r.clone()))
            .transpose()?;
        let direct = if ckpt.model.device().is_cpu() { Some(ckpt.model.direct_stacks()?) } else { None };
        let chw = vec![0.0; 3 * m.image_height * m.image_width];
        let norm_joints = vec![0.0; m.joints];
        Ok(Self {
            ckpt,
            cfg,
            spec,
            state: None,
            prev_image: None,
            prev_joints: None,
            prev_probs: None,
            er,
            chw,
            norm_joints,
            direct,
            phase: PhaseTracker::default(),
        })
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.ckpt
    }


    /// Checks an observation against the spec: sizes and finiteness.
    pub fn check(&self, obs: &Observation<'_>) -> Result<()> {
        let s = &self.spec;
        let img = s.image_height * s.image_width * 3;
        if obs.image.len() != img {
            return Err(DplError::mismatch(
                "image bytes (H*W*3)",
                format!("{img} ({}x{})", s.image_height, s.image_width),
                obs.image.len(),
            ));
        }
        if obs.joints.len() != s.joints {
            return Err(DplError::mismatch(
                "joint count",
                s.joints,
                obs.joints.len(),
            ));
        }
        if obs.instruction.len() != s.embed_dim {
            return Err(DplError::mismatch(
                "instruction embedding size",
                s.embed_dim,
                obs.instruction.len(),
            ));
        }
        if let Some(l) = obs.label {
            if l.len() != s.embed_dim {
                return Err(DplError::mismatch(
                    "label embedding size",
                    s.embed_dim,
                    l.len(),
                ));
            }
            check_finite("label embedding", l)?;
        }
        check_finite("joints", obs.joints)?;
        check_finite("instruction embedding", obs.instruction)
    }

    /// Clamps normalised joints to the taught range widened by `joint_margin`.
    fn within_taught_range(&self, yj: Tensor) -> Result<Tensor> {
        Ok(match self.cfg.joint_margin {
            Some(mg) => {
                let (lo, hi) = (self.ckpt.norm.lo, self.ckpt.norm.hi);
                let pad = mg * (hi - lo);
                yj.clamp(lo - pad, hi + pad)?
            }
            None => yj,
        })
    }

    /// The previous target, at most `max_lead` (raw units) from the joint input
    /// `jnt` (the reading, unless `joint_input_param` blends in the last target).
    fn leashed(&self, prev: &Tensor, jnt: &Tensor) -> Result<Tensor> {
        let Some(lead) = self.cfg.max_lead else { return Ok(prev.clone()) };
        let n = &self.ckpt.norm;
        let per_joint: Vec<f32> = n.min.iter().zip(&n.max).map(|(lo, hi)| lead * (n.hi - n.lo) / (hi - lo)).collect();
        let lead = Tensor::from_vec(per_joint, jnt.shape(), jnt.device())?;
        Ok(prev.maximum(&(jnt - &lead)?)?.minimum(&(jnt + &lead)?)?)
    }

    /// `(1, V)` one-hot of label `i`.
    fn one_hot(&self, i: usize) -> Result<Tensor> {
        let mut w = vec![0f32; self.ckpt.labels.len()];
        w[i] = 1.0;
        Ok(Tensor::from_vec(w, (1, self.ckpt.labels.len()), self.ckpt.model.device())?)
    }

    fn blend(&self, sensor: Tensor, prev: &Option<Tensor>, a: f32) -> Result<Tensor> {
        let a = f64::from(a);
        Ok(match prev {
            Some(p) if a < 1.0 => ((sensor * a)? + (p * (1.0 - a))?)?,
            _ => sensor,
        })
    }
}

/// The subgoal head's map weights `(1, M)` from label weights `(1, V)`: the
/// same, or over the current phase and the next
/// ([`crate::ModelConfig::goal_phases`]; moves the phase tracker on, and
/// starts it again for another instruction), placed in the block of the most
/// similar taught instruction ([`crate::ModelConfig::goal_instructions`]).
fn goal_weights(ckpt: &Checkpoint, phase: &mut PhaseTracker, labels: Tensor, instruction: &[f32]) -> Result<Tensor> {
    let cfg = ckpt.model.config();
    let (n, per) = (cfg.goal_instructions, cfg.maps_per_instruction());
    let i = ckpt.instruction_index(instruction);
    let dev = ckpt.model.device();
    let block = match cfg.goal_phases {
        0 => labels,
        _ => {
            let probs = labels.flatten_all()?.to_vec1::<f32>()?;
            let phases = ckpt.phases(i);
            let at = phase.observe(i, phases, most_likely(&probs));
            Tensor::from_vec(phase_weights(phases, at, &probs, per), (1, per), dev)?
        }
    };
    if n == 0 {
        return Ok(block);
    }
    let zeros = |k: usize| Tensor::zeros((1, k * per), block.dtype(), dev);
    Ok(Tensor::cat(&[&zeros(i)?, &block, &zeros(n - 1 - i)?], 1)?)
}

/// Index of the largest probability (0 for none).
pub(crate) fn most_likely(probs: &[f32]) -> usize {
    probs.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i)
}

fn points(t: &Tensor) -> Result<Vec<[f32; 2]>> {
    let v = t.flatten_all()?.to_vec1::<f32>()?;
    Ok(v.chunks_exact(2).map(|p| [p[0], p[1]]).collect())
}

impl Policy for SarnnPolicy {
    fn spec(&self) -> &PolicySpec {
        &self.spec
    }

    fn reset(&mut self) {
        self.state = None;
        self.prev_image = None;
        self.prev_joints = None;
        self.prev_probs = None;
        self.phase.reset();
        if let Some(er) = &mut self.er {
            er.reset();
        }
    }

    fn follow(&mut self, target: &[f32]) -> Result<()> {
        if target.len() != self.spec.joints {
            return Err(DplError::mismatch("target joint count", self.spec.joints, target.len()));
        }
        check_finite("followed target", target)?;
        self.ckpt.norm.normalize(target, &mut self.norm_joints);
        let dev = self.ckpt.model.device();
        self.prev_joints = Some(Tensor::from_slice(&self.norm_joints, (1, self.spec.joints), dev)?);
        Ok(())
    }

    fn step(&mut self, obs: &Observation<'_>) -> Result<PolicyOutput> {
        self.check(obs)?;
        let m = &self.ckpt.model;
        let dev = m.device().clone();
        let (h, w, d, e) = (
            self.spec.image_height,
            self.spec.image_width,
            self.spec.joints,
            self.spec.embed_dim,
        );
        hwc_to_chw(obs.image, h, w, &mut self.chw);
        self.ckpt.norm.normalize(obs.joints, &mut self.norm_joints);
        let img = self.blend(
            Tensor::from_slice(&self.chw, (1, 3, h, w), &dev)?,
            &self.prev_image,
            self.cfg.input_param,
        )?;
        let jnt = self.blend(
            Tensor::from_slice(&self.norm_joints, (1, d), &dev)?,
            &self.prev_joints,
            self.cfg.joint_input_param.unwrap_or(self.cfg.input_param),
        )?;
        let instr = Tensor::from_slice(obs.instruction, (1, e), &dev)?;
        let table = Tensor::from_slice(&self.ckpt.labels.embeddings, (self.ckpt.labels.len(), e), &dev)?;
        // The active label as weights over the taught ones `(1, V)`: the spoken
        // one's nearest, else last tick's predicted distribution, else the
        // instruction's start label. Unspoken, its embedding is their mix (the
        // soft label); spoken, the phrase's own embedding.
        let weights = match (obs.label, &self.prev_probs) {
            (Some(l), _) => self.one_hot(self.ckpt.labels.nearest(l))?,
            (None, Some(p)) => p.clone(),
            (None, None) => self.one_hot(self.ckpt.start_label_for(obs.instruction))?,
        };
        let label = match obs.label {
            Some(l) => Tensor::from_slice(l, (1, e), &dev)?,
            None => weights.matmul(&table)?,
        };
        let (enc_pts, feat) = match &mut self.direct {
            Some(d) => m.encode_direct(d, &img.flatten_all()?.to_vec1::<f32>()?)?,
            None => m.encode(&img)?,
        };
        let z = m.lang_latent(&instr, &label)?;
        let state = match self.state.take() {
            Some(s) => s,
            None => m.zero_state(1)?,
        };
        let (z, state, window_error) = match &mut self.er {
            Some(er) => er.tick(
                m,
                WindowStep {
                    pts: enc_pts.clone(),
                    joints: jnt.clone(),
                    z: z.clone(),
                },
                state,
            )?,
            None => (z, state, None),
        };
        let subgoal = match m.config().goal_head {
            true => Some(m.goal_from(&enc_pts.unsqueeze(1)?, &goal_weights(&self.ckpt, &mut self.phase, weights, obs.instruction)?, &z)?),
            false => None,
        };
        let goal = if m.config().goal_input { subgoal.clone() } else { None };
        let x = m.core_input(&enc_pts, &jnt, goal.as_ref(), &z)?;
        let s = m.lstm_step(&m.input_gates(&x)?, &state)?;
        let base = match &self.prev_joints {
            Some(prev) if m.config().on_previous_target() => self.leashed(prev, &jnt)?,
            _ => jnt.clone(),
        };
        let (yj, dec_pts) = m.motor_heads(&s.h, &base, goal.as_ref())?;
        let yj = self.within_taught_range(yj)?;
        let logits = m.label_logits(&s.h)?;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?;
        let image = match &mut self.direct {
            Some(d) => m.decode_image_direct(&mut d[2], &dec_pts, &feat)?,
            None => m.decode_image(&dec_pts, &feat)?,
        };
        self.prev_probs = Some(probs.clone());
        // The decoder predicts the pooled image; repeated back to full size,
        // blended in and pooled again, it gives the feature encoder what an
        // unpooled model would blend (the point encoder sees its blocks).
        // Unblended (`input_param` 1) it is never read at full size.
        let image = match m.config().feature_pool {
            p if p > 1 && self.cfg.input_param < 1.0 => image.upsample_nearest2d(h, w)?,
            _ => image,
        };
        self.prev_image = Some(image);
        self.prev_joints = Some(yj.clone());
        self.state = Some(s.clone());

        let mut targets = Vec::with_capacity(self.cfg.horizon * d);
        let mut raw = vec![0f32; d];
        let (mut roll_j, mut roll_p, mut roll_s) = (yj, dec_pts.clone(), s);
        for k in 0..self.cfg.horizon {
            if k > 0 {
                // Beyond one tick there is no image yet: feed back predicted points and joints.
                // The subgoal stays the one read from the last image.
                let x = m.core_input(&roll_p, &roll_j, goal.as_ref(), &z)?;
                roll_s = m.lstm_step(&m.input_gates(&x)?, &roll_s)?;
                (roll_j, roll_p) = m.motor_heads(&roll_s.h, &roll_j, goal.as_ref())?;
                roll_j = self.within_taught_range(roll_j)?;
            }
            self.ckpt
                .norm
                .denormalize(&roll_j.flatten_all()?.to_vec1::<f32>()?, &mut raw);
            targets.extend_from_slice(&raw);
        }
        let label_probs = probs.flatten_all()?.to_vec1::<f32>()?;
        let label = most_likely(&label_probs);
        let period = Duration::from_secs_f64(1.0 / self.spec.rate_hz);
        Ok(PolicyOutput {
            chunk: JointChunk {
                start: obs.stamp.add(period),
                period,
                joints: d,
                targets,
            },
            label,
            label_probs,
            attention: points(&enc_pts)?,
            predicted_attention: points(&dec_pts)?,
            window_error,
            subgoal: match subgoal {
                Some(g) => {
                    let mut raw = vec![0f32; d];
                    self.ckpt.norm.denormalize(&g.flatten_all()?.to_vec1::<f32>()?, &mut raw);
                    Some(raw)
                }
                None => None,
            },
        })
    }
}
