//! `C = A B (+ bias + residual)`, then an optional elementwise epilogue, in AVX-512.
//!
//! The layout is BLIS's. `A (m, k)` is copied once per product into blocks of
//! [`MR`] = 14 rows, each k-major ([`PackedA`]). `B (k, n)` is read as panels of
//! up to [`NR`] = 32 columns (two 512-bit vectors), each `k` rows of contiguous
//! floats found through two tables ([`Panels`]): where each panel starts, and
//! where each row lies from there. Pre-packed weights, a plain row-major matrix
//! and a convolution's input read in place (an implicit im2col: a panel is a run
//! of output pixels, a row a (channel, tap) offset) all fit. The micro-kernel keeps a block's 14 x 32 outputs in
//! 28 of the 32 vector registers while it walks K: per step two vector loads of
//! the panel, 14 broadcasts from the block, 28 FMAs. K is walked in slices of
//! [`KC`] so the block's slice stays in L1. Tasks are (row block, run of panels)
//! pairs on rayon's pool; a single row block has its panels split instead.

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_add_ps, _mm512_fmadd_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps, _mm512_set1_ps,
};

use rayon::prelude::*;

/// Output columns per panel: two vectors of 16 floats.
pub const NR: usize = 32;
/// Rows per micro-tile: 14 x 2 accumulators leave 4 of 32 registers for the
/// panel's two vectors and the broadcast.
pub const MR: usize = 14;
/// Slice of K per pass: a 14 x 384 block is 21 KiB, within L1 beside the panel rows.
const KC: usize = 384;
/// Panels per task at most: 12 x 32 columns x 384 rows is 576 KiB of B, which
/// stays in L2 while the row blocks pass.
const MAX_PANELS_PER_TASK: usize = 12;

/// Proof that the CPU has AVX-512F: every kernel here takes one.
#[derive(Debug, Clone, Copy)]
pub struct Avx512(());

impl Avx512 {
    /// `Some` where the CPU has AVX-512F.
    pub fn detect() -> Option<Self> {
        std::is_x86_feature_detected!("avx512f").then_some(Self(()))
    }
}

/// Applied to every output vector after the last K slice (e.g. an activation).
pub trait Epilogue: Sync {
    /// # Safety
    /// The CPU must have AVX-512F (callers hold an [`Avx512`]).
    unsafe fn apply(&self, v: __m512) -> __m512;
}

/// The identity: no epilogue pass.
pub struct NoEpilogue;

impl Epilogue for NoEpilogue {
    unsafe fn apply(&self, v: __m512) -> __m512 {
        v
    }
}

/// `A (m, k)` as row blocks of [`MR`] rows, each k-major: block `b` holds rows
/// `b*MR..`, element `(kk, i)` at `b*MR*k + kk*r + i` for its `r` rows, so the
/// kernel's `r` broadcasts per step come from one cache line and each K slice
/// is contiguous.
pub struct PackedA {
    m: usize,
    k: usize,
    data: Vec<f32>,
}

impl PackedA {
    /// From `x`, element `(i, kk)` at `x[i * rs + kk * cs]` (row-major: `rs = k,
    /// cs = 1`; its transpose: `rs = 1, cs = m`).
    pub fn new(x: &[f32], m: usize, k: usize, rs: usize, cs: usize) -> Self {
        if m > 0 && k > 0 {
            assert!((m - 1) * rs + (k - 1) * cs < x.len(), "A is not {m} x {k} with strides {rs}, {cs}");
        }
        let mut data = vec![0f32; m * k];
        if k > 0 {
            data.par_chunks_mut(MR * k).enumerate().for_each(|(b, p)| {
                let r = p.len() / k;
                for i in 0..r {
                    let row = (b * MR + i) * rs;
                    for kk in 0..k {
                        p[kk * r + i] = x[row + kk * cs];
                    }
                }
            });
        }
        Self { m, k, data }
    }

    pub fn rows(&self) -> usize {
        self.m
    }

    pub fn depth(&self) -> usize {
        self.k
    }
}

