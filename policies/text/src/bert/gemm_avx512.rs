//! `x W^T + b` (optionally then GELU) for the encoder's linear layers, in AVX-512.
//!
//! Why our own: candle's CPU matmul is the `gemm` crate's AVX2 kernel (its AVX-512
//! one needs a feature that switches every matmul of the build and slowed the
//! 12-row products of batch 1 about 3x), and it was about 60 % of a batch-32
//! forward pass (`perf`). The weights here are packed once, at load time.
//!
//! The layout is BLIS's: the weights `W (N, K)` become panels of [`NR`] = 32
//! output columns (two 512-bit vectors), each `K` rows of 32 contiguous floats.
//! The input is copied once per product into blocks of [`MR`] = 14 rows, each
//! k-major, and the micro-kernel keeps a block's 14 x 32 outputs in 28 of the 32
//! vector registers while it walks K: per step two vector loads of the panel,
//! 14 broadcasts from the block, 28 FMAs. K is walked in slices of [`KC`] so the
//! block's slice stays in L1. Tasks are (row block, run of panels) pairs on
//! rayon's pool; batch 1 has a single row block, so there the panels are split.

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_div_ps, _mm512_fmadd_ps, _mm512_load_ps, _mm512_mask_loadu_ps,
    _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_set1_ps,
};

use rayon::prelude::*;

/// Output columns per panel: two vectors of 16 floats.
pub(crate) const NR: usize = 32;
/// Rows per micro-tile: 14 x 2 accumulators leave 4 of 32 registers for the
/// panel's two vectors and the broadcast.
pub(crate) const MR: usize = 14;
/// Slice of K per pass: a 14 x 384 block is 21 KiB, within L1 beside the panel rows.
const KC: usize = 384;
/// Panels per task at most: 12 x 32 columns x 384 rows is 576 KiB of weights,
/// which stay in L2 while the row blocks pass.
const MAX_PANELS_PER_TASK: usize = 12;

/// 64-byte aligned, so each 16-float load of a panel row is one whole cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Line([f32; 16]);

/// A linear layer's weights packed for the kernel. Only built where the CPU has
/// AVX-512F, so holding one is the proof the kernel may run.
pub(crate) struct PackedLinear {
    k: usize,
    n: usize,
    /// Panel `p`, row `kk` is `panels[(p * k + kk) * 2..][..2]`: `W[p*32 + j][kk]`
    /// for lanes `j`, zero past column `n`.
    panels: Vec<Line>,
    /// The bias, zero-padded to whole panels.
    bias: Vec<Line>,
}

impl std::fmt::Debug for PackedLinear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedLinear({} -> {})", self.k, self.n)
    }
}

impl PackedLinear {
    /// Packs `weight` (`n` rows of `k`, PyTorch's `Linear` layout) and `bias` (`n`),
    /// or `None` where the CPU lacks AVX-512F.
    pub(crate) fn new(weight: &[f32], bias: Option<&[f32]>, n: usize, k: usize) -> Option<Self> {
        if !std::is_x86_feature_detected!("avx512f") {
            return None;
        }
        assert_eq!(weight.len(), n * k, "weight is not {n} x {k}");
        let np = n.div_ceil(NR);
        let mut panels = vec![Line([0.0; 16]); np * k * 2];
        for (col, w) in weight.chunks_exact(k).enumerate() {
            let (p, j) = (col / NR, col % NR);
            for (kk, &v) in w.iter().enumerate() {
                panels[(p * k + kk) * 2 + j / 16].0[j % 16] = v;
            }
        }
        let mut padded = vec![Line([0.0; 16]); np * 2];
        if let Some(b) = bias {
            assert_eq!(b.len(), n, "bias is not {n} long");
            for (j, &v) in b.iter().enumerate() {
                padded[j / 16].0[j % 16] = v;
            }
        }
        Some(Self { k, n, panels, bias: padded })
    }

    pub(crate) fn in_dim(&self) -> usize {
        self.k
    }

    pub(crate) fn out_dim(&self) -> usize {
        self.n
    }

