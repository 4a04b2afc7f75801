//! What `kotoba train --dataset` leaves next to its checkpoints so a robot can
//! run the policy with nothing else: `kotoba.json` (which topics and joints
//! make a sample, the gripper range, the instructions it was taught) and
//! `embeddings.json` (the sentence vectors of those instructions and labels,
//! keyed by encoder model id).

use crate::episodes::{GripperRange, LabelGripper, SampleSpec};
use anyhow::{Context, Result, bail};
use kotoba_dpl::{Checkpoint, EnsemblePolicy, Policy, RegressConfig, RuntimeConfig, SarnnPolicy, SettleAtSubgoal, SettleConfig};
use kotoba_text::EmbeddingCache;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const MANIFEST_FILE: &str = "kotoba.json";
pub const EMBEDDINGS_FILE: &str = "embeddings.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub sample: SampleSpec,
    pub gripper: GripperRange,
    pub instructions: Vec<String>,
    pub encoder_model_id: String,
    /// Width and height of the recorded camera frames the model was trained
    /// on (before resizing to the model's size); rollouts render at this size.
    /// Absent in manifests written before it was recorded.
    #[serde(default)]
    pub source_image: Option<[u32; 2]>,
    /// Per verbal label, how often the demonstrations had the gripper closed.
    #[serde(default)]
    pub label_gripper: Vec<LabelGripper>,
    /// Policy folders (relative to this one) trained the same way from other
    /// seeds: loading this policy runs them all as one ensemble.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<String>,
}

impl Manifest {
    pub fn save(&self, cache: &EmbeddingCache, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let p = dir.join(MANIFEST_FILE);
        std::fs::write(&p, serde_json::to_vec_pretty(self)?).with_context(|| format!("writing {}", p.display()))?;
        cache.save(dir.join(EMBEDDINGS_FILE))?;
        Ok(())
    }

    /// What to tell the user when a camera's frames are not the size the model
    /// was trained from: resized, they give other pixels than training saw.
    pub fn frame_size_warning(&self, width: u32, height: u32) -> Option<String> {
        let [w, h] = self.source_image?;
        ((w, h) != (width, height)).then(|| {
            format!(
                "camera frames are {width}x{height}, the policy was trained on {w}x{h} frames (resized the same way): \
                 pixels differ after resizing; set the camera to {w}x{h} if it can"
            )
        })
    }

    /// The gripper command for the predicted `label` when the demonstrations
    /// had the gripper closed (or open) for most of that label's steps: the
    /// verbal label gates the gripper. `None` for a label not seen in training.
    pub fn gripper_for_label(&self, label: &str) -> Option<f32> {
        let g = self.label_gripper.iter().find(|g| g.label == label)?;
        Some(if g.closed > 0.5 { self.gripper.closed } else { self.gripper.open })
    }

    pub fn load(dir: &Path) -> Result<(Self, EmbeddingCache)> {
        let p = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&p)
            .with_context(|| format!("reading {} (train with `kotoba train --dataset DIR` to create it)", p.display()))?;
        let m: Self = serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))?;
        let cache = EmbeddingCache::load(dir.join(EMBEDDINGS_FILE))?;
        Ok((m, cache))
    }

    /// The cached vector of a taught instruction.
    pub fn instruction(&self, cache: &EmbeddingCache, text: &str) -> Result<Vec<f32>> {
        Ok(cache
            .get(&self.encoder_model_id, text)
            .with_context(|| format!("the policy was not taught {text:?}; it knows {:?}", self.instructions))?
            .to_vec())
    }
}

/// EIPL `input_param`s of a loaded policy: `image` also applies to the
/// joints unless `joints` is given; `None` = [`RuntimeConfig`]'s default (0.8).
#[derive(Debug, Clone, Copy, Default)]
pub struct InputParams {
    pub image: Option<f32>,
    pub joints: Option<f32>,
}

/// Loads the policy in `dir` (`best/` checkpoint, manifest, embeddings) for
/// running, with `regression_iters` steps of online error regression per tick
/// (0 = off) and the given `input_param`s. A manifest that lists `members`
/// loads as the [`EnsemblePolicy`] of this folder and those.
pub fn load_policy(dir: &Path, regression_iters: usize, input: InputParams) -> Result<(Box<dyn Policy>, Manifest, EmbeddingCache)> {
    let (manifest, cache) = Manifest::load(dir)?;
    let first = load_one(dir, regression_iters, input)?;
    if manifest.members.is_empty() {
        return Ok((Box::new(first), manifest, cache));
    }
    let mut members: Vec<Box<dyn Policy>> = vec![Box::new(first)];
    for m in &manifest.members {
        let member = dir.join(m);
        check_member(&Manifest::load(&member)?.0, &member, dir, &manifest)?;
        members.push(Box::new(load_one(&member, regression_iters, input)?));
    }
    Ok((Box::new(EnsemblePolicy::new(members)?), manifest, cache))
}

