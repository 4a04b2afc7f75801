//! Spatial attention: feature maps to points (spatial softmax) and points back
//! to the Gaussian heatmaps that gate the image decoder.

use candle_core::{D, Tensor};

use super::Sarnn;

/// Each row of `x` `(n, m)` at zero mean and unit spread.
pub(super) fn standardize(x: &Tensor) -> candle_core::Result<Tensor> {
    let centred = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
    let std = (centred.sqr()?.mean_keepdim(D::Minus1)? + 1e-6)?.sqrt()?;
    centred.broadcast_div(&std)
}

impl Sarnn {
    /// Expected (x, y) of a sharp softmax over each map (Finn et al. 2016).
    pub(super) fn spatial_softmax(&self, feat: &Tensor) -> candle_core::Result<Tensor> {
        let (n, k, h, w) = feat.dims4()?;
        let mut x = feat.reshape((n * k, h * w))?;
        if self.cfg.standardize_attention {
            // Zero mean, unit spread per map: the temperature alone sets how
            // peaked the softmax is, whatever scale the features have reached.
            x = standardize(&x)?;
        }
        let logits = (x / self.cfg.temperature)?;
        let g = self.cfg.goal_points;
        let att = if g == 0 {
            candle_nn::ops::softmax(&logits, D::Minus1)?
        } else {
            // Goal points are region centroids: a softmax picks the map's peak,
            // which jumps between scenes; the centroid of where a map is
            // positive, weighted by how much, moves smoothly with the region
            // (e.g. the towel) that it marks. (A sigmoid would leak: a
            // standardised background sits only ~0.4 below zero.)
            let logits = logits.reshape((n, k, h * w))?;
            let soft = candle_nn::ops::softmax(&logits.narrow(1, 0, k - g)?, D::Minus1)?;
            let on = logits.narrow(1, k - g, g)?.relu()?;
            let region = on.broadcast_div(&(on.sum_keepdim(D::Minus1)? + 1e-6)?)?;
            Tensor::cat(&[&soft, &region], 1)?.reshape((n * k, h * w))?
        };
        att.matmul(&self.grid)?.reshape((n, 2 * k))
    }

    /// Points `(N, 2K)` -> Gaussian heatmaps `(N, K, h, w)`; the last
    /// `goal_points` maps are zero.
    pub(super) fn heatmaps(&self, pts: &Tensor) -> candle_core::Result<Tensor> {
        let n = pts.dim(0)?;
        let k = self.cfg.keypoints;
        let (fh, fw) = self.cfg.feature_hw();
        let p = pts.reshape((n * k, 2))?;
        // exp(−(dx² + dy²)/s) = exp(−dx²/s) · exp(−dy²/s): two 1-D Gaussians
        // and one outer product, not an `(n·k, h·w, 2)` difference.
        let gauss = |axis: &Tensor, i: usize| -> candle_core::Result<Tensor> {
            (axis.broadcast_sub(&p.narrow(1, i, 1)?)?.sqr()? / -self.cfg.heatmap_size)?.exp()
        };
        let gx = gauss(&self.map_xs, 0)?.reshape((n, k, 1, fw))?;
        let gy = gauss(&self.map_ys, 1)?.reshape((n, k, fh, 1))?;
        let gx = match self.cfg.goal_points {
            0 => gx,
            g => {
                let mask: Vec<f32> = (0..k).map(|i| if i + g < k { 1.0 } else { 0.0 }).collect();
                gx.broadcast_mul(&Tensor::from_vec(mask, (1, k, 1, 1), pts.device())?)?
            }
        };
        gy.broadcast_mul(&gx)
    }
}

#[cfg(test)]
mod tests {
    use crate::{ModelConfig, Sarnn};
    use candle_core::{Device, Tensor};

    /// Standardised, the points do not depend on the features' scale or
    /// offset; raw (EIPL), a larger scale sharpens them toward the peak.
    #[test]
    fn standardised_attention_ignores_the_feature_scale() {
        let cfg = ModelConfig { image_height: 16, image_width: 16, keypoints: 2, temperature: 0.5, ..ModelConfig::default() };
        let (fh, fw) = cfg.feature_hw();
        // A weak peak near a corner of each map over a faint ripple.
        let mut feat: Vec<f32> = (0..2 * fh * fw).map(|i| ((i * 37 % 11) as f32) * 0.001).collect();
        feat[fw + 1] += 0.05;
        feat[fh * fw + (fh - 2) * fw + fw - 3] += 0.05;
        let feat = Tensor::from_vec(feat, (1, 2, fh, fw), &Device::Cpu).unwrap();
        let scaled = ((&feat * 40.0).unwrap() + 3.0).unwrap();
        let pts = |m: &Sarnn, f: &Tensor| m.spatial_softmax(f).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let gap = |a: Vec<f32>, b: Vec<f32>| a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        let std = Sarnn::new(&ModelConfig { standardize_attention: true, ..cfg.clone() }, 1, &Device::Cpu).unwrap();
        assert!(gap(pts(&std, &feat), pts(&std, &scaled)) < 1e-4);
        let raw = Sarnn::new(&cfg, 1, &Device::Cpu).unwrap();
        assert!(gap(pts(&raw, &feat), pts(&raw, &scaled)) > 0.05);
    }

