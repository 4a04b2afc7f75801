//! Goal points read from the pixels ([`crate::GoalEncoder::Pixels`]), not from
//! the convolutional maps.
//!
//! Sessions 10–12 found that the convolutional point encoder, taught by the
//! subgoal loss on a few dozen scenes, memorises them: each scene differs in
//! many things besides where the towel lies (the arm's start pose, the light,
//! the towel's hue), and a deep encoder can tell the scenes apart by any of
//! them. This encoder cannot. It scores each pixel on its own colour (a tiny
//! per-pixel network, shared by every pixel), and each goal point is the
//! soft arg-max of that score plus a learned linear ramp over the image: the
//! point sits where the high-scoring region reaches furthest in the ramp's
//! direction, e.g. the towel's corner nearest the robot. With one direction
//! per goal point, the subgoal head reads the object's extremes, which set
//! where to grasp, and nothing in the encoder can recognise a scene.
//!
//! The score sees each pixel's channels sorted (max, mid, min), so it is
//! blind to their order: the towel's hue is random per scene and, like
//! `AugmentConfig::colour_permute`, this keeps the hue from naming the scene,
//! while `max − min` (how coloured a pixel is) stays one linear step away.

use candle_core::{D, Tensor};

use super::attention::standardize;
use super::{Dense, grid, leaky};
use crate::config::ModelConfig;
use crate::error::Result;
use crate::params::Init;

/// Hidden units of the per-pixel score.
const HIDDEN: usize = 8;

/// Prefix of the encoder's parameter names.
pub(super) const PARAMS: &str = "goal_pixels";

#[derive(Clone)]
pub(super) struct PixelGoal {
    hidden: Dense,
    score: Dense,
    /// `(G, 2)`: each goal point's ramp over normalised (x, y).
    dirs: Tensor,
    /// `(H·W, 2)` normalised (x, y) of each pixel.
    grid: Tensor,
    temperature: f64,
}

impl PixelGoal {
    pub(super) fn new(init: &mut Init, cfg: &ModelConfig) -> Result<Self> {
        let g = cfg.goal_points;
        // Ramps start evenly spread around the circle, offset by half a step
        // (for four points: the diagonals), strong enough that the point sits
        // well off the region's centre.
        let mut dirs = Vec::with_capacity(2 * g);
        for i in 0..g {
            let a = std::f64::consts::TAU * (i as f64 + 0.5) / g as f64;
            dirs.extend([a.cos() as f32, a.sin() as f32]);
        }
        // The score starts as how coloured a pixel is (max − min of its
        // channels, the first hidden unit; the others start random and unread):
        // from a random start the score settled on the grey table instead of
        // the towel (session 13), and the softmax then followed the table.
        let mut hidden = Dense::new(init, &format!("{PARAMS}.0"), 3, HIDDEN)?;
        let mut w1 = hidden.w.flatten_all()?.to_vec1::<f32>()?;
        w1[..3].copy_from_slice(&[1.0, 0.0, -1.0]);
        hidden.w = init.values(&format!("{PARAMS}.0.weight"), &[HIDDEN, 3], w1)?;
        let mut w2 = vec![0f32; HIDDEN];
        w2[0] = 1.0;
        let score = Dense {
            w: init.values(&format!("{PARAMS}.1.weight"), &[1, HIDDEN], w2)?,
            b: init.zeros(&format!("{PARAMS}.1.bias"), &[1])?,
        };
        Ok(Self {
            hidden,
            score,
            dirs: init.values(&format!("{PARAMS}.dirs"), &[g, 2], dirs)?,
            grid: grid(cfg.image_height, cfg.image_width, init.device())?,
            temperature: cfg.goal_temperature,
        })
    }

    pub(super) fn frozen(&self) -> Self {
        Self {
            hidden: self.hidden.frozen(),
            score: self.score.frozen(),
            dirs: self.dirs.detach(),
            ..self.clone()
        }
    }

