use serde::{Deserialize, Serialize};

use crate::error::{DplError, Result};

/// How the language latent enters the recurrent core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Conditioning {
    /// The latent is appended to the LSTM input `[points, joints, z]`.
    #[default]
    Concat,
    /// The latent scales and shifts the LSTM input: `x * (1 + gamma(z)) + beta(z)`.
    Film,
}

/// What a residual model (`residual_joints`) adds its predicted change to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResidualBase {
    /// The current joint input (the encoder reading): the model is a velocity
    /// field over the measured state, so a controller that reaches its targets
    /// late feeds that lag back into the next target.
    #[default]
    Input,
    /// The previous target (in training the recorded one, on the robot the
    /// policy's own last output): the model integrates its own commands, and
    /// the readings only reach it through the recurrent core.
    PreviousTarget,
}

/// Where the goal points ([`ModelConfig::goal_points`]) come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum GoalEncoder {
    /// The point encoder's last maps, each point the centroid of where its map
    /// is positive.
    #[default]
    Maps,
    /// A per-pixel colour score (blind to the channels' order) and one linear
    /// ramp per point: each point is where the scored region reaches furthest
    /// in its ramp's direction (`model/pixel_goal.rs`). It cannot recognise a
    /// scene, so it cannot memorise one.
    Pixels,
}

