//! The arithmetic of [`crate::conv`]: unfolding (im2col), folding (its adjoint)
//! and the three products of a stride-1 convolution, on plain slices.
//!
//! Shapes: input `x (C, N, H, W)`, weights with the bias as a last column
//! `wb (CO, K+1)` where `K = C·k·k`, unfolded input `cols (K+1, L)` where `L =
//! N·OH·OW` (its last row all ones, the bias input), output `y (CO, L)`.
//!
//! Two paths. Where the CPU has AVX-512F ([`Path::Avx512`]) the products run on
//! [`kotoba_kernels`] and `cols` is never built: the kernels read the (padded)
//! input in place, a panel of B being a run of up to 32 output pixels of one
//! output row and a row of B a (channel, tap) offset into the input (an
//! implicit im2col; building `cols` and its gradient wrote about 4 GB per
//! training step of the bench). The input's gradient is then the convolution of
//! the output's gradient with the flipped, transposed weights, no fold needed.
//! Elsewhere ([`Path::Portable`]) `cols` is built row-major and the `gemm` crate
//! (candle's own CPU matmul) does the products.

#[cfg(target_arch = "x86_64")]
use kotoba_kernels::{avx512, avx512_dot};

/// Which arithmetic runs the products.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Path {
    #[cfg(target_arch = "x86_64")]
    Avx512(avx512::Avx512),
    Portable,
}

impl Path {
    /// The fastest this CPU has.
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(cpu) = avx512::Avx512::detect() {
            return Self::Avx512(cpu);
        }
        Self::Portable
    }
}

/// Columns per B panel of the AVX-512 kernel.
#[cfg(target_arch = "x86_64")]
const NR: usize = avx512::NR;

/// A stride-1 convolution's sizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub c: usize,
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub co: usize,
    pub k: usize,
    pub pad: usize,
}

impl Geometry {
    pub(crate) fn out_hw(&self) -> (usize, usize) {
        crate::conv::out_hw(self.h, self.w, self.k, self.pad)
    }
    /// `K`: rows of the unfolded input without the ones row.
    fn taps(&self) -> usize {
        self.c * self.k * self.k
    }
    /// `L`: columns of the unfolded input.
    fn cols(&self) -> usize {
        let (oh, ow) = self.out_hw();
        self.n * oh * ow
    }
}

/// For kernel offset `kk` and padding `pad`, the output range whose input index
/// `o + kk - pad` lies inside `0..len`.
fn valid(o_len: usize, kk: usize, pad: usize, len: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(kk);
    let hi = (len + pad).saturating_sub(kk).min(o_len);
    (lo, hi.max(lo))
}

/// Unfolds `x` into row-major `(K+1, L)`, the last row all ones.
fn unfold(g: &Geometry, x: &[f32]) -> Vec<f32> {
    let (k, p, rows, cols) = (g.k, g.pad, g.taps() + 1, g.cols());
    let (oh, ow) = g.out_hw();
    let l_out = oh * ow;
    let mut out = vec![0f32; rows * cols];
    for ci in 0..g.c {
        for ky in 0..k {
            let (y0, y1) = valid(oh, ky, p, g.h);
            for kx in 0..k {
                let (x0, x1) = valid(ow, kx, p, g.w);
                let row = &mut out[((ci * k + ky) * k + kx) * cols..][..cols];
                for (b, dst) in row.chunks_mut(l_out).enumerate() {
                    let src = &x[(ci * g.n + b) * g.h * g.w..][..g.h * g.w];
                    for oy in y0..y1 {
                        let (iy, ix0) = (oy + ky - p, x0 + kx - p);
                        dst[oy * ow + x0..oy * ow + x1].copy_from_slice(&src[iy * g.w + ix0..][..x1 - x0]);
                    }
                }
            }
        }
    }
    out[(rows - 1) * cols..].fill(1.0);
    out
}