/// One panel of B: `cols` (1..=32) columns whose row `kk` starts at
/// `at + rows[kk]` in B's buffer, and land in columns `col..col + cols` of C.
#[derive(Debug, Clone, Copy)]
pub struct Panel {
    pub at: usize,
    pub col: usize,
    pub cols: usize,
}

/// `B (k, n)` as [`Panel`]s sharing one table of row offsets.
#[derive(Clone, Copy)]
pub struct Panels<'a> {
    data: &'a [f32],
    rows: &'a [usize],
    panels: &'a [Panel],
    /// Columns of C the panels reach.
    n: usize,
}

impl<'a> Panels<'a> {
    /// Checks that every element the kernel reads lies inside `data`.
    pub fn new(data: &'a [f32], rows: &'a [usize], panels: &'a [Panel]) -> Self {
        let far = rows.iter().copied().max().unwrap_or(0);
        let mut n = 0;
        for p in panels {
            assert!((1..=NR).contains(&p.cols), "a panel has 1..={NR} columns");
            assert!(rows.is_empty() || p.at + far + p.cols <= data.len(), "B panels reach past their buffer");
            n = n.max(p.col + p.cols);
        }
        Self { data, rows, panels, n }
    }

    /// The tables of a row-major `(k, n)` matrix: rows `n` apart, panels 32 columns apart.
    pub fn row_major_tables(k: usize, n: usize) -> (Vec<usize>, Vec<Panel>) {
        let rows = (0..k).map(|kk| kk * n).collect();
        let panels = (0..n).step_by(NR).map(|j| Panel { at: j, col: j, cols: NR.min(n - j) }).collect();
        (rows, panels)
    }
}

/// What the sums start from, and what follows them.
pub struct Output<'a, E: Epilogue> {
    /// `(m, n)` with rows `ldc` apart.
    pub c: &'a mut [f32],
    pub ldc: usize,
    /// Added to every row (`n` long).
    pub bias: Option<&'a [f32]>,
    /// Added to every column (`m` long): row `i` gets `row_bias[i]`.
    pub row_bias: Option<&'a [f32]>,
    /// Added to the sums, same shape and stride as `c`.
    pub residual: Option<&'a [f32]>,
    pub epilogue: Option<&'a E>,
}

/// `out.c = epilogue(a b + bias + residual)`.
pub fn gemm<E: Epilogue>(_cpu: Avx512, a: &PackedA, b: Panels, out: Output<E>) {
    let (m, k, n, ldc) = (a.m, a.k, b.n, out.ldc);
    assert_eq!(b.rows.len(), k, "A is {m} x {k}, B has {} rows", b.rows.len());
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n && (m - 1) * ldc + n <= out.c.len(), "C is not {m} x {n} with row stride {ldc}");
    if let Some(r) = out.residual {
        assert!((m - 1) * ldc + n <= r.len(), "residual is smaller than C");
    }
    if let Some(bias) = out.bias {
        assert!(bias.len() >= n, "bias is shorter than {n}");
    }
    if let Some(bias) = out.row_bias {
        assert!(bias.len() >= m, "row bias is shorter than {m}");
    }
    let (blocks, np) = (m.div_ceil(MR), b.panels.len());
    // Enough tasks for rayon to balance (about four per thread), none wider
    // than what stays in L2.
    let want = 4 * rayon::current_num_threads();
    let per_task = (blocks * np / want).clamp(1, MAX_PANELS_PER_TASK);
    let runs = np.div_ceil(per_task);
    let c = OutPtr(out.c.as_mut_ptr());
    let ctx = Ctx { a, b, c, ldc, bias: out.bias, row_bias: out.row_bias, residual: out.residual, epilogue: out.epilogue };
    // Run-major order: consecutive tasks share a run of panels, so B is reused
    // from cache across the row blocks.
    (0..runs * blocks).into_par_iter().for_each(|t| {
        let (run, block) = (t / blocks, t % blocks);
        let panels = run * per_task..(run * per_task + per_task).min(np);
        // SAFETY: this is the only task writing row block `block` x `panels` of
        // `c`, which outlives the loop and was checked to hold m x n (stride
        // ldc); the `Avx512` token proves the CPU has AVX-512F.
        unsafe { ctx.task(block, panels) };
    });
}

