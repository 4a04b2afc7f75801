//! The direct convolution's inner block in AVX-512 (picked at run time by
//! [`crate::direct`] where the CPU has it and rows are at least 16 wide).
//!
//! One block is up to 8 output channels x 16 output columns, up to eight 512-bit
//! accumulators. Each kernel tap loads 16 input pixels once and multiplies them by
//! one broadcast weight per output channel; the weights come tap-major
//! ([`DirectConv::wt`]) so a block's eight sit in one cache line. A row's last
//! partial block is a full block ending at the row's end, overlapping columns
//! already written (with the same values), so no lane is ever masked.

use std::arch::x86_64::{
    __m512, _CMP_GT_OQ, _mm512_cmp_ps_mask, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_blend_ps, _mm512_mul_ps,
    _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
};

use crate::direct::DirectConv;

/// Output columns per block: one 512-bit vector of f32.
pub(crate) const LANES: usize = 16;

/// Output channels `o0..o1` of a valid convolution of the padded `(ci, hp, wp)`
/// input, then LeakyReLU, into `out` (just those channels).
///
/// # Safety
/// The CPU must support AVX-512F, and the output rows must be at least
/// [`LANES`] wide (`wp + 1 - k >= 16`).
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn conv_channels(
    l: &DirectConv,
    x: &[f32],
    (hp, wp): (usize, usize),
    (o0, o1): (usize, usize),
    out: &mut [f32],
    slope: f32,
) {
    let (oh, ow) = (hp + 1 - l.k, wp + 1 - l.k);
    assert!(ow >= LANES, "rows narrower than one vector");
    assert!(x.len() >= l.ci * hp * wp && out.len() >= (o1 - o0) * oh * ow && o1 <= l.co, "buffer sizes");
    let g = Geometry { hp, wp, oh, ow, o0, slope };
    let mut o = o0;
    while o + 8 <= o1 {
        rows::<8>(l, x, &g, o, out);
        o += 8;
    }
    // The rest in one pass: every block re-reads the whole input, so SARNN's 5
    // keypoint maps or 3 colour channels as 4 + 1 or 1 + 1 + 1 would cost two or
    // three times the loads.
    match o1 - o {
        1 => rows::<1>(l, x, &g, o, out),
        2 => rows::<2>(l, x, &g, o, out),
        3 => rows::<3>(l, x, &g, o, out),
        4 => rows::<4>(l, x, &g, o, out),
        5 => rows::<5>(l, x, &g, o, out),
        6 => rows::<6>(l, x, &g, o, out),
        7 => rows::<7>(l, x, &g, o, out),
        _ => {}
    }
}

struct Geometry {
    hp: usize,
    wp: usize,
    oh: usize,
    ow: usize,
    /// First output channel held by `out`.
    o0: usize,
    slope: f32,
}

#[inline]
#[target_feature(enable = "avx512f")]
fn rows<const CO: usize>(l: &DirectConv, x: &[f32], g: &Geometry, o: usize, out: &mut [f32]) {
    for oy in 0..g.oh {
        let mut ox = 0;
        while ox + LANES <= g.ow {
            block::<CO>(l, x, g, o, oy, ox, out);
            ox += LANES;
        }
        if ox < g.ow {
            block::<CO>(l, x, g, o, oy, g.ow - LANES, out);
        }
    }
}

/// `CO` output channels x 16 columns at `(oy, ox)`, accumulated over every input
/// channel and tap before one store per channel.
#[inline]
#[target_feature(enable = "avx512f")]
fn block<const CO: usize>(l: &DirectConv, x: &[f32], g: &Geometry, o: usize, oy: usize, ox: usize, out: &mut [f32]) {
    let k = l.k;
    let mut acc: [__m512; CO] = [_mm512_setzero_ps(); CO];
    for (j, a) in acc.iter_mut().enumerate() {
        *a = _mm512_set1_ps(l.b[o + j]);
    }
    for c in 0..l.ci {
        for ky in 0..k {
            // Slice once per kernel row: bounds checks inside the tap loop made the
            // compiler spill the loaded pixels to the stack around each check.
            let row = &x[(c * g.hp + oy + ky) * g.wp + ox..][..k - 1 + LANES];
            let wrow = &l.wt[(c * k + ky) * k * l.co + o..][..(k - 1) * l.co + CO];
            let (rp, wp) = (row.as_ptr(), wrow.as_ptr());
            for kx in 0..k {
                // SAFETY: `row` holds k - 1 + 16 values, so kx..kx + 16 is inside
                // it; `wrow` holds (k - 1) * co + CO, so kx * co + j is inside it.
                unsafe {
                    let s = _mm512_loadu_ps(rp.add(kx));
                    let w = wp.add(kx * l.co);
                    for j in 0..CO {
                        acc[j] = _mm512_fmadd_ps(_mm512_set1_ps(*w.add(j)), s, acc[j]);
                    }
                }
            }
        }
    }
    let (zero, slope) = (_mm512_setzero_ps(), _mm512_set1_ps(g.slope));
    for (j, &v) in acc.iter().enumerate() {
        // LeakyReLU, as the scalar path: v where v > 0, else slope * v.
        let pos = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, zero);
        let r = _mm512_mask_blend_ps(pos, _mm512_mul_ps(v, slope), v);
        let dst = &mut out[((o - g.o0 + j) * g.oh + oy) * g.ow + ox..][..LANES];
        // SAFETY: `dst` holds 16 values.
        unsafe { _mm512_storeu_ps(dst.as_mut_ptr(), r) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::direct::{Fused, conv_channels_generic};

    /// Where the CPU has AVX-512, this kernel gives what the portable one gives,
    /// for channel counts that leave 0, 5 and 3 channels after the 8-channel
    /// blocks, and rows that end in a partial block.
    #[test]
    fn avx512_kernel_matches_the_portable_one() {
        if !std::is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512 on this CPU: nothing to compare");
            return;
        }
        let mut seed = 1u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (ci, co, k, hp, wp) in [(3, 16, 3, 20, 30), (16, 13, 3, 9, 18), (5, 3, 5, 21, 40)] {
            let w: Vec<f32> = (0..co * ci * k * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..co).map(|_| rnd()).collect();
            let l = DirectConv::new(ci, co, k, 0, w, b);
            let x: Vec<f32> = (0..ci * hp * wp).map(|_| rnd()).collect();
            let n = co * (hp + 1 - k) * (wp + 1 - k);
            let (mut fast, mut slow) = (vec![0f32; n], vec![0f32; n]);
            // SAFETY: AVX-512F is present (checked above) and rows are >= 16 wide.
            unsafe { conv_channels(&l, &x, (hp, wp), (0, co), &mut fast, 0.3) };
            conv_channels_generic::<Fused>(&l, &x, (hp, wp), (0, co), &mut slow, 0.3);
            let worst = fast.iter().zip(&slow).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "ci {ci} co {co} k {k}: max difference {worst}");
        }
    }
}