/// Grasp and release at the subgoal once the arm has settled there
/// ([`SettleAtSubgoal`]); only for a policy with a subgoal head.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settle {
    /// Every arm joint within this of the subgoal (rad) counts as settled.
    pub tolerance: f32,
    /// The gripper moves at the latest this many policy ticks after asked.
    #[serde(default = "default_settle_ticks")]
    pub max_ticks: usize,
    /// The keypose is the subgoal this many ticks into its phase (0: the latest).
    #[serde(default = "default_latch_after")]
    pub latch_after: usize,
}

impl Default for Settle {
    fn default() -> Self {
        Self { tolerance: 0.01, max_ticks: default_settle_ticks(), latch_after: default_latch_after() }
    }
}

fn default_settle_ticks() -> usize {
    10
}

fn default_latch_after() -> usize {
    3
}

/// `policy` (loaded from `dir`) wrapped so that the gripper (its last joint)
/// changes only once the arm has settled at the subgoal: see [`Settle`].
pub fn settled(policy: Box<dyn Policy>, dir: &Path, manifest: &Manifest, s: Settle) -> Result<Box<dyn Policy>> {
    let gripper = policy.spec().joints.saturating_sub(1);
    let threshold = (manifest.gripper.open + manifest.gripper.closed) / 2.0;
    let cfg = SettleConfig { gripper, threshold, tolerance: s.tolerance, max_ticks: s.max_ticks, latch_after: s.latch_after };
    let settle = SettleAtSubgoal::new(policy, cfg)
        .with_context(|| format!("{} (train with the subgoal recipe, or drop the settle option)", dir.display()))?;
    Ok(Box::new(settle))
}

/// [`load_policy`] for one folder, or an [`EnsemblePolicy`] of several
/// trained on the same data (`kotoba eval --with`).
pub fn load_policies(dirs: &[PathBuf], regression_iters: usize, input: InputParams) -> Result<(Box<dyn Policy>, Manifest, EmbeddingCache)> {
    let Some((first, rest)) = dirs.split_first() else { bail!("no policy folder given") };
    let (policy, manifest, cache) = load_policy(first, regression_iters, input)?;
    if rest.is_empty() {
        return Ok((policy, manifest, cache));
    }
    let mut members = vec![policy];
    for dir in rest {
        let (member, m, _) = load_policy(dir, regression_iters, input)?;
        check_member(&m, dir, first, &manifest)?;
        members.push(member);
    }
    Ok((Box::new(EnsemblePolicy::new(members)?), manifest, cache))
}

/// An ensemble's members must have been taught from the same data: same
/// samples, gripper, instructions and text model (their own `members` aside).
/// `m` is the manifest of the member in `dir`.
fn check_member(m: &Manifest, dir: &Path, first: &Path, manifest: &Manifest) -> Result<()> {
    let same = Manifest { members: vec![], ..m.clone() } == Manifest { members: vec![], ..manifest.clone() };
    if !same {
        bail!(
            "{} was not trained on the data {} was (its {MANIFEST_FILE} differs): an ensemble's members must share samples, gripper, instructions and text model",
            dir.display(),
            first.display()
        );
    }
    Ok(())
}

fn load_one(dir: &Path, regression_iters: usize, input: InputParams) -> Result<SarnnPolicy> {
    let device = kotoba_dpl::device(true)?;
    let ckpt = Checkpoint::load(&dir.join("best"), &device)?;
    let regression = (regression_iters > 0).then(|| RegressConfig { iterations: regression_iters, ..RegressConfig::default() });
    let d = RuntimeConfig::default();
    let cfg = RuntimeConfig { regression, input_param: input.image.unwrap_or(d.input_param), joint_input_param: input.joints, ..d };
    Ok(SarnnPolicy::new(ckpt, cfg)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_camera_of_another_size_than_trained_on_is_reported() {
        let mut m = Manifest {
            sample: SampleSpec::default(),
            gripper: GripperRange { open: 0.04, closed: 0.0 },
            instructions: vec![],
            encoder_model_id: String::new(),
            source_image: None,
            label_gripper: vec![LabelGripper { label: "holding".into(), closed: 0.9 }, LabelGripper { label: "reaching".into(), closed: 0.1 }],
            members: vec![],
        };
        assert_eq!(m.gripper_for_label("holding"), Some(0.0));
        assert_eq!(m.gripper_for_label("reaching"), Some(0.04));
        assert_eq!(m.gripper_for_label("unknown"), None);
        assert_eq!(m.frame_size_warning(640, 480), None, "unknown: nothing to compare");
        m.source_image = Some([64, 64]);
        assert_eq!(m.frame_size_warning(64, 64), None);
        let w = m.frame_size_warning(640, 480).expect("a warning");
        assert!(w.contains("640x480") && w.contains("64x64"), "{w}");
    }
}