/// The adjoint of [`unfold`] for row-major `g (K, L)` (no ones row): sums
/// columns back into `(C, N, H, W)`.
fn fold(geo: &Geometry, g: &[f32]) -> Vec<f32> {
    let (k, p, cols) = (geo.k, geo.pad, geo.cols());
    let (oh, ow) = geo.out_hw();
    let (h, w) = (geo.h, geo.w);
    let l_out = oh * ow;
    let mut out = vec![0f32; geo.c * geo.n * h * w];
    for ci in 0..geo.c {
        for ky in 0..k {
            let (y0, y1) = valid(oh, ky, p, h);
            for kx in 0..k {
                let (x0, x1) = valid(ow, kx, p, w);
                let row = &g[((ci * k + ky) * k + kx) * cols..][..cols];
                for (b, src) in row.chunks(l_out).enumerate() {
                    let dst = &mut out[(ci * geo.n + b) * h * w..][..h * w];
                    for oy in y0..y1 {
                        let (iy, ix0) = (oy + ky - p, x0 + kx - p);
                        let d = &mut dst[iy * w + ix0..][..x1 - x0];
                        for (a, b) in d.iter_mut().zip(&src[oy * ow + x0..oy * ow + x1]) {
                            *a += b;
                        }
                    }
                }
            }
        }
    }
    out
}

/// `w (CO, K)` · `cols(x)` + `b (CO)` → `y (CO, L)`.
pub(crate) fn forward(path: Path, g: &Geometry, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let (kt, l) = (g.taps(), g.cols());
    let mut y = vec![0f32; g.co * l];
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512(cpu) => {
            let t = implicit::Tables::new(g);
            let xp = implicit::padded(g, x);
            let a = avx512::PackedA::new(w, g.co, kt, kt, 1);
            let out = avx512::Output::<avx512::NoEpilogue> {
                c: &mut y,
                ldc: l,
                bias: None,
                row_bias: Some(b),
                residual: None,
                epilogue: None,
            };
            avx512::gemm(cpu, &a, avx512::Panels::new(&xp, &t.rows, &t.panels), out);
        }
        Path::Portable => {
            let cols = unfold(g, x);
            let wb: Vec<f32> = w.chunks_exact(kt).zip(b).flat_map(|(r, &b)| r.iter().copied().chain([b])).collect();
            portable(Mat { m: g.co, n: l, k: kt + 1 }, &mut y, (&wb, kt + 1, 1), (&cols, l, 1));
        }
    }
    y
}

/// The input's gradient for `w (CO, K)` and `dy (CO, L)`, as `(C, N, H, W)`.
pub(crate) fn grad_input(path: Path, g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (kt, l) = (g.taps(), g.cols());
    match path {
        // The full convolution of dy with the flipped, transposed weights
        // (needs the padding it reverses to be at most k - 1).
        #[cfg(target_arch = "x86_64")]
        Path::Avx512(_) if g.pad < g.k => {
            let (oh, ow) = g.out_hw();
            let back = Geometry { c: g.co, n: g.n, h: oh, w: ow, co: g.c, k: g.k, pad: g.k - 1 - g.pad };
            let kk = g.k * g.k;
            let mut wt = vec![0f32; g.c * g.co * kk];
            for (o, wo) in w.chunks_exact(kt).enumerate() {
                for (c, taps) in wo.chunks_exact(kk).enumerate() {
                    for (t, &v) in taps.iter().enumerate() {
                        wt[(c * g.co + o) * kk + kk - 1 - t] = v;
                    }
                }
            }
            forward(path, &back, dy, &wt, &vec![0.0; g.c])
        }
        _ => {
            let mut dcols = vec![0f32; kt * l];
            portable(Mat { m: kt, n: l, k: g.co }, &mut dcols, (w, 1, kt), (dy, l, 1));
            fold(g, &dcols)
        }
    }
}

/// The weights' and bias' gradient `dy · cols(x)ᵀ`, `(CO, K+1)`.
pub(crate) fn grad_weights(path: Path, g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (kt, l) = (g.taps(), g.cols());
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512(cpu) => {
            let t = implicit::Tables::new(g);
            let xp = implicit::padded(g, x);
            let runs: Vec<_> = t.panels.iter().map(|p| avx512_dot::DotPanel { a: p.col, b: p.at, cols: p.cols }).collect();
            let ra: Vec<usize> = (0..g.co).map(|i| i * l).collect();
            let a = avx512_dot::Rows { data: dy, rows: &ra };
            let dw = avx512_dot::dot_rows(cpu, a, avx512_dot::Rows { data: &xp, rows: &t.rows }, &runs);
            // The bias' gradient: each output channel's sum, beside its weights'.
            dw.chunks_exact(kt).zip(dy.chunks_exact(l)).flat_map(|(w, d)| w.iter().copied().chain([d.iter().sum()])).collect()
        }
        Path::Portable => {
            let cols = unfold(g, x);
            let mut dwb = vec![0f32; g.co * (kt + 1)];
            portable(Mat { m: g.co, n: kt + 1, k: l }, &mut dwb, (dy, l, 1), (&cols, 1, l));
            dwb
        }
    }
}

