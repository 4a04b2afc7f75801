//! Recorded episodes → the policy's training set: each episode resampled at the
//! model rate by the recorder's reader, images resized to the model size, the
//! arm's joint positions plus a smoothed gripper signal (EIPL), and the
//! instruction and verbal labels embedded by the sentence encoder through an
//! embedding cache that is saved with the checkpoint, so the robot uses the
//! very same vectors.

use anyhow::{Context, Result, bail};
use kotoba_dpl::prep::{cos_smooth, resize_rgb};
use kotoba_dpl::{Dataset as TrainSet, Episode, LabelVocab};
use kotoba_recorder::{Dataset, StreamKind, StreamSpec, SyncSpec, Value};
use kotoba_text::{EmbeddingCache, TextEncoder};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Which topics and joints make up a training sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleSpec {
    pub joint_states: String,
    pub image: String,
    /// `Float64MultiArray` of arm positions then the gripper opening; its last
    /// value is the gripper command the policy learns.
    pub commands: String,
    pub arm_joints: Vec<String>,
    pub rate_hz: f64,
    pub image_size: usize,
    /// Half-width of the raised-cosine gripper ramp, in model steps.
    pub gripper_smooth: usize,
    /// Train on episodes marked failed too.
    pub include_failed: bool,
    /// What the arm joints are trained to predict one step ahead.
    #[serde(default)]
    pub arm_targets: ArmTargets,
}

/// What the policy's arm outputs are trained to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ArmTargets {
    /// The next measured joint positions (EIPL: predict the next sensation).
    #[default]
    State,
    /// The next commanded positions (from `commands`), which lead the measured
    /// ones by the servo's lag, so a controller tracking them behind by a
    /// similar lag still moves at the demonstrated speed.
    Command,
    /// The commanded positions are the arm's input as well as its target: the
    /// model learns the commanded trajectory itself. Run it on its own targets
    /// (`joint_input_param` 0), so no controller's lag enters its loop.
    Trajectory,
}

impl Default for SampleSpec {
    fn default() -> Self {
        Self {
            joint_states: "/joint_states".into(),
            image: "/camera/image_raw".into(),
            commands: "/arm_controller/commands".into(),
            arm_joints: kotoba_controller::ARM_JOINTS.iter().map(|s| s.to_string()).collect(),
            rate_hz: 10.0,
            image_size: 64,
            gripper_smooth: 2,
            include_failed: false,
            arm_targets: ArmTargets::State,
        }
    }
}

/// The gripper range seen in the data: the policy's last output is mapped back
/// onto it (`open` when the smoothed signal is 0, `closed` at 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GripperRange {
    pub open: f32,
    pub closed: f32,
}

impl GripperRange {
    /// The command for a predicted gripper value: open or closed, as the
    /// demonstrator commanded it.
    pub fn command(&self, predicted: f32) -> f32 {
        if (predicted - self.open) / (self.closed - self.open) > 0.5 { self.closed } else { self.open }
    }
}

/// How often the gripper was closed while a verbal label was active in the
/// demonstrations ("holding the towel": always; "reaching": never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelGripper {
    pub label: String,
    pub closed: f32,
}

/// A loaded training set and what was learned on the way.
pub struct Loaded {
    pub data: TrainSet,
    pub gripper: GripperRange,
    /// Width and height of the recorded frames (the first episode's; a
    /// dataset with other sizes too gets a note).
    pub source_image: Option<[u32; 2]>,
    /// Per verbal label, the share of its steps with the gripper closed.
    pub label_gripper: Vec<LabelGripper>,
    /// Instructions seen, in first-seen order.
    pub instructions: Vec<String>,
    /// One line per episode skipped or trimmed, for the user.
    pub notes: Vec<String>,
}

struct RawEpisode {
    instruction: String,
    images: Vec<u8>,
    arm: Vec<f32>,
    /// Commanded arm positions, when they are the targets.
    arm_cmd: Vec<f32>,
    gripper: Vec<f32>,
    labels: Vec<String>,
}