/// Everything that shapes the network. Defaults are EIPL's SARNN (64x64 images,
/// 5 keypoints, LSTM 50, 3x3 kernels, softmax temperature 1e-4, heatmap 0.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub image_height: usize,
    pub image_width: usize,
    pub keypoints: usize,
    pub hidden: usize,
    pub joints: usize,
    /// Size of the sentence embeddings (instruction and labels), 384 for MiniLM.
    pub embed_dim: usize,
    /// Number of action labels the label head predicts.
    pub labels: usize,
    /// Size of the learned language latent `z`.
    pub lang_dim: usize,
    pub conditioning: Conditioning,
    pub kernel_size: usize,
    pub temperature: f64,
    pub heatmap_size: f64,
    /// Rate the model was trained at; the runtime must step at the same rate.
    pub rate_hz: f64,
    /// Predict the next joints as the current input plus a learned change
    /// (not EIPL's absolute prediction): an untrained or briefly trained model
    /// then proposes targets near the robot's pose instead of the dataset mean,
    /// which the controller's jump check would reject.
    #[serde(default)]
    pub residual_joints: bool,
    /// Standardise each attention map over its positions before the spatial
    /// softmax, so `temperature` fixes its sharpness in units of the map's own
    /// spread. Not in EIPL, whose softmax sees the raw features.
    #[serde(default)]
    pub standardize_attention: bool,
    /// What the residual change is added to (ignored without `residual_joints`).
    #[serde(default)]
    pub residual_base: ResidualBase,
    /// Feed the active verbal label into the core (with the instruction). Off,
    /// labels are only predicted: a policy feeding its own predicted label back
    /// can stay on a stale one (the next label is almost always the current one
    /// in the demonstrations, so the model learns to repeat it), and the motion
    /// conditioned on it stays in that phase.
    #[serde(default = "yes")]
    pub label_input: bool,
    /// A subgoal head (not in EIPL): from the current frame's attention points
    /// and the active label it predicts where the arm will be when the current
    /// phase ends (one affine map per label, `model/goal.rs`). Next-frame
    /// prediction alone gives the points no reason to find a still object such
    /// as the towel; this loss does, with nothing but the demonstrations' own
    /// joints and labels. The core reads the prediction only with `goal_input`.
    #[serde(default)]
    pub goal_head: bool,
    /// The last this-many keypoints paint no heatmap for the image decoder, so
    /// next-frame prediction does not pull them onto what moves (the arm), and
    /// each is the centroid of where its map is positive (weighted by the
    /// value) rather than a softmax peak; the core and the subgoal head read
    /// them. 0 = EIPL (all points are softmax points that paint).
    #[serde(default)]
    pub goal_points: usize,
    /// Feed the subgoal head's prediction (detached) into the recurrent core,
    /// after the joints: `[points, joints, subgoal, z]`. The core then learns
    /// the motion towards a target it is told, rather than having to read the
    /// target out of the points itself. Needs `goal_head`.
    #[serde(default)]
    pub goal_input: bool,
    /// A residual model that reads the subgoal (`goal_input`) also moves
    /// towards it by construction: its change is `head(h) + g(h) ⊙ (subgoal −
    /// base)`, with a per-joint gate `g = sigmoid(W h + b)` the core sets (when,
    /// and how fast, to close in). The direction then comes from the subgoal
    /// on any scene; the core learns the timing and the rest.
    #[serde(default)]
    pub goal_pull: bool,
    /// The subgoal head keeps one map per (taught instruction, label) instead of
    /// one per label, for this many instructions (the checkpoint's
    /// `start_labels`, in order); 0 = one per label. The same words can name
    /// different targets in different tasks ("reaching for the corner" is
    /// another corner in a half fold than in the corner fold).
    #[serde(default)]
    pub goal_instructions: usize,
    /// The subgoal head keeps one map per *phase* (a label's place in the
    /// task's usual label sequence, the checkpoint's
    /// [`crate::InstructionStart::phases`]; `phases.rs`) instead of one per
    /// label, this many per instruction; 0 = one per label. A half fold
    /// reaches for a corner three times, each time another corner.
    #[serde(default)]
    pub goal_phases: usize,
    /// With [`ModelConfig::goal_pull`]: the change is the pull alone, `g(h) ⊙
    /// (subgoal − base)`, without the free head: each step closes a fraction
    /// the core sets of the way to the phase's end, so the arm arrives where
    /// the subgoal says on any scene and only the timing is learned. (With a
    /// free head, the core learned to cancel much of the pull and moved at its
    /// demonstrations' usual speed whatever the distance.) On the towel it did
    /// worse (session 13: 0 of 15; the approach stops short and the fold's
    /// straight joint-space path drags the towel).
    #[serde(default)]
    pub goal_pull_only: bool,
    /// Initial bias of the [`ModelConfig::goal_pull`] gate (only read when
    /// the gate is created): −3 (the default) starts nearly shut, an untrained
    /// model holding still; +3 starts nearly open, the target anchored at the
    /// subgoal plus the core's change, so where the arm ends up follows the
    /// subgoal on any scene from the first step of training.
    #[serde(default = "goal_gate_init")]
    pub goal_gate_init: f64,
    /// With [`ModelConfig::goal_input`]: the core reads the joints only as
    /// their offset from the subgoal, `subgoal − joints`, not the joints and
    /// the subgoal apart. A core that never sees where the arm is, only how
    /// far it has to go, cannot replay a demonstrated path for a scene it
    /// recognises: the same offset gives the same motion on any scene.
    #[serde(default)]
    pub goal_relative: bool,
    /// With [`ModelConfig::goal_pull`]: the core reads neither the subgoal nor
    /// the goal points, so the scene can reach the motion only through the
    /// pull. A core that sees where the goal is can learn to cancel the pull
    /// (session 13: the arm went about 0.6 of the way to a moved subgoal); a
    /// blind one must leave scene-to-scene differences to the gate.
    #[serde(default)]
    pub goal_blind: bool,
    /// With [`ModelConfig::goal_input`]: the core also reads the distance to
    /// the subgoal, `‖subgoal − joints‖` (normalised units), one number that
    /// says how far the arm has to go but not where: a blind core can then
    /// tell when it has arrived (and close the gripper) without learning to
    /// cancel the pull.
    #[serde(default)]
    pub goal_distance: bool,
    /// Off, a [`ModelConfig::goal_blind`] core reads none of the attention
    /// points either, only the joints and the words: even the convolutional
    /// points see the towel, and with them a blind core could still replay
    /// each demonstrated scene from memory and leave the pull gate shut
    /// (session 14, `runs/px20gb31`: the grasp's pan stayed near 0 on every scene).
    #[serde(default = "yes")]
    pub core_reads_points: bool,
    /// Where the goal points come from.
    #[serde(default)]
    pub goal_encoder: GoalEncoder,
    /// Softmax temperature of [`GoalEncoder::Pixels`], in units of the
    /// standardised pixel score (the ramps span about 1 over the image).
    #[serde(default = "goal_temperature")]
    pub goal_temperature: f64,
    /// The feature encoder and the image decoder see the image averaged over
    /// blocks of this side (and the image loss compares frames so averaged),
    /// while the point encoder and [`GoalEncoder::Pixels`] read it whole: the
    /// attention points of a 64×64 frame at about 60 % of its training time.
    /// Those two stacks only teach the points what to follow, through the
    /// heatmaps. On the towel it did not pay (session 16: the blind core on
    /// such a vision folded 1 of 15, on the full 64×64 one 11). 1 = off.
    #[serde(default = "one")]
    pub feature_pool: usize,
}

fn one() -> usize {
    1
}

