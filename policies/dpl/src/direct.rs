//! The policy step's convolutions on the CPU without candle: direct convolution of
//! one image into buffers that are allocated on the first step and reused after.
//!
//! At 64x64 a step runs three 3-layer stacks, about 70 M multiply-adds over 3 to 32
//! channels. The training path (im2col + GEMM in [`crate::conv`]) spends most of a
//! batch-1 step zeroing, copying and packing thin matrices; here each output row
//! block is accumulated in registers over every input channel and kernel tap.
//! Same weights and same arithmetic as the candle path, which the tests compare
//! against; training and CUDA keep using candle.

/// One convolution layer (stride 1, zero padding, LeakyReLU after), weights
/// copied out of the model.
pub(crate) struct DirectConv {
    pub ci: usize,
    pub co: usize,
    pub k: usize,
    pub pad: usize,
    pub b: Vec<f32>,
    /// The weights tap-major, `(ci, k, k, co)`: the weights of neighbouring output
    /// channels for one tap sit side by side, as the kernels read them.
    pub wt: Vec<f32>,
}

impl DirectConv {
    /// `w` is candle's `(co, ci, k, k)` row-major layout.
    pub fn new(ci: usize, co: usize, k: usize, pad: usize, w: Vec<f32>, b: Vec<f32>) -> Self {
        let taps = ci * k * k;
        let mut wt = vec![0f32; w.len()];
        for o in 0..co {
            for t in 0..taps {
                wt[t * co + o] = w[o * taps + t];
            }
        }
        Self { ci, co, k, pad, b, wt }
    }
}

/// A stack of layers and its scratch buffers.
pub(crate) struct DirectStack {
    layers: Vec<DirectConv>,
    slope: f32,
    /// Split each layer's output channels over two threads (for a stack that
    /// does not already run beside another).
    split: bool,
    padded: Vec<f32>,
    bufs: [Vec<f32>; 2],
}

impl DirectStack {
    pub fn new(layers: Vec<DirectConv>, slope: f32, split: bool) -> Self {
        Self {
            layers,
            slope,
            split,
            padded: Vec::new(),
            bufs: [Vec::new(), Vec::new()],
        }
    }

    /// Runs the stack on one `(c, h, w)` image; returns the output and its `(c, h, w)`.
    pub fn run(&mut self, x: &[f32], (c, h, w): (usize, usize, usize)) -> (&[f32], (usize, usize, usize)) {
        let (mut c, mut h, mut w) = (c, h, w);
        let n = self.layers.len();
        for i in 0..n {
            let layer = &self.layers[i];
            let (p, k) = (layer.pad, layer.k);
            let (hp, wp) = (h + 2 * p, w + 2 * p);
            let (oh, ow) = (hp + 1 - k, wp + 1 - k);
            // Source: the image for layer 0, else the previous layer's buffer.
            let [b0, b1] = &mut self.bufs;
            let (src, dst): (&[f32], &mut Vec<f32>) = match i {
                0 => (x, b0),
                _ if i % 2 == 1 => (&b0[..c * h * w], b1),
                _ => (&b1[..c * h * w], b0),
            };
            let src = if p == 0 {
                src
            } else {
                pad_into(src, (c, h, w), p, &mut self.padded);
                &self.padded[..]
            };
            dst.resize(layer.co * oh * ow, 0.0);
            conv_layer(layer, src, (hp, wp), dst, self.slope, self.split);
            (c, h, w) = (layer.co, oh, ow);
        }
        let out = if n % 2 == 1 { &self.bufs[0] } else { &self.bufs[1] };
        (&out[..c * h * w], (c, h, w))
    }
}

/// Copies `(c, h, w)` into a zero border of width `p`.
fn pad_into(src: &[f32], (c, h, w): (usize, usize, usize), p: usize, dst: &mut Vec<f32>) {
    let (hp, wp) = (h + 2 * p, w + 2 * p);
    dst.clear();
    dst.resize(c * hp * wp, 0.0);
    for ch in 0..c {
        for y in 0..h {
            let d = (ch * hp + y + p) * wp + p;
            dst[d..d + w].copy_from_slice(&src[(ch * h + y) * w..][..w]);
        }
    }
}