/// The implicit im2col of the AVX-512 path.
#[cfg(target_arch = "x86_64")]
mod implicit {
    use std::borrow::Cow;

    use super::{Geometry, NR};
    use kotoba_kernels::avx512::Panel;

    /// `x (C, N, H, W)` with `pad` zeros around each map (`x` itself without padding).
    pub(super) fn padded<'a>(g: &Geometry, x: &'a [f32]) -> Cow<'a, [f32]> {
        if g.pad == 0 {
            return Cow::Borrowed(x);
        }
        let (p, hp, wp) = (g.pad, g.h + 2 * g.pad, g.w + 2 * g.pad);
        let mut out = vec![0f32; g.c * g.n * hp * wp];
        for (src, dst) in x.chunks_exact(g.h * g.w).zip(out.chunks_exact_mut(hp * wp)) {
            for (s, d) in src.chunks_exact(g.w).zip(dst[p * wp..].chunks_exact_mut(wp)) {
                d[p..p + g.w].copy_from_slice(s);
            }
        }
        Cow::Owned(out)
    }

    /// B of the convolution read from the padded input: row `(ci, ky, kx)` at
    /// `ci·N·Hp·Wp + ky·Wp + kx`, a panel per run of up to 32 output pixels of
    /// one output row, starting at its first pixel's top-left input.
    pub(super) struct Tables {
        pub rows: Vec<usize>,
        pub panels: Vec<Panel>,
    }

    impl Tables {
        pub(super) fn new(g: &Geometry) -> Self {
            let (hp, wp) = (g.h + 2 * g.pad, g.w + 2 * g.pad);
            let (oh, ow) = g.out_hw();
            let mut rows = Vec::with_capacity(g.c * g.k * g.k);
            for ci in 0..g.c {
                for ky in 0..g.k {
                    rows.extend((0..g.k).map(|kx| ci * g.n * hp * wp + ky * wp + kx));
                }
            }
            let mut panels = Vec::with_capacity(g.n * oh * ow.div_ceil(NR));
            for b in 0..g.n {
                for oy in 0..oh {
                    for ox in (0..ow).step_by(NR) {
                        let (at, col) = ((b * hp + oy) * wp + ox, (b * oh + oy) * ow + ox);
                        panels.push(Panel { at, col, cols: NR.min(ow - ox) });
                    }
                }
            }
            Self { rows, panels }
        }
    }
}

/// A product's sizes: `(m, k) · (k, n)`.
#[derive(Clone, Copy)]
struct Mat {
    m: usize,
    n: usize,
    k: usize,
}

/// `dst (m, n)` row-major `= lhs · rhs`, each operand given as (data, row
/// stride, column stride), through the `gemm` crate as candle calls it.
fn portable(s: Mat, dst: &mut [f32], lhs: (&[f32], usize, usize), rhs: (&[f32], usize, usize)) {
    let last = |(d, rs, cs): (&[f32], usize, usize), rows: usize, cols: usize| {
        assert!(rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < d.len(), "operand too small");
    };
    last(lhs, s.m, s.k);
    last(rhs, s.k, s.n);
    assert_eq!(dst.len(), s.m * s.n, "destination is not {} x {}", s.m, s.n);
    if s.m == 0 || s.n == 0 || s.k == 0 {
        dst.fill(0.0);
        return;
    }
    let threads = candle_core::utils::get_num_threads();
    let par = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let i = |v: usize| v as isize;
    // SAFETY: every element the strides address lies inside its slice (checked
    // above) and `dst` is written only, as m x n row-major.
    unsafe {
        gemm::gemm(
            s.m,
            s.n,
            s.k,
            dst.as_mut_ptr(),
            1,
            i(s.n),
            false,
            lhs.0.as_ptr(),
            i(lhs.2),
            i(lhs.1),
            rhs.0.as_ptr(),
            i(rhs.2),
            i(rhs.1),
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}