fn goal_gate_init() -> f64 {
    -3.0
}

fn goal_temperature() -> f64 {
    0.03
}

fn yes() -> bool {
    true
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            image_height: 64,
            image_width: 64,
            keypoints: 5,
            hidden: 50,
            joints: 8,
            embed_dim: 384,
            labels: 4,
            lang_dim: 16,
            conditioning: Conditioning::Concat,
            kernel_size: 3,
            temperature: 1e-4,
            heatmap_size: 0.1,
            rate_hz: 10.0,
            residual_joints: false,
            standardize_attention: false,
            residual_base: ResidualBase::Input,
            label_input: true,
            goal_head: false,
            goal_points: 0,
            goal_input: false,
            goal_pull: false,
            goal_instructions: 0,
            goal_phases: 0,
            goal_pull_only: false,
            goal_gate_init: goal_gate_init(),
            goal_relative: false,
            goal_blind: false,
            goal_distance: false,
            core_reads_points: true,
            goal_encoder: GoalEncoder::Maps,
            goal_temperature: goal_temperature(),
            feature_pool: 1,
        }
    }
}

impl ModelConfig {
    /// Size of the image the feature encoder sees and the image decoder
    /// predicts: the input averaged over [`ModelConfig::feature_pool`] blocks.
    pub fn pooled_hw(&self) -> (usize, usize) {
        let p = self.feature_pool.max(1);
        (self.image_height / p, self.image_width / p)
    }

    /// Side of the feature encoder's maps, which the heatmaps gate: three
    /// unpadded convolutions shrink the pooled image.
    pub fn feature_hw(&self) -> (usize, usize) {
        self.shrunk(self.pooled_hw())
    }

    /// Side of the point encoder's maps (the spatial softmax's grid): three
    /// unpadded convolutions shrink the whole image.
    pub fn point_hw(&self) -> (usize, usize) {
        self.shrunk((self.image_height, self.image_width))
    }

    fn shrunk(&self, (h, w): (usize, usize)) -> (usize, usize) {
        let shrink = 3 * (self.kernel_size - 1);
        (h.saturating_sub(shrink), w.saturating_sub(shrink))
    }

    /// Width of the LSTM input.
    pub fn core_input(&self) -> usize {
        let goal = if self.core_reads_goal() { self.joints } else { 0 };
        let base = 2 * self.core_points() + self.joints + goal + usize::from(self.goal_distance);
        match self.conditioning {
            Conditioning::Concat => base + self.lang_dim,
            Conditioning::Film => base,
        }
    }

    /// Whether the subgoal itself is one of the core's inputs: with
    /// [`ModelConfig::goal_input`], unless the core reads it only as
    /// `subgoal − joints` ([`ModelConfig::goal_relative`]) or not at all
    /// ([`ModelConfig::goal_blind`]).
    pub fn core_reads_goal(&self) -> bool {
        self.goal_input && !self.goal_relative && !self.goal_blind
    }

    /// Attention points the recurrent core reads: all, without the goal
    /// points for a [`ModelConfig::goal_blind`] core, or none
    /// ([`ModelConfig::core_reads_points`] off).
    pub fn core_points(&self) -> usize {
        match (self.goal_blind, self.core_reads_points) {
            (_, false) => 0,
            (true, true) => self.keypoints - self.goal_points,
            (false, true) => self.keypoints,
        }
    }

    /// Maps of the subgoal head: one per label or phase
    /// ([`ModelConfig::goal_phases`]), for each instruction when
    /// [`ModelConfig::goal_instructions`] is set.
    pub fn goal_maps(&self) -> usize {
        self.maps_per_instruction() * self.goal_instructions.max(1)
    }

    /// The subgoal head's maps for one instruction: its phases, else the labels.
    pub fn maps_per_instruction(&self) -> usize {
        if self.goal_phases > 0 { self.goal_phases } else { self.labels }
    }

    /// A residual model that adds its change to its previous target.
    pub fn on_previous_target(&self) -> bool {
        self.residual_joints && self.residual_base == ResidualBase::PreviousTarget
    }