/// A valid convolution of the padded `(ci, hp, wp)` input, then LeakyReLU. With
/// `split`, a layer of 8 or more output channels splits them over two threads.
fn conv_layer(l: &DirectConv, x: &[f32], hw: (usize, usize), out: &mut [f32], slope: f32, split: bool) {
    let (oh, ow) = (hw.0 + 1 - l.k, hw.1 + 1 - l.k);
    if split && l.co >= 8 {
        let half = (l.co / 2).next_multiple_of(4).min(l.co);
        let (a, b) = out.split_at_mut(half * oh * ow);
        rayon::join(|| conv_channels(l, x, hw, (0, half), a, slope), || conv_channels(l, x, hw, (half, l.co), b, slope));
    } else {
        conv_channels(l, x, hw, (0, l.co), out, slope);
    }
}

/// Output channels `o0..o1` into `out`, which holds just those channels.
fn conv_channels(l: &DirectConv, x: &[f32], hw: (usize, usize), chans: (usize, usize), out: &mut [f32], slope: f32) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") && hw.1 + 1 - l.k >= crate::direct_avx512::LANES {
        // SAFETY: the CPU supports AVX-512F, and rows are at least one vector wide.
        unsafe { crate::direct_avx512::conv_channels(l, x, hw, chans, out, slope) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { conv_channels_fma(l, x, hw, chans, out, slope) };
        return;
    }
    conv_channels_generic::<Plain>(l, x, hw, chans, out, slope);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn conv_channels_fma(l: &DirectConv, x: &[f32], hw: (usize, usize), chans: (usize, usize), out: &mut [f32], slope: f32) {
    conv_channels_generic::<Fused>(l, x, hw, chans, out, slope);
}