/// The output buffer, shared by tasks that write disjoint tiles of it.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: tasks only write disjoint tiles (see `gemm`).
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

struct Ctx<'a, E: Epilogue> {
    a: &'a PackedA,
    b: Panels<'a>,
    c: OutPtr,
    ldc: usize,
    bias: Option<&'a [f32]>,
    row_bias: Option<&'a [f32]>,
    residual: Option<&'a [f32]>,
    epilogue: Option<&'a E>,
}

impl<E: Epilogue> Ctx<'_, E> {
    /// One row block times a run of panels.
    ///
    /// # Safety
    /// No other thread may touch that tile of `c` meanwhile, and the CPU must
    /// have AVX-512F.
    unsafe fn task(&self, block: usize, panels: std::ops::Range<usize>) {
        let (k, b) = (self.a.k, &self.b);
        let rows = block * MR..(block * MR + MR).min(self.a.m);
        let r = rows.len();
        let a = &self.a.data[block * MR * k..][..r * k];
        let mut k0 = 0;
        while k0 < k {
            let kc = KC.min(k - k0);
            let (first, last) = (k0 == 0, k0 + kc == k);
            for p in &b.panels[panels.clone()] {
                let cols = p.cols;
                let off = rows.start * self.ldc + p.col;
                let tile = Tile {
                    a: &a[k0 * r..(k0 + kc) * r],
                    // Checked by `Panels::new`: every row of panel p, `cols` wide.
                    b: b.data[p.at..].as_ptr(),
                    rows: &b.rows[k0..k0 + kc],
                    // SAFETY: row `rows.start`, column `p.col` lies inside `c`.
                    c: unsafe { self.c.0.add(off) },
                    ldc: self.ldc,
                    init: match first {
                        true => Init::Fresh {
                            bias: self.bias.map(|v| v[p.col..].as_ptr()),
                            row_bias: self.row_bias.map(|v| &v[rows.clone()]),
                            add: self.residual.map(|v| v[off..].as_ptr()),
                        },
                        false => Init::Continue,
                    },
                    epilogue: if last { self.epilogue } else { None },
                    masks: (lane_mask(cols), lane_mask(cols.saturating_sub(16))),
                };
                // SAFETY: the tile is r rows x `cols` columns of `c`, ours alone;
                // the caller vouches for AVX-512F.
                unsafe { micro(r, &tile) };
            }
            k0 += kc;
        }
    }
}

/// Where a tile's sums start: the first K slice from the bias (and residual),
/// later ones from what is in `c`.
enum Init<'a> {
    Fresh { bias: Option<*const f32>, row_bias: Option<&'a [f32]>, add: Option<*const f32> },
    Continue,
}

/// One micro-tile's operands: `a` is `kc x r` (k-major), `b` the panel's
/// start (its row `kk` at `b + rows[kk]`), `c` the tile's top-left output.
struct Tile<'a, E> {
    a: &'a [f32],
    b: *const f32,
    rows: &'a [usize],
    c: *mut f32,
    ldc: usize,
    init: Init<'a>,
    epilogue: Option<&'a E>,
    /// Which of the 32 columns exist (the last panel may be partial).
    masks: (__mmask16, __mmask16),
}

/// The lanes of a 16-float vector below `cols`.
pub(crate) fn lane_mask(cols: usize) -> __mmask16 {
    if cols >= 16 { 0xffff } else { ((1u32 << cols) - 1) as __mmask16 }
}