    /// `x (m, k)` row-major → `x W^T + b`, `(m, n)` row-major, plus `residual`
    /// (`(m, n)`) if given, then the exact (erf) GELU of [`super::model`] if `gelu`.
    pub(crate) fn forward(&self, x: &[f32], m: usize, residual: Option<&[f32]>, gelu: bool) -> Vec<f32> {
        let (k, n) = (self.k, self.n);
        assert_eq!(x.len(), m * k, "input is not {m} x {k}");
        if let Some(r) = residual {
            assert_eq!(r.len(), m * n, "residual is not {m} x {n}");
        }
        let mut out = vec![0f32; m * n];
        if m == 0 || n == 0 {
            return out;
        }
        let (blocks, np) = (m.div_ceil(MR), n.div_ceil(NR));
        // Enough tasks for rayon to balance (about four per thread), none wider
        // than what stays in L2.
        let want = 4 * rayon::current_num_threads();
        let per_task = (blocks * np / want).clamp(1, MAX_PANELS_PER_TASK);
        let runs = np.div_ceil(per_task);
        // Every row block k-major, once for all tasks: block b holds rows
        // b*MR.., element (kk, i) at b*MR*k + kk*r + i for its r rows, so the
        // kernel's r broadcasts per step come from one cache line and each K
        // slice is contiguous.
        let mut packed = vec![0f32; m * k];
        packed.par_chunks_mut(MR * k).zip(x.par_chunks(MR * k)).for_each(|(p, x)| {
            let r = x.len() / k;
            for (i, row) in x.chunks_exact(k).enumerate() {
                for (kk, &v) in row.iter().enumerate() {
                    p[kk * r + i] = v;
                }
            }
        });
        let out_ptr = OutPtr(out.as_mut_ptr());
        // Run-major order: consecutive tasks share a run of panels, so its
        // weights are reused from cache across the row blocks.
        (0..runs * blocks).into_par_iter().for_each(|t| {
            let (run, block) = (t / blocks, t % blocks);
            let rows = block * MR..(block * MR + MR).min(m);
            let panels = run * per_task..(run * per_task + per_task).min(np);
            let a = &packed[block * MR * k..][..rows.len() * k];
            // SAFETY: this is the only task writing rows `rows` x columns
            // `panels * NR` (clipped to n) of `out`, which outlives the loop; the
            // CPU has AVX-512F because `self` exists.
            unsafe { self.task(a, rows, panels, out_ptr, residual, gelu) };
        });
        out
    }

    /// One row block times a run of panels, written into `out`.
    ///
    /// # Safety
    /// No other thread may touch the tile `rows` x `panels` of `out` (an `m x n`
    /// row-major buffer, and `residual` the same size if given) meanwhile, and
    /// the CPU must have AVX-512F. `block` is the row block packed k-major.
    unsafe fn task(
        &self,
        block: &[f32],
        rows: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        out: OutPtr,
        residual: Option<&[f32]>,
        gelu: bool,
    ) {
        let (k, n, r) = (self.k, self.n, rows.len());
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let step = Step {
                first: k0 == 0,
                gelu: gelu && k0 + kc == k,
            };
            for p in panels.clone() {
                let cols = NR.min(n - p * NR);
                let tile = Tile {
                    a: &block[k0 * r..(k0 + kc) * r],
                    b: &self.panels[(p * k + k0) * 2..(p * k + k0 + kc) * 2],
                    bias: &self.bias[p * 2..p * 2 + 2],
                    // SAFETY: row `rows.start`, column `p * NR` lies inside `out`.
                    c: unsafe { out.0.add(rows.start * n + p * NR) },
                    // Same offset into the residual (same shape as `out`).
                    add: residual.map(|res| res[rows.start * n + p * NR..].as_ptr()),
                    ldc: n,
                    masks: (lane_mask(cols), lane_mask(cols.saturating_sub(16))),
                };
                // SAFETY: the tile is r rows x `cols` columns of `out`, ours alone;
                // the caller vouches for AVX-512F.
                unsafe { micro(r, &tile, step) };
            }
            k0 += kc;
        }
    }
}

/// The output buffer, shared by tasks that write disjoint tiles of it.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks only write disjoint tiles (see `PackedLinear::forward`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// One micro-tile's operands: `a` is `kc x r` (k-major), `b` the panel's `kc`
/// rows, `c` the tile's top-left output.
struct Tile<'a> {
    a: &'a [f32],
    b: &'a [Line],
    bias: &'a [Line],
    c: *mut f32,
    /// Added to the first slice's sums: the residual's tile, stride `ldc` like `c`.
    add: Option<*const f32>,
    ldc: usize,
    /// Which of the 32 columns exist (the last panel may be partial).
    masks: (__mmask16, __mmask16),
}

/// Where this K slice lies: the first starts from the bias, later ones from
/// what is in `c`; GELU goes after the last one.
#[derive(Clone, Copy)]
struct Step {
    first: bool,
    gelu: bool,
}

fn lane_mask(cols: usize) -> __mmask16 {
    if cols >= 16 { 0xffff } else { ((1u32 << cols) - 1) as __mmask16 }
}

/// Dispatches on the row count so each kernel's accumulators are a fixed set of registers.
///
/// # Safety
/// `tile.c` must address `r` rows (stride `ldc`) of 32 writable floats, of
/// which the masked ones are written, and `tile.add` (if any) as many readable
/// ones; the CPU must have AVX-512F.
unsafe fn micro(r: usize, tile: &Tile, step: Step) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match r {
            1 => kernel::<1>(tile, step),
            2 => kernel::<2>(tile, step),
            3 => kernel::<3>(tile, step),
            4 => kernel::<4>(tile, step),
            5 => kernel::<5>(tile, step),
            6 => kernel::<6>(tile, step),
            7 => kernel::<7>(tile, step),
            8 => kernel::<8>(tile, step),
            9 => kernel::<9>(tile, step),
            10 => kernel::<10>(tile, step),
            11 => kernel::<11>(tile, step),
            12 => kernel::<12>(tile, step),
            13 => kernel::<13>(tile, step),
            14 => kernel::<14>(tile, step),
            _ => unreachable!("row blocks hold 1..={MR} rows"),
        }
    }
}

