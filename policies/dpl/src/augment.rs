//! EIPL-style input augmentation. Only the network's inputs are perturbed; the
//! targets stay clean so the model learns a noiseless internal representation.
//! One random draw covers a whole sequence, as EIPL's clip-level transforms do.

use rand::Rng;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    pub enabled: bool,
    /// Brightness factor drawn from `[1 - b, 1 + b]`.
    pub brightness: f32,
    /// Contrast factor drawn from `[1 - c, 1 + c]`.
    pub contrast: f32,
    /// Std-dev of per-pixel Gaussian noise (images in [0, 1]).
    pub image_noise: f32,
    /// Probability of erasing one random rectangle in every frame of the sequence.
    pub erase_prob: f32,
    /// Std-dev of joint noise in normalised units (EIPL: 0.1).
    pub joint_noise: f32,
    /// Swap the colour channels of a whole sequence, inputs and targets alike
    /// (one of the six orders, drawn per sequence): a scene augmentation, not
    /// input noise, for tasks where an object's colour varies and must not
    /// matter (the towel's hue is random). Grey stays grey. Not in EIPL.
    #[serde(default)]
    pub colour_permute: bool,
    /// For a core that reads the subgoal ([`crate::ModelConfig::goal_input`]):
    /// turn a whole sequence about the robot's base by an angle drawn from
    /// `[-r, r]` rad: the first joint's inputs, targets and subgoals alike.
    /// Turned about the vertical axis through the base, a demonstration is
    /// one of the same task with the scene turned with it; the core sees the
    /// subgoal move and the images not, so it learns to follow the subgoal
    /// rather than to recognise the scene. A scene augmentation, not noise.
    /// 0 = off. Not in EIPL.
    #[serde(default)]
    pub base_rotation: f32,
    /// For a core that reads the subgoal: move each phase's end of a whole
    /// sequence by an offset drawn per joint from `[-s, s]` (normalised
    /// units), the targets and inputs ramping linearly over the phase from
    /// the previous phase's offset (none at the start) to this one, and the
    /// subgoal the core reads by the phase's offset. A demonstration that
    /// ends its phases elsewhere, from the same start: the core cannot tell
    /// from the images, only from the subgoal, so it learns to go where the
    /// subgoal says. (A shift of the whole sequence, as
    /// [`AugmentConfig::base_rotation`], teaches a residual model nothing of
    /// the kind: it moves the start too.) 0 = off. Not in EIPL.
    #[serde(default)]
    pub phase_shift: f32,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            brightness: 0.4,
            contrast: 0.4,
            image_noise: 0.02,
            erase_prob: 0.5,
            joint_noise: 0.1,
            colour_permute: false,
            base_rotation: 0.0,
            phase_shift: 0.0,
        }
    }
}

/// The offsets of [`AugmentConfig::phase_shift`] for steps `steps` of an
/// episode whose phases end at `phase_ends` (per step, the last step of its
/// phase), `d` joints each: `(along, subgoal)`, both `steps.len() × d`: what
/// to add to the step's joints and targets, and to the subgoal it reads.
/// `draw` gives a fresh per-joint offset for each phase, in phase order.
pub fn phase_shifts(phase_ends: &[usize], steps: &[usize], d: usize, mut draw: impl FnMut() -> Vec<f32>) -> (Vec<f32>, Vec<f32>) {
    // One offset per phase that ends at or before the last step's phase;
    // the phase before the first is the episode's start: no offset.
    let mut offsets: Vec<(usize, Vec<f32>)> = Vec::new();
    let mut offset_of = |end: usize| -> Vec<f32> {
        if let Some((_, o)) = offsets.iter().find(|(e, _)| *e == end) {
            return o.clone();
        }
        let o = draw();
        offsets.push((end, o.clone()));
        o
    };
    let (mut along, mut subgoal) = (Vec::with_capacity(steps.len() * d), Vec::with_capacity(steps.len() * d));
    for &tt in steps {
        let end = phase_ends[tt];
        let mut start = tt;
        while start > 0 && phase_ends[start - 1] == end {
            start -= 1;
        }
        let prev = if start == 0 { vec![0.0; d] } else { offset_of(phase_ends[start - 1]) };
        let here = offset_of(end);
        let w = (tt - start + 1) as f32 / (end - start + 1) as f32;
        along.extend(prev.iter().zip(&here).map(|(a, b)| a + (b - a) * w));
        subgoal.extend_from_slice(&here);
    }
    (along, subgoal)
}

fn normal<R: Rng>(rng: &mut R) -> f32 {
    let u: f32 = rng.random();
    let v: f32 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
}

