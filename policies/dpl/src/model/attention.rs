//! Spatial attention: feature maps to points (spatial softmax) and points back
//! to the Gaussian heatmaps that gate the image decoder.

use candle_core::{D, Tensor};

use super::Sarnn;

impl Sarnn {
    /// Expected (x, y) of a sharp softmax over each map (Finn et al. 2016).
    pub(super) fn spatial_softmax(&self, feat: &Tensor) -> candle_core::Result<Tensor> {
        let (n, k, h, w) = feat.dims4()?;
        let mut x = feat.reshape((n * k, h * w))?;
        if self.cfg.standardize_attention {
            // Zero mean, unit spread per map: the temperature alone sets how
            // peaked the softmax is, whatever scale the features have reached.
            let mean = x.mean_keepdim(D::Minus1)?;
            let centred = x.broadcast_sub(&mean)?;
            let std = (centred.sqr()?.mean_keepdim(D::Minus1)? + 1e-6)?.sqrt()?;
            x = centred.broadcast_div(&std)?;
        }
        let logits = (x / self.cfg.temperature)?;
        let att = candle_nn::ops::softmax(&logits, D::Minus1)?;
        att.matmul(&self.grid)?.reshape((n, 2 * k))
    }

    /// Points `(N, 2K)` -> Gaussian heatmaps `(N, K, h, w)`.
    pub(super) fn heatmaps(&self, pts: &Tensor) -> candle_core::Result<Tensor> {
        let n = pts.dim(0)?;
        let k = self.cfg.keypoints;
        let (fh, fw) = self.cfg.feature_hw();
        let p = pts.reshape((n * k, 1, 2))?;
        let d = self
            .grid
            .unsqueeze(0)?
            .broadcast_sub(&p)?
            .sqr()?
            .sum(D::Minus1)?;
        (d / -self.cfg.heatmap_size)?.exp()?.reshape((n, k, fh, fw))
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
}