/// Reads every usable episode of the dataset at `dir`.
pub fn load(dir: &Path, spec: &SampleSpec, encoder: &dyn TextEncoder, cache: &mut EmbeddingCache) -> Result<Loaded> {
    let ds = Dataset::open(dir).with_context(|| format!("opening dataset {}", dir.display()))?;
    let sync = SyncSpec {
        rate_hz: spec.rate_hz,
        streams: vec![
            StreamSpec { topic: spec.joint_states.clone(), kind: StreamKind::JointPosition, names: spec.arm_joints.clone() },
            StreamSpec { topic: spec.image.clone(), kind: StreamKind::Image, names: vec![] },
            StreamSpec { topic: spec.commands.clone(), kind: StreamKind::Float64Array, names: vec![] },
        ],
        max_age_s: Some(1.0),
    };
    let mut notes = Vec::new();
    let mut raw = Vec::new();
    let mut source_image: Option<[u32; 2]> = None;
    let mut mixed_sizes_noted = false;
    for entry in ds.episodes() {
        if !entry.success && !spec.include_failed {
            notes.push(format!("{}: skipped (marked failed)", entry.name));
            continue;
        }
        let synced = match ds.reader(entry).synced(&sync) {
            Ok(s) => s,
            Err(e) => {
                notes.push(format!("{}: skipped ({e})", entry.name));
                continue;
            }
        };
        let mut ep = RawEpisode {
            instruction: entry.instruction.clone(),
            images: Vec::new(),
            arm: Vec::new(),
            arm_cmd: Vec::new(),
            gripper: Vec::new(),
            labels: Vec::new(),
        };
        let mut dropped = 0;
        for f in &synced.frames {
            let (Some(Value::Vector(q)), Some(Value::Image(img)), Some(Value::Vector(cmd))) =
                (&f.values[0], &f.values[1], &f.values[2])
            else {
                dropped += 1; // before every stream's first sample
                continue;
            };
            let Some(&g) = cmd.last() else {
                bail!("{}: empty command array on {}", entry.name, spec.commands);
            };
            let size = [img.width, img.height];
            match source_image {
                None => source_image = Some(size),
                Some(s) if s != size && !mixed_sizes_noted => {
                    mixed_sizes_noted = true;
                    notes.push(format!(
                        "camera frames of {}x{} in {} (the first episode's were {}x{}): rollouts render at the first size",
                        size[0], size[1], entry.name, s[0], s[1]
                    ));
                }
                Some(_) => {}
            }
            ep.images.extend(resize_rgb(&img.data, img.height as usize, img.width as usize, spec.image_size, spec.image_size));
            ep.arm.extend(q.iter().map(|&v| v as f32));
            if spec.arm_targets != ArmTargets::State {
                if cmd.len() != q.len() + 1 {
                    bail!("{}: {} holds {} values, expected {} arm positions then the gripper", entry.name, spec.commands, cmd.len(), q.len());
                }
                ep.arm_cmd.extend(cmd[..q.len()].iter().map(|&v| v as f32));
            }
            ep.gripper.push(g as f32);
            ep.labels.push(f.label.clone().unwrap_or_default());
            if ep.instruction.is_empty() {
                ep.instruction = f.instruction.clone();
            }
        }
        if ep.gripper.len() < 2 {
            notes.push(format!("{}: skipped (fewer than 2 complete samples at {} Hz)", entry.name, spec.rate_hz));
            continue;
        }
        if dropped > 0 {
            notes.push(format!("{}: {dropped} leading sample(s) without every stream dropped", entry.name));
        }
        // Gaps after a stream's first sample (the wait for the first one is not a gap).
        let gaps: Vec<_> = synced.gaps.iter().filter(|g| g.start_s > 0.0).collect();
        if let Some(g) = gaps.first() {
            notes.push(format!("{}: {} gap(s), first on {} at {:.1} s", entry.name, gaps.len(), g.topic, g.start_s));
        }
        raw.push(ep);
    }
    if raw.is_empty() {
        bail!("no usable episodes in {} ({} indexed){}", dir.display(), ds.episodes().len(), notes_suffix(&notes));
    }
    build(raw, spec, encoder, cache, notes, source_image)
}

fn notes_suffix(notes: &[String]) -> String {
    if notes.is_empty() { String::new() } else { format!(": {}", notes.join("; ")) }
}