    /// Each heatmap is the Gaussian `exp(−‖cell − point‖² / heatmap_size)`
    /// over the feature map's cells, (x, y) normalised to 0..1.
    #[test]
    fn heatmaps_are_gaussians_at_the_points() {
        let cfg = ModelConfig { image_height: 16, image_width: 20, keypoints: 2, heatmap_size: 0.05, ..ModelConfig::default() };
        let (fh, fw) = cfg.feature_hw();
        let p = [0.2f32, 0.7, 0.9, 0.1];
        let maps = Sarnn::new(&cfg, 1, &Device::Cpu).unwrap().heatmaps(&Tensor::new(&[p], &Device::Cpu).unwrap()).unwrap();
        assert_eq!(maps.dims(), [1, 2, fh, fw]);
        let got = maps.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for k in 0..2 {
            for i in 0..fh {
                for j in 0..fw {
                    let (x, y) = (j as f32 / (fw - 1) as f32, i as f32 / (fh - 1) as f32);
                    let d2 = (x - p[2 * k]).powi(2) + (y - p[2 * k + 1]).powi(2);
                    let want = (-d2 / 0.05).exp();
                    assert!((got[(k * fh + i) * fw + j] - want).abs() < 1e-6, "map {k} cell ({i}, {j})");
                }
            }
        }
    }

    /// Goal points paint nothing for the image decoder; the others paint as before.
    #[test]
    fn goal_points_paint_no_heatmap() {
        let cfg = ModelConfig { image_height: 16, image_width: 16, keypoints: 3, ..ModelConfig::default() };
        let pts = Tensor::new(&[[0.2f32, 0.3, 0.5, 0.5, 0.7, 0.8]], &Device::Cpu).unwrap();
        let maps = |m: &Sarnn| m.heatmaps(&pts).unwrap().sum((2, 3)).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let plain = maps(&Sarnn::new(&cfg, 1, &Device::Cpu).unwrap());
        let goal = maps(&Sarnn::new(&ModelConfig { goal_points: 1, ..cfg.clone() }, 1, &Device::Cpu).unwrap());
        assert!(plain.iter().all(|&v| v > 1.0), "{plain:?}");
        assert_eq!(&goal[..2], &plain[..2]);
        assert_eq!(goal[2], 0.0);
        assert!(Sarnn::new(&ModelConfig { goal_points: 3, ..cfg }, 1, &Device::Cpu).is_err());
    }

    /// A goal point is the centre of the region its map marks, and moves with
    /// it by as much as the region moves; a softmax point on the same map sits
    /// at the brightest cell instead.
    #[test]
    fn a_goal_point_is_the_centroid_of_its_region() {
        let cfg = ModelConfig { image_height: 22, image_width: 22, keypoints: 2, goal_points: 1, temperature: 0.2, standardize_attention: true, ..ModelConfig::default() };
        let (fh, fw) = cfg.feature_hw();
        let m = Sarnn::new(&cfg, 1, &Device::Cpu).unwrap();
        // The same map twice: a plateau over columns c0..c0+6, rows 4..10, with
        // one brighter cell at its left edge.
        let points = |c0: usize| {
            let mut plane = vec![0f32; fh * fw];
            for r in 4..10 {
                for c in c0..c0 + 6 {
                    plane[r * fw + c] = 1.0;
                }
            }
            plane[6 * fw + c0] = 1.5;
            let feat = Tensor::from_vec([plane.clone(), plane].concat(), (1, 2, fh, fw), &Device::Cpu).unwrap();
            m.spatial_softmax(&feat).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap()
        };
        let (a, b) = (points(3), points(7));
        let x = |c: f32| c / (fw - 1) as f32;
        assert!((a[2] - x(5.5)).abs() < 0.02, "centroid x {} vs {}", a[2], x(5.5));
        assert!((a[3] - 6.5 / (fh - 1) as f32).abs() < 0.02, "centroid y {}", a[3]);
        assert!(((b[2] - a[2]) - x(4.0)).abs() < 1e-3, "moved {} for {}", b[2] - a[2], x(4.0));
        assert!((a[0] - x(3.0)).abs() < 0.02, "the softmax point sits on the bright cell: {}", a[0]);
    }
}