    pub fn validate(&self) -> Result<()> {
        let (fh, fw) = self.feature_hw();
        let bad = |m: &str| Err(DplError::Config(m.to_string()));
        if self.feature_pool == 0 || !self.image_height.is_multiple_of(self.feature_pool) || !self.image_width.is_multiple_of(self.feature_pool) {
            return bad("feature_pool must be > 0 and divide the image's height and width");
        }
        if self.kernel_size == 0 || self.kernel_size.is_multiple_of(2) {
            return bad("kernel_size must be odd and > 0");
        }
        if fh < 2 || fw < 2 {
            return bad("image too small for three unpadded convolutions");
        }
        if self.keypoints == 0 || self.hidden == 0 || self.joints == 0 || self.embed_dim == 0 {
            return bad("keypoints, hidden, joints and embed_dim must be > 0");
        }
        if self.goal_points >= self.keypoints {
            return bad("goal_points must leave at least one keypoint for the image decoder");
        }
        if self.goal_input && !self.goal_head {
            return bad("goal_input needs goal_head: the core reads the subgoal head's prediction");
        }
        if (self.goal_instructions > 0 || self.goal_phases > 0) && !self.goal_head {
            return bad("goal_instructions and goal_phases need goal_head: they shape the subgoal head's maps");
        }
        if self.goal_pull && !(self.goal_input && self.residual_joints) {
            return bad("goal_pull needs goal_input and residual_joints: it pulls a residual model's change towards the subgoal it reads");
        }
        if self.goal_encoder == GoalEncoder::Pixels && self.goal_points == 0 {
            return bad("goal_encoder pixels needs goal_points > 0: it makes the goal points");
        }
        if !(self.goal_temperature > 0.0 && self.goal_temperature.is_finite()) {
            return bad("goal_temperature must be a finite number > 0");
        }
        if self.goal_blind && (!self.goal_pull || self.goal_relative) {
            return bad("goal_blind needs goal_pull and excludes goal_relative: the scene reaches a blind core only through the pull");
        }
        if !self.core_reads_points && !self.goal_blind {
            return bad("a core that reads no attention points must be goal_blind: the scene reaches it only through the pull");
        }
        if self.goal_distance && !self.goal_input {
            return bad("goal_distance needs goal_input: it is the distance to the subgoal the core is given");
        }
        if self.goal_relative && !self.goal_input {
            return bad("goal_relative needs goal_input: the core reads the joints as their offset from the subgoal");
        }
        if self.goal_pull_only && !self.goal_pull {
            return bad("goal_pull_only needs goal_pull");
        }
        if !self.goal_gate_init.is_finite() {
            return bad("goal_gate_init must be a finite number");
        }
        if self.labels == 0 || self.lang_dim == 0 {
            return bad("labels and lang_dim must be > 0");
        }
        if !(self.temperature > 0.0 && self.heatmap_size > 0.0 && self.rate_hz > 0.0) {
            return bad("temperature, heatmap_size and rate_hz must be > 0");
        }
        Ok(())
    }
}

/// Per-joint min-max normalisation (EIPL): raw joints map linearly from
/// `[min, max]` to `[lo, hi]`. Saved with the model so the runtime scales alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JointNorm {
    pub min: Vec<f32>,
    pub max: Vec<f32>,
    pub lo: f32,
    pub hi: f32,
}

impl JointNorm {
    /// Bounds over every step of every episode (EIPL computes them over train and
    /// test alike). A joint that never moves gets a unit range so it does not divide by zero.
    pub fn fit<'a>(joints: impl IntoIterator<Item = &'a [f32]>, dim: usize) -> Self {
        let mut min = vec![f32::INFINITY; dim];
        let mut max = vec![f32::NEG_INFINITY; dim];
        for row in joints {
            for (j, &x) in row.iter().enumerate().take(dim) {
                min[j] = min[j].min(x);
                max[j] = max[j].max(x);
            }
        }
        for j in 0..dim {
            if !min[j].is_finite() || !max[j].is_finite() {
                min[j] = 0.0;
                max[j] = 1.0;
            } else if max[j] - min[j] < 1e-6 {
                max[j] = min[j] + 1.0;
            }
        }
        Self {
            min,
            max,
            lo: 0.0,
            hi: 1.0,
        }
    }

    pub fn dim(&self) -> usize {
        self.min.len()
    }

    pub fn normalize(&self, raw: &[f32], out: &mut [f32]) {
        for j in 0..raw.len().min(out.len()).min(self.dim()) {
            let u = (raw[j] - self.min[j]) / (self.max[j] - self.min[j]);
            out[j] = self.lo + u * (self.hi - self.lo);
        }
    }

    pub fn denormalize(&self, norm: &[f32], out: &mut [f32]) {
        for j in 0..norm.len().min(out.len()).min(self.dim()) {
            let u = (norm[j] - self.lo) / (self.hi - self.lo);
            out[j] = self.min[j] + u * (self.max[j] - self.min[j]);
        }
    }
}