/// # Safety
/// As [`micro`], with `R` rows; `tile.a` holds `kc * R` floats and `tile.b` `kc` rows.
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const R: usize>(tile: &Tile, step: Step) {
    let kc = tile.b.len() / 2;
    assert!(tile.a.len() == kc * R && tile.bias.len() == 2, "tile operands");
    let (m0, m1) = tile.masks;
    // Short loops over a const-sized array, which LLVM unrolls, so the
    // accumulators live in registers.
    let mut acc = [_mm512_set1_ps(0.0); 28];
    // SAFETY: `Line` is 64-byte aligned and holds 16 floats; row r's masked lanes
    // lie inside the output (the caller's contract).
    unsafe {
        let (bias0, bias1) = (_mm512_load_ps(tile.bias[0].0.as_ptr()), _mm512_load_ps(tile.bias[1].0.as_ptr()));
        for r in 0..R {
            if !step.first {
                let c = tile.c.add(r * tile.ldc);
                acc[2 * r] = _mm512_mask_loadu_ps(bias0, m0, c);
                acc[2 * r + 1] = _mm512_mask_loadu_ps(bias1, m1, c.add(16));
            } else if let Some(add) = tile.add {
                let add = add.add(r * tile.ldc);
                acc[2 * r] = _mm512_add_ps(bias0, _mm512_maskz_loadu_ps(m0, add));
                acc[2 * r + 1] = _mm512_add_ps(bias1, _mm512_maskz_loadu_ps(m1, add.add(16)));
            } else {
                acc[2 * r] = bias0;
                acc[2 * r + 1] = bias1;
            }
        }
    }
    let (a, b) = (tile.a.as_ptr(), tile.b.as_ptr());
    for kk in 0..kc {
        // SAFETY: kk < kc, and `a`, `b` hold kc steps of R floats and 2 lines.
        unsafe {
            let b0 = _mm512_load_ps(b.add(2 * kk).cast());
            let b1 = _mm512_load_ps(b.add(2 * kk + 1).cast());
            let a = a.add(kk * R);
            for r in 0..R {
                let x = _mm512_set1_ps(*a.add(r));
                acc[2 * r] = _mm512_fmadd_ps(x, b0, acc[2 * r]);
                acc[2 * r + 1] = _mm512_fmadd_ps(x, b1, acc[2 * r + 1]);
            }
        }
    }
    for r in 0..R {
        // SAFETY: row r's masked lanes lie inside the output (the caller's contract).
        unsafe {
            let c = tile.c.add(r * tile.ldc);
            _mm512_mask_storeu_ps(c, m0, acc[2 * r]);
            _mm512_mask_storeu_ps(c.add(16), m1, acc[2 * r + 1]);
        }
    }
    // GELU from memory (L1), not in the loop above: with the long GELU inside,
    // that loop stays rolled and the accumulators go to the stack.
    if step.gelu {
        for r in 0..R {
            // SAFETY: as above.
            unsafe {
                let c = tile.c.add(r * tile.ldc);
                _mm512_mask_storeu_ps(c, m0, gelu(_mm512_maskz_loadu_ps(m0, c)));
                _mm512_mask_storeu_ps(c.add(16), m1, gelu(_mm512_maskz_loadu_ps(m1, c.add(16))));
            }
        }
    }
}

/// `0.5 x (1 + erf(x / sqrt 2))` on 16 lanes, with the rational erf of
/// [`super::model`] (same coefficients, fused multiply-adds).
#[inline]
#[target_feature(enable = "avx512f")]
fn gelu(x: __m512) -> __m512 {
    use super::model::{ERF_P, ERF_Q};
    let s = |v: f32| _mm512_set1_ps(v);
    let z = _mm512_mul_ps(x, s(std::f32::consts::FRAC_1_SQRT_2));
    let z = _mm512_min_ps(_mm512_max_ps(z, s(-4.0)), s(4.0));
    let z2 = _mm512_mul_ps(z, z);
    let mut p = _mm512_fmadd_ps(z2, s(ERF_P[0]), s(ERF_P[1]));
    for &c in &ERF_P[2..] {
        p = _mm512_fmadd_ps(z2, p, s(c));
    }
    let mut q = _mm512_fmadd_ps(z2, s(ERF_Q[0]), s(ERF_Q[1]));
    for &c in &ERF_Q[2..] {
        q = _mm512_fmadd_ps(z2, q, s(c));
    }
    let erf = _mm512_div_ps(_mm512_mul_ps(z, p), q);
    _mm512_mul_ps(_mm512_mul_ps(s(0.5), x), _mm512_add_ps(s(1.0), erf))
}

#[cfg(test)]
#[path = "gemm_avx512_tests.rs"]
mod tests;