/// Perturbs one sequence of CHW images in [0, 1] (`frames x 3 x h x w`) in place.
pub fn augment_images<R: Rng>(
    cfg: &AugmentConfig,
    rng: &mut R,
    imgs: &mut [f32],
    h: usize,
    w: usize,
) {
    if !cfg.enabled {
        return;
    }
    let bright = 1.0 + cfg.brightness * (2.0 * rng.random::<f32>() - 1.0);
    let contrast = 1.0 + cfg.contrast * (2.0 * rng.random::<f32>() - 1.0);
    let erase = if rng.random::<f32>() < cfg.erase_prob {
        let eh = rng.random_range(1..=h.div_ceil(3));
        let ew = rng.random_range(1..=w.div_ceil(3));
        Some((
            rng.random_range(0..=h - eh),
            rng.random_range(0..=w - ew),
            eh,
            ew,
            rng.random::<f32>(),
        ))
    } else {
        None
    };
    let plane = h * w;
    for frame in imgs.chunks_mut(3 * plane) {
        let mean = frame.iter().sum::<f32>() / frame.len() as f32;
        for x in frame.iter_mut() {
            let y = ((*x * bright - mean) * contrast + mean) + cfg.image_noise * normal(rng);
            *x = y.clamp(0.0, 1.0);
        }
        if let Some((y0, x0, eh, ew, v)) = erase {
            for c in 0..3 {
                for y in y0..y0 + eh {
                    frame[c * plane + y * w + x0..c * plane + y * w + x0 + ew].fill(v);
                }
            }
        }
    }
}

/// One of the six channel orders, drawn when `colour_permute` is on (else `None`).
pub fn draw_colour_order<R: Rng>(cfg: &AugmentConfig, rng: &mut R) -> Option<[usize; 3]> {
    const ORDERS: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    (cfg.enabled && cfg.colour_permute).then(|| ORDERS[rng.random_range(0..6)])
}

/// Reorders the channels of CHW frames in place: channel `c` of the result is
/// channel `order[c]` of the input.
pub fn permute_colours(order: [usize; 3], imgs: &mut [f32], plane: usize) {
    if order == [0, 1, 2] {
        return;
    }
    let mut tmp = vec![0f32; 3 * plane];
    for frame in imgs.chunks_mut(3 * plane) {
        tmp.copy_from_slice(frame);
        for (c, &src) in order.iter().enumerate() {
            frame[c * plane..(c + 1) * plane].copy_from_slice(&tmp[src * plane..(src + 1) * plane]);
        }
    }
}

/// Adds Gaussian noise to normalised joints in place.
pub fn augment_joints<R: Rng>(cfg: &AugmentConfig, rng: &mut R, joints: &mut [f32]) {
    if cfg.enabled && cfg.joint_noise > 0.0 {
        for x in joints {
            *x += cfg.joint_noise * normal(rng);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Each phase ramps from the previous phase's offset (none before the
    /// first) to its own, and the subgoal carries the phase's offset; a
    /// sequence that starts mid-episode ramps from the same point.
    #[test]
    fn phase_shifts_ramp_each_phase_to_its_own_offset() {
        let ends = [1, 1, 4, 4, 4, 5, 6];
        let counter = || {
            let mut n = 0.0;
            move || {
                n += 1.0;
                vec![n, -n]
            }
        };
        let (along, goal) = phase_shifts(&ends, &[0, 1, 2, 3, 4, 5, 6], 2, counter());
        let first: Vec<f32> = along.iter().step_by(2).copied().collect();
        let want = [0.5, 1.0, 1.0 + 1.0 / 3.0, 1.0 + 2.0 / 3.0, 2.0, 3.0, 4.0];
        assert!(first.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6), "{first:?}");
        assert!(along.chunks(2).all(|c| c[1] == -c[0]), "per joint: {along:?}");
        let goal_first: Vec<f32> = goal.iter().step_by(2).copied().collect();
        assert_eq!(goal_first, [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 4.0]);
        // From step 3: the phase began at step 2, after the phase ending at 1.
        let (along, goal) = phase_shifts(&ends, &[3, 4, 5], 1, || vec![7.0]);
        assert_eq!((along, goal), (vec![7.0, 7.0, 7.0], vec![7.0, 7.0, 7.0]));
        let mut n = 0.0;
        let (along, _) = phase_shifts(&ends, &[3, 4], 1, || {
            n += 3.0;
            vec![n]
        });
        assert!((along[0] - 5.0).abs() < 1e-6 && (along[1] - 6.0).abs() < 1e-6, "3 + (6 - 3) * 2/3, then 6: {along:?}");
    }

    /// Channels move as a block per frame; a grey pixel stays grey; all six
    /// orders are drawn, and none when the option is off.
    #[test]
    fn colour_permutation_moves_whole_channels() {
        let plane = 4;
        // Two frames: channel c of frame f holds 10 f + c, pixel 3 is grey (0.5).
        let mut imgs: Vec<f32> = (0..2).flat_map(|f| (0..3).flat_map(move |c| [10.0 * f as f32 + c as f32; 3].into_iter().chain([0.5]))).collect();
        permute_colours([2, 0, 1], &mut imgs, plane);
        for f in 0..2 {
            for (c, src) in [2, 0, 1].into_iter().enumerate() {
                let ch = &imgs[(3 * f + c) * plane..(3 * f + c + 1) * plane];
                assert_eq!(&ch[..3], &[10.0 * f as f32 + src as f32; 3]);
                assert_eq!(ch[3], 0.5);
            }
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let on = AugmentConfig { colour_permute: true, ..AugmentConfig::default() };
        let seen: std::collections::BTreeSet<[usize; 3]> = (0..200).filter_map(|_| draw_colour_order(&on, &mut rng)).collect();
        assert_eq!(seen.len(), 6);
        assert_eq!(draw_colour_order(&AugmentConfig::default(), &mut rng), None);
    }
}
