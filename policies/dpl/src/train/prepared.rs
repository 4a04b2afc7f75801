//! Episodes turned into model units once, before training: CHW images in
//! [0, 1], normalised joints and targets, and where each step's phase ends.

use candle_core::Tensor;

use super::hwc_to_chw;
use crate::config::JointNorm;
use crate::data::DatasetShape;
use crate::error::Result;
use crate::model::Sarnn;

/// One episode turned into model units: CHW images in [0, 1], normalised joints.
pub(super) struct Prepared {
    pub(super) images: Vec<f32>,
    pub(super) joints: Vec<f32>,
    /// Normalised joint targets (the joints again unless the episode has its own).
    pub(super) targets: Vec<f32>,
    /// The last step of each step's phase: where its subgoal is read from
    /// `targets` ([`crate::Episode::phase_ends`]).
    pub(super) phase_ends: Vec<usize>,
    /// The episode's instruction among the checkpoint's taught ones.
    pub(super) instruction: usize,
    /// Each step's phase in its task's usual sequence, for a subgoal head
    /// with a map per phase ([`crate::ModelConfig::goal_phases`]).
    pub(super) phases: Option<Vec<usize>>,
    /// Attention points `(len, 2K)` read by the encoder, when the vision is frozen.
    pub(super) points: Option<Vec<f32>>,
    pub(super) len: usize,
}

pub(super) fn prepare(ep: &crate::data::Episode, norm: &JointNorm, instruction: usize, phases: Option<&[usize]>) -> Prepared {
    let (h, w, d) = (ep.height, ep.width, ep.num_joints);
    let mut images = vec![0f32; ep.len() * 3 * h * w];
    for t in 0..ep.len() {
        hwc_to_chw(
            ep.image(t),
            h,
            w,
            &mut images[t * 3 * h * w..(t + 1) * 3 * h * w],
        );
    }
    let normalize = |raw: &[f32]| {
        let mut out = vec![0f32; raw.len()];
        for (src, dst) in raw.chunks(d).zip(out.chunks_mut(d)) {
            norm.normalize(src, dst);
        }
        out
    };
    let joints = normalize(&ep.joints);
    let targets = match &ep.targets {
        Some(tg) => normalize(tg),
        None => joints.clone(),
    };
    Prepared {
        images,
        joints,
        targets,
        phase_ends: ep.phase_ends(),
        instruction,
        phases: phases.map(|ph| crate::phases::step_phases(&ep.labels, ph)),
        points: None,
        len: ep.len(),
    }
}

/// The encoder's attention points `(len, 2K)` for every frame of an episode,
/// without gradients (the vision is frozen).
pub(super) fn encoder_points(model: &Sarnn, p: &Prepared, s: &DatasetShape) -> Result<Vec<f32>> {
    let plane = 3 * s.height * s.width;
    let mut out = Vec::with_capacity(p.len * 2 * model.config().keypoints);
    for start in (0..p.len).step_by(128) {
        let n = (p.len - start).min(128);
        let img = Tensor::from_slice(&p.images[start * plane..(start + n) * plane], (n, 3, s.height, s.width), model.device())?;
        let (pts, _) = model.encode(&img)?;
        out.extend(pts.detach().flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(out)
}