    /// Images `(N, 3, H, W)` -> goal points `(N, 2G)`, (x, y) in 0..1.
    pub(super) fn points(&self, img: &Tensor) -> candle_core::Result<Tensor> {
        let (n, _, h, w) = img.dims4()?;
        let hw = h * w;
        let px = img.reshape((n, 3, hw))?.transpose(1, 2)?.reshape((n * hw, 3))?;
        let sorted = sort_channels(&px.detach())?;
        let s = self.score.forward(&leaky(&self.hidden.forward(&sorted)?)?)?.reshape((n, hw))?;
        // Standardised per image, so the temperature sets the sharpness in units
        // of the score's own spread, whatever the light.
        let s = standardize(&s)?;
        let ramp = self.grid.matmul(&self.dirs.t()?)?.t()?; // (G, hw)
        let logits = (s.unsqueeze(1)?.broadcast_add(&ramp.unsqueeze(0)?)? / self.temperature)?;
        let att = candle_nn::ops::softmax(&logits, D::Minus1)?; // (N, G, hw)
        let g = self.dirs.dim(0)?;
        att.reshape((n * g, hw))?.matmul(&self.grid)?.reshape((n, 2 * g))
    }
}

/// `(M, 3)` colours -> `(M, 3)` the same channels sorted, largest first.
fn sort_channels(px: &Tensor) -> candle_core::Result<Tensor> {
    let c = |i| px.narrow(1, i, 1);
    let (r, g, b) = (c(0)?, c(1)?, c(2)?);
    let hi = r.maximum(&g)?.maximum(&b)?;
    let lo = r.minimum(&g)?.minimum(&b)?;
    let mid = ((&r + &g)? + &b)?.sub(&hi)?.sub(&lo)?;
    Tensor::cat(&[&hi, &mid, &lo], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GoalEncoder;
    use candle_core::Device;

    fn cfg() -> ModelConfig {
        ModelConfig {
            image_height: 16,
            image_width: 16,
            keypoints: 5,
            goal_points: 4,
            goal_head: true,
            goal_encoder: GoalEncoder::Pixels,
            ..ModelConfig::default()
        }
    }

    /// A grey image with a coloured square at `(r0, c0)`, side 5, channels in `order`.
    fn scene(r0: usize, c0: usize, order: [usize; 3]) -> Tensor {
        let (h, w) = (16, 16);
        let colour = [0.9f32, 0.3, 0.1];
        let mut v = vec![0.5f32; 3 * h * w];
        for r in r0..r0 + 5 {
            for c in c0..c0 + 5 {
                for ch in 0..3 {
                    v[ch * h * w + r * w + c] = colour[order[ch]];
                }
            }
        }
        Tensor::from_vec(v, (1, 3, h, w), &Device::Cpu).unwrap()
    }

    fn points(pg: &PixelGoal, img: &Tensor) -> Vec<f32> {
        pg.points(img).unwrap().flatten_all().unwrap().to_vec1().unwrap()
    }

    /// The channel order never changes the points: the hue cannot name a scene.
    #[test]
    fn points_ignore_the_order_of_the_colour_channels() {
        let mut init = Init::new(3, &Device::Cpu);
        let pg = PixelGoal::new(&mut init, &cfg()).unwrap();
        let a = points(&pg, &scene(4, 6, [0, 1, 2]));
        let b = points(&pg, &scene(4, 6, [2, 0, 1]));
        assert_eq!(a.len(), 8);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6, "{a:?} vs {b:?}");
        }
    }

    /// A fresh encoder's score marks coloured pixels: each point sits at the
    /// square's extreme in its ramp's direction and moves with the square.
    #[test]
    fn points_sit_at_the_extremes_of_the_marked_region_and_follow_it() {
        let mut init = Init::new(3, &Device::Cpu);
        // A fresh encoder: its score is how coloured a pixel is.
        let pg = PixelGoal::new(&mut init, &ModelConfig { goal_temperature: 0.02, ..cfg() }).unwrap();
        let px = |c: usize| c as f32 / 15.0;
        let a = points(&pg, &scene(4, 6, [0, 1, 2]));
        // Point 0's ramp points to +x, +y: the square's bottom-right pixel (10, 8).
        let near = |v: f32, c: usize| (v - px(c)).abs() < 0.03;
        assert!(near(a[0], 10) && near(a[1], 8), "{a:?}");
        // Point 2's ramp points to −x, −y: the top-left pixel (6, 4).
        assert!(near(a[4], 6) && near(a[5], 4), "{a:?}");
        let b = points(&pg, &scene(7, 3, [0, 1, 2]));
        for i in 0..4 {
            assert!(((b[2 * i] - a[2 * i]) + px(3)).abs() < 0.01, "x moved {} {}", a[2 * i], b[2 * i]);
            assert!(((b[2 * i + 1] - a[2 * i + 1]) - px(3)).abs() < 0.01, "y moved {} {}", a[2 * i + 1], b[2 * i + 1]);
        }
    }
}
