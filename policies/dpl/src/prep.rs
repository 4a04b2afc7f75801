//! Turning recorded streams into model-rate episodes: resampling, image resizing
//! and gripper smoothing (EIPL `1_rosbag2npz.py`, `utils.cos_interpolation`).

/// For each model tick `t0 + k / rate`, the index of the first sample stamped at or
/// after it (EIPL takes the nearest message at or after each tick). Ticks past the
/// last sample are dropped. `stamps` must be sorted, in seconds.
pub fn resample_indices(stamps: &[f64], rate_hz: f64) -> Vec<usize> {
    let mut out = Vec::new();
    let (Some(&t0), Some(&t_end)) = (stamps.first(), stamps.last()) else {
        return out;
    };
    let mut i = 0;
    for k in 0.. {
        let tick = t0 + k as f64 / rate_hz;
        if tick > t_end + 1e-9 {
            break;
        }
        while i < stamps.len() && stamps[i] < tick - 1e-9 {
            i += 1;
        }
        out.push(i.min(stamps.len() - 1));
    }
    out
}

/// Bilinear resize of an `h x w x 3` u8 image (pixel-centre aligned, like OpenCV's INTER_LINEAR).
pub fn resize_rgb(src: &[u8], h: usize, w: usize, out_h: usize, out_w: usize) -> Vec<u8> {
    let mut out = vec![0u8; out_h * out_w * 3];
    let (sy, sx) = (h as f32 / out_h as f32, w as f32 / out_w as f32);
    for oy in 0..out_h {
        let fy = ((oy as f32 + 0.5) * sy - 0.5).clamp(0.0, (h - 1) as f32);
        let (y0, ty) = (fy.floor() as usize, fy - fy.floor());
        let y1 = (y0 + 1).min(h - 1);
        for ox in 0..out_w {
            let fx = ((ox as f32 + 0.5) * sx - 0.5).clamp(0.0, (w - 1) as f32);
            let (x0, tx) = (fx.floor() as usize, fx - fx.floor());
            let x1 = (x0 + 1).min(w - 1);
            for c in 0..3 {
                let p = |y: usize, x: usize| src[(y * w + x) * 3 + c] as f32;
                let top = p(y0, x0) * (1.0 - tx) + p(y0, x1) * tx;
                let bot = p(y1, x0) * (1.0 - tx) + p(y1, x1) * tx;
                out[(oy * out_w + ox) * 3 + c] = (top * (1.0 - ty) + bot * ty).round() as u8;
            }
        }
    }
    out
}

/// A CHW image `dims = (c, h, w)` averaged over `p × p` blocks, as
/// `Tensor::avg_pool2d(p)` does (rows and columns past a whole block are
/// dropped); `p` 0 or 1 copies it.
pub fn pool_chw(src: &[f32], (c, h, w): (usize, usize, usize), p: usize) -> Vec<f32> {
    if p <= 1 {
        return src[..c * h * w].to_vec();
    }
    let (oh, ow) = (h / p, w / p);
    let mut out = vec![0f32; c * oh * ow];
    let scale = 1.0 / (p * p) as f32;
    for ch in 0..c {
        for y in 0..oh * p {
            let row = &src[(ch * h + y) * w..(ch * h + y) * w + ow * p];
            let dst = &mut out[(ch * oh + y / p) * ow..(ch * oh + y / p + 1) * ow];
            for (x, v) in row.iter().enumerate() {
                dst[x / p] += v * scale;
            }
        }
    }
    out
}

/// Replaces each 0<->1 switch of a binary signal by a raised-cosine ramp of
/// `2 * step` samples centred on the switch (EIPL `cos_interpolation`), so the
/// gripper target is smooth enough for the network to predict.
pub fn cos_smooth(binary: &[f32], step: usize) -> Vec<f32> {
    let mut out: Vec<f32> = binary
        .iter()
        .map(|&x| if x > 0.5 { 1.0 } else { 0.0 })
        .collect();
    let src = out.clone();
    for i in 1..src.len() {
        if src[i] != src[i - 1] {
            let (from, to) = (src[i - 1], src[i]);
            for k in 0..2 * step {
                let idx = i as isize - step as isize + k as isize;
                if idx < 0 || idx as usize >= out.len() {
                    continue;
                }
                let u =
                    0.5 - 0.5 * (std::f32::consts::PI * (k as f32 + 0.5) / (2 * step) as f32).cos();
                out[idx as usize] = from + (to - from) * u;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resample_takes_first_sample_at_or_after_tick() {
        let stamps = [0.0, 0.04, 0.09, 0.11, 0.2, 0.31];
        assert_eq!(resample_indices(&stamps, 10.0), vec![0, 3, 4, 5]);
    }

    #[test]
    fn resize_keeps_a_flat_image_flat() {
        let src = vec![77u8; 8 * 6 * 3];
        assert!(resize_rgb(&src, 8, 6, 3, 5).iter().all(|&p| p == 77));
    }

    /// The policy's pooling of one image is candle's, which training uses.
    #[test]
    fn pool_chw_is_candles_average_pool() {
        let (c, h, w) = (3, 6, 8);
        let src: Vec<f32> = (0..c * h * w).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
        let t = candle_core::Tensor::from_slice(&src, (1, c, h, w), &candle_core::Device::Cpu).unwrap();
        let want: Vec<f32> = t.avg_pool2d(2).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let got = pool_chw(&src, (c, h, w), 2);
        assert_eq!(got.len(), c * 3 * 4);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{got:?} vs {want:?}");
        }
        // A 7x9 image pools to 3x4, the last row and column dropped, as candle does.
        let odd: Vec<f32> = (0..7 * 9).map(|i| i as f32).collect();
        let t = candle_core::Tensor::from_slice(&odd, (1, 1, 7, 9), &candle_core::Device::Cpu).unwrap();
        let want: Vec<f32> = t.avg_pool2d(2).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(pool_chw(&odd, (1, 7, 9), 2), want);
    }

    #[test]
    fn cos_smooth_ramps_monotonically() {
        let mut x = vec![0.0; 10];
        x.extend(vec![1.0; 10]);
        let y = cos_smooth(&x, 3);
        assert_eq!(y[0], 0.0);
        assert_eq!(y[19], 1.0);
        assert!(y.windows(2).all(|w| w[1] >= w[0]));
        assert!(y[8] > 0.0 && y[8] < 1.0);
    }
}