/// Multiply-add, fused where the CPU has FMA (`mul_add` without it is a libm call).
pub(crate) trait Mac {
    fn mac(a: f32, b: f32, c: f32) -> f32;
}
pub(crate) struct Fused;
pub(crate) struct Plain;
impl Mac for Fused {
    #[inline(always)]
    fn mac(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}
impl Mac for Plain {
    #[inline(always)]
    fn mac(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

#[inline(always)]
pub(crate) fn conv_channels_generic<M: Mac>(
    l: &DirectConv,
    x: &[f32],
    (hp, wp): (usize, usize),
    (o0, o1): (usize, usize),
    out: &mut [f32],
    slope: f32,
) {
    let (oh, ow) = (hp + 1 - l.k, wp + 1 - l.k);
    // `out` starts at channel o0: blocks index it from there.
    let mut o = o0;
    // Several output channels at a time share every input load.
    while o + 4 <= o1 {
        rows::<M, 4>(l, x, (hp, wp), (oh, ow), (o, o0), out, slope);
        o += 4;
    }
    while o + 2 <= o1 {
        rows::<M, 2>(l, x, (hp, wp), (oh, ow), (o, o0), out, slope);
        o += 2;
    }
    while o < o1 {
        rows::<M, 1>(l, x, (hp, wp), (oh, ow), (o, o0), out, slope);
        o += 1;
    }
}

#[inline(always)]
fn rows<M: Mac, const CO: usize>(
    l: &DirectConv,
    x: &[f32],
    (hp, wp): (usize, usize),
    (oh, ow): (usize, usize),
    o: (usize, usize),
    out: &mut [f32],
    slope: f32,
) {
    for oy in 0..oh {
        let mut ox = 0;
        while ox + 16 <= ow {
            block::<M, CO, 16>(l, x, (hp, wp), (oh, ow), o, oy, ox, out, slope);
            ox += 16;
        }
        if ox + 8 <= ow {
            block::<M, CO, 8>(l, x, (hp, wp), (oh, ow), o, oy, ox, out, slope);
            ox += 8;
        }
        if ox < ow && ow >= 8 {
            // The last few columns: one more 8-wide block ending at the row's end,
            // overlapping columns already written (it writes the same values).
            block::<M, CO, 8>(l, x, (hp, wp), (oh, ow), o, oy, ow - 8, out, slope);
        } else {
            for ox in ox..ow {
                block::<M, CO, 1>(l, x, (hp, wp), (oh, ow), o, oy, ox, out, slope);
            }
        }
    }
}

/// `CO` output channels x `B` output columns, accumulated over every input
/// channel and tap before one store.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<M: Mac, const CO: usize, const B: usize>(
    l: &DirectConv,
    x: &[f32],
    (hp, wp): (usize, usize),
    (oh, ow): (usize, usize),
    (o, o0): (usize, usize),
    oy: usize,
    ox: usize,
    out: &mut [f32],
    slope: f32,
) {
    let k = l.k;
    let mut acc = [[0f32; B]; CO];
    for (j, a) in acc.iter_mut().enumerate() {
        *a = [l.b[o + j]; B];
    }
    for c in 0..l.ci {
        for ky in 0..k {
            let row = &x[(c * hp + oy + ky) * wp + ox..];
            for kx in 0..k {
                let src: &[f32; B] = row[kx..kx + B].try_into().expect("row block in bounds");
                for (j, a) in acc.iter_mut().enumerate() {
                    let wv = l.wt[((c * k + ky) * k + kx) * l.co + o + j];
                    for i in 0..B {
                        a[i] = M::mac(wv, src[i], a[i]);
                    }
                }
            }
        }
    }
    for (j, a) in acc.iter().enumerate() {
        let dst = &mut out[((o - o0 + j) * oh + oy) * ow + ox..][..B];
        for i in 0..B {
            let v = a[i];
            dst[i] = if v > 0.0 { v } else { slope * v };
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use crate::config::ModelConfig;
    use crate::model::Sarnn;

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// The direct stacks give what candle's convolutions give, for EIPL's 64x64,
    /// for a size whose rows end in partial 16- and 8-column blocks, and with
    /// goal points from the pixel encoder, also with the feature encoder and
    /// the image decoder on the image pooled 2x2 (`feature_pool`).
    #[test]
    fn direct_stacks_match_the_candle_path() {
        let dev = Device::Cpu;
        let pixels = |side| ModelConfig {
            image_height: side,
            image_width: side,
            goal_points: 2,
            goal_encoder: crate::GoalEncoder::Pixels,
            ..ModelConfig::default()
        };
        for cfg in [64, 27].map(|side| ModelConfig { image_height: side, image_width: side, ..ModelConfig::default() }).into_iter().chain([pixels(32), ModelConfig { feature_pool: 2, ..pixels(40) }]) {
            let side = cfg.image_height;
            let m = Sarnn::new(&cfg, 5, &dev).unwrap();
            let img = Tensor::rand(0f32, 1f32, (1, 3, side, side), &dev).unwrap();
            let mut d = m.direct_stacks().unwrap();
            let (pts, feat) = m.encode(&img).unwrap();
            let (pts_d, feat_d) = m.encode_direct(&mut d, &img.flatten_all().unwrap().to_vec1::<f32>().unwrap()).unwrap();
            assert_eq!(feat.dims(), feat_d.dims());
            assert!(max_diff(&feat, &feat_d) < 1e-4, "features, side {side}");
            assert!(max_diff(&pts, &pts_d) < 1e-4, "points, side {side}");
            let dec = m.decode_image(&pts, &feat).unwrap();
            let dec_d = m.decode_image_direct(&mut d[2], &pts, &feat).unwrap();
            assert_eq!(dec.dims(), dec_d.dims());
            assert_eq!(dec.dims()[2], side / cfg.feature_pool, "the decoder predicts the pooled image");
            assert!(max_diff(&dec, &dec_d) < 1e-4, "image, side {side}");
            // A second run through the same buffers gives the same answer.
            let again = m.decode_image_direct(&mut d[2], &pts, &feat).unwrap();
            assert_eq!(max_diff(&dec_d, &again), 0.0);
        }
    }
}