/// Dispatches on the row count so each kernel's accumulators are a fixed set of registers.
///
/// # Safety
/// `tile.c` must address `r` rows (stride `ldc`) of 32 writable floats, of
/// which the masked ones are written; `tile.b` `kc` rows of the masked
/// columns, the bias and residual (if any) as many readable ones; the CPU must
/// have AVX-512F.
unsafe fn micro<E: Epilogue>(r: usize, tile: &Tile<E>) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match r {
            1 => kernel::<1, E>(tile),
            2 => kernel::<2, E>(tile),
            3 => kernel::<3, E>(tile),
            4 => kernel::<4, E>(tile),
            5 => kernel::<5, E>(tile),
            6 => kernel::<6, E>(tile),
            7 => kernel::<7, E>(tile),
            8 => kernel::<8, E>(tile),
            9 => kernel::<9, E>(tile),
            10 => kernel::<10, E>(tile),
            11 => kernel::<11, E>(tile),
            12 => kernel::<12, E>(tile),
            13 => kernel::<13, E>(tile),
            14 => kernel::<14, E>(tile),
            _ => unreachable!("row blocks hold 1..={MR} rows"),
        }
    }
}

/// # Safety
/// As [`micro`], with `R` rows; `tile.a` holds `kc * R` floats.
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const R: usize, E: Epilogue>(tile: &Tile<E>) {
    let kc = tile.rows.len();
    assert!(tile.a.len() == kc * R, "tile operands");
    let (m0, m1) = tile.masks;
    // Short loops over a const-sized array, which LLVM unrolls, so the
    // accumulators live in registers.
    let mut acc = [_mm512_set1_ps(0.0); 28];
    // SAFETY: masked lanes of every row, bias and residual are readable (the
    // caller's contract); masked-off lanes are not touched.
    unsafe {
        match tile.init {
            Init::Continue => {
                for r in 0..R {
                    let c = tile.c.add(r * tile.ldc);
                    acc[2 * r] = _mm512_maskz_loadu_ps(m0, c);
                    acc[2 * r + 1] = _mm512_maskz_loadu_ps(m1, c.wrapping_add(16));
                }
            }
            Init::Fresh { bias, row_bias, add } => {
                let (b0, b1) = match bias {
                    Some(b) => (_mm512_maskz_loadu_ps(m0, b), _mm512_maskz_loadu_ps(m1, b.wrapping_add(16))),
                    None => (_mm512_set1_ps(0.0), _mm512_set1_ps(0.0)),
                };
                for r in 0..R {
                    let (b0, b1) = match row_bias {
                        Some(v) => (_mm512_add_ps(b0, _mm512_set1_ps(v[r])), _mm512_add_ps(b1, _mm512_set1_ps(v[r]))),
                        None => (b0, b1),
                    };
                    (acc[2 * r], acc[2 * r + 1]) = match add {
                        Some(add) => {
                            let add = add.add(r * tile.ldc);
                            (
                                _mm512_add_ps(b0, _mm512_maskz_loadu_ps(m0, add)),
                                _mm512_add_ps(b1, _mm512_maskz_loadu_ps(m1, add.wrapping_add(16))),
                            )
                        }
                        None => (b0, b1),
                    };
                }
            }
        }
    }
    let (a, b) = (tile.a.as_ptr(), tile.b);
    for (kk, &off) in tile.rows.iter().enumerate() {
        // SAFETY: kk < kc; `a` holds kc steps of R floats, `b` kc rows whose
        // masked lanes are readable.
        unsafe {
            let row = b.add(off);
            let b0 = _mm512_maskz_loadu_ps(m0, row);
            let b1 = _mm512_maskz_loadu_ps(m1, row.wrapping_add(16));
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
            _mm512_mask_storeu_ps(c.wrapping_add(16), m1, acc[2 * r + 1]);
        }
    }
    // The epilogue from memory (L1), not in the loop above: with a long
    // epilogue inside, that loop stays rolled and the accumulators go to the stack.
    if let Some(e) = tile.epilogue {
        for r in 0..R {
            // SAFETY: as above; the caller vouches for AVX-512F.
            unsafe {
                let c = tile.c.add(r * tile.ldc);
                _mm512_mask_storeu_ps(c, m0, e.apply(_mm512_maskz_loadu_ps(m0, c)));
                _mm512_mask_storeu_ps(c.wrapping_add(16), m1, e.apply(_mm512_maskz_loadu_ps(m1, c.wrapping_add(16))));
            }
        }
    }
}

#[cfg(test)]
#[path = "avx512_tests.rs"]
mod tests;
