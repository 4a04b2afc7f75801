//! The arithmetic of [`crate::conv`]: unfolding (im2col), folding (its adjoint)
//! and the three products of a stride-1 convolution, on plain slices.
//!
//! Shapes: input `x (C, N, H, W)`, weights with the bias as a last column
//! `wb (CO, K+1)` where `K = C·k·k`, unfolded input `cols (K+1, L)` where `L =
//! N·OH·OW` (its last row all ones, the bias input), output `y (CO, L)`.
//!
//! Two paths. Where the CPU has AVX-512F ([`Path::Avx512`]) the products run on
//! [`kotoba_kernels`]: `cols` is unfolded straight into the GEMM's B panels
//! (32 columns, each row of a panel contiguous), so the forward product reads it
//! without a packing pass, and the weight gradient reads the same panels as
//! rows. Elsewhere ([`Path::Portable`]) `cols` is row-major and the `gemm`
//! crate (candle's own CPU matmul) does the products.

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

/// The unfolded input, in the layout its path's products read.
struct Cols {
    data: Vec<f32>,
    /// Where row 0, column 0 lies (panels start on a 64-byte boundary).
    start: usize,
}

/// Unfolds `x` into `(K+1, L)`: row-major, or with `panels` as 32-column panels
/// (row `r`, column `j` at `(j / 32) * (K+1) * 32 + r * 32 + j % 32`).
fn unfold(g: &Geometry, x: &[f32], panels: bool) -> Cols {
    let (k, p, rows, cols) = (g.k, g.pad, g.taps() + 1, g.cols());
    let (oh, ow) = g.out_hw();
    let l_out = oh * ow;
    let (len, pad_lanes) = match panels {
        true => (cols.div_ceil(32) * 32 * rows, 15),
        false => (rows * cols, 0),
    };
    let mut data = vec![0f32; len + pad_lanes];
    let start = if panels { data.as_ptr().align_offset(64).min(15) } else { 0 };
    let out = &mut data[start..start + len];
    // Copies `src` into row `r` from column `j`, split where panels end.
    let mut put = |r: usize, j: usize, src: &[f32]| {
        if !panels {
            out[r * cols + j..][..src.len()].copy_from_slice(src);
            return;
        }
        let (mut j, mut src) = (j, src);
        while !src.is_empty() {
            let n = (32 - j % 32).min(src.len());
            out[(j / 32) * 32 * rows + r * 32 + j % 32..][..n].copy_from_slice(&src[..n]);
            (j, src) = (j + n, &src[n..]);
        }
    };
    for ci in 0..g.c {
        for ky in 0..k {
            let (y0, y1) = valid(oh, ky, p, g.h);
            for kx in 0..k {
                let (x0, x1) = valid(ow, kx, p, g.w);
                let r = (ci * k + ky) * k + kx;
                for b in 0..g.n {
                    let src = &x[(ci * g.n + b) * g.h * g.w..][..g.h * g.w];
                    for oy in y0..y1 {
                        let (iy, ix0) = (oy + ky - p, x0 + kx - p);
                        put(r, b * l_out + oy * ow + x0, &src[iy * g.w + ix0..][..x1 - x0]);
                    }
                }
            }
        }
    }
    if panels {
        // Whole panel rows, padding lanes included: they meet masked lanes only.
        for panel in out.chunks_exact_mut(32 * rows) {
            panel[(rows - 1) * 32..].fill(1.0);
        }
    } else {
        out[(rows - 1) * cols..].fill(1.0);
    }
    Cols { data, start }
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

/// `wb (CO, K+1)` · `cols(x)` → `y (CO, L)`.
pub(crate) fn forward(path: Path, g: &Geometry, x: &[f32], wb: &[f32]) -> Vec<f32> {
    let (k1, l) = (g.taps() + 1, g.cols());
    let mut y = vec![0f32; g.co * l];
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512(cpu) => {
            let cols = unfold(g, x, true);
            let a = avx512::PackedA::new(wb, g.co, k1, k1, 1);
            let b = avx512::Panels::new(&cols.data[cols.start..], k1, l, NR, k1 * NR);
            let out = avx512::Output::<avx512::NoEpilogue> { c: &mut y, ldc: l, bias: None, residual: None, epilogue: None };
            avx512::gemm(cpu, &a, b, out);
        }
        Path::Portable => {
            let cols = unfold(g, x, false);
            let m = Mat { m: g.co, n: l, k: k1 };
            portable(m, &mut y, (wb, k1, 1), (&cols.data, l, 1));
        }
    }
    y
}

/// The input's gradient: `fold(wᵀ · dy)` for `w (CO, K)` (no bias column) and
/// `dy (CO, L)`, as `(C, N, H, W)`.
pub(crate) fn grad_input(path: Path, g: &Geometry, w: &[f32], dy: &[f32]) -> Vec<f32> {
    let (kt, l) = (g.taps(), g.cols());
    let mut dcols = vec![0f32; kt * l];
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512(cpu) => {
            let a = avx512::PackedA::new(w, kt, g.co, 1, kt);
            let b = avx512::Panels::row_major(dy, g.co, l);
            let out = avx512::Output::<avx512::NoEpilogue> { c: &mut dcols, ldc: l, bias: None, residual: None, epilogue: None };
            avx512::gemm(cpu, &a, b, out);
        }
        Path::Portable => portable(Mat { m: kt, n: l, k: g.co }, &mut dcols, (w, 1, kt), (dy, l, 1)),
    }
    fold(g, &dcols)
}

/// The weights' and bias' gradient `dy · cols(x)ᵀ`, `(CO, K+1)`.
pub(crate) fn grad_weights(path: Path, g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k1, l) = (g.taps() + 1, g.cols());
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx512(cpu) => {
            let cols = unfold(g, x, true);
            let cols = avx512_dot::Rows::new(&cols.data[cols.start..], k1, l, NR, k1 * NR);
            avx512_dot::dot_rows(cpu, avx512_dot::Rows::row_major(dy, g.co, l), cols)
        }
        Path::Portable => {
            let cols = unfold(g, x, false);
            let mut dwb = vec![0f32; g.co * k1];
            portable(Mat { m: g.co, n: k1, k: l }, &mut dwb, (dy, l, 1), (&cols.data, 1, l));
            dwb
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