fn build(
    raw: Vec<RawEpisode>,
    spec: &SampleSpec,
    encoder: &dyn TextEncoder,
    cache: &mut EmbeddingCache,
    notes: Vec<String>,
    source_image: Option<[u32; 2]>,
) -> Result<Loaded> {
    let (lo, hi) = raw.iter().flat_map(|e| e.gripper.iter()).fold((f32::MAX, f32::MIN), |(a, b), &g| (a.min(g), b.max(g)));
    let gripper = GripperRange { open: hi, closed: lo };
    let mid = 0.5 * (lo + hi);
    // Label vocabulary in first-seen order; a step before any label takes the
    // episode's first label (the expert speaks at its first tick).
    let mut names: Vec<String> = Vec::new();
    let mut instructions: Vec<String> = Vec::new();
    for e in &raw {
        for l in e.labels.iter().filter(|l| !l.is_empty()) {
            if !names.contains(l) {
                names.push(l.clone());
            }
        }
        if !instructions.contains(&e.instruction) {
            instructions.push(e.instruction.clone());
        }
    }
    if names.is_empty() {
        bail!("no verbal labels in any episode: the policy learns to predict them (record with a /labels topic)");
    }
    if instructions.iter().any(|s| s.trim().is_empty()) {
        bail!("an episode has no instruction (none on the instruction topic and none in the index)");
    }
    let all: Vec<&str> = names.iter().chain(instructions.iter()).map(String::as_str).collect();
    cache.get_or_embed_many(encoder, &all).context("embedding labels and instructions")?;
    let id = encoder.model_id().to_string();
    let embed = |t: &str| -> Result<Vec<f32>> { Ok(cache.lookup(&id, t)?.to_vec()) };
    let mut embeddings = Vec::new();
    for n in &names {
        embeddings.extend(embed(n)?);
    }
    let labels = LabelVocab { names: names.clone(), embeddings, embed_dim: encoder.dim() };
    let label_gripper = names
        .iter()
        .map(|n| {
            let steps = raw.iter().flat_map(|e| e.labels.iter().zip(&e.gripper)).filter(|(l, _)| *l == n);
            let (closed, all) = steps.fold((0usize, 0usize), |(c, a), (_, &g)| (c + usize::from(g < mid), a + 1));
            LabelGripper { label: n.clone(), closed: closed as f32 / all.max(1) as f32 }
        })
        .collect();
    let dof = spec.arm_joints.len();
    let mut episodes = Vec::with_capacity(raw.len());
    for e in raw {
        let closed: Vec<f32> = e.gripper.iter().map(|&g| if g < mid { 1.0 } else { 0.0 }).collect();
        let smooth = cos_smooth(&closed, spec.gripper_smooth);
        let first = e.labels.iter().find(|l| !l.is_empty()).cloned().unwrap_or_else(|| names[0].clone());
        let mut joints = Vec::with_capacity(e.gripper.len() * (dof + 1));
        let mut targets = (!e.arm_cmd.is_empty()).then(|| Vec::with_capacity(e.gripper.len() * (dof + 1)));
        let arm_in = if spec.arm_targets == ArmTargets::Trajectory { &e.arm_cmd } else { &e.arm };
        for (t, c) in smooth.iter().enumerate() {
            let g = gripper.open + (gripper.closed - gripper.open) * c;
            joints.extend_from_slice(&arm_in[t * dof..(t + 1) * dof]);
            joints.push(g);
            if let Some(tg) = targets.as_mut() {
                tg.extend_from_slice(&e.arm_cmd[t * dof..(t + 1) * dof]);
                tg.push(g);
            }
        }
        let label_idx = e
            .labels
            .iter()
            .map(|l| names.iter().position(|n| n == if l.is_empty() { &first } else { l }).unwrap_or(0))
            .collect();
        episodes.push(Episode {
            images: e.images,
            height: spec.image_size,
            width: spec.image_size,
            joints,
            num_joints: dof + 1,
            instruction: embed(&e.instruction)?,
            labels: label_idx,
            targets,
        });
    }
    Ok(Loaded { data: TrainSet { episodes, labels }, gripper, source_image, label_gripper, instructions, notes })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `trajectory` feeds the commanded positions in as well as out; `command`
    /// feeds the measured ones in and the commanded ones out (the sample
    /// episodes in `demos/sample`, with the default text encoder).
    #[test]
    fn trajectory_targets_are_the_inputs_too() {
        let encoder = kotoba_text::EncoderConfig::default().load().expect("text model installed by scripts/setup.sh");
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("demos/sample");
        for (kind, same) in [(ArmTargets::Trajectory, true), (ArmTargets::Command, false)] {
            let spec = SampleSpec { image_size: 16, arm_targets: kind, ..SampleSpec::default() };
            let loaded = load(&dir, &spec, encoder.as_ref(), &mut EmbeddingCache::new()).unwrap();
            // The sample was recorded at 64x64: rollouts of a model trained on it render at that size.
            assert_eq!(loaded.source_image, Some([64, 64]));
            // Every label gets the share of its steps with the gripper closed;
            // the sample both grasps and releases under some label.
            assert_eq!(loaded.label_gripper.len(), loaded.data.labels.names.len());
            assert!(loaded.label_gripper.iter().all(|g| (0.0..=1.0).contains(&g.closed)));
            assert!(loaded.label_gripper.iter().any(|g| g.closed > 0.5), "{:?}", loaded.label_gripper);
            assert!(loaded.label_gripper.iter().any(|g| g.closed < 0.5), "{:?}", loaded.label_gripper);
            for ep in &loaded.data.episodes {
                let targets = ep.targets.as_ref().expect("commanded targets");
                assert_eq!(targets.len(), ep.joints.len());
                assert_eq!(targets == &ep.joints, same, "{kind:?}");
            }
        }
    }
}
