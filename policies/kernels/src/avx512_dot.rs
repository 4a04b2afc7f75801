//! `C = A Bᵀ` for two wide, short matrices, `A (m, len)` and `B (n, len)`, both
//! read along their rows: a weight gradient, `dW = dY colsᵀ`, whose inner
//! dimension (every output pixel of a batch) is far longer than its outputs.
//!
//! The rank-1 kernel of [`crate::avx512`] would need one of the two transposed
//! into k-major blocks, a full copy of the larger; here each output is a dot
//! product of two rows, accumulated in a vector over 16 lanes at a time and
//! summed across the lanes once per chunk of [`CHUNK`] columns. A tile of up to
//! 6 rows of A by 4 rows of B keeps 24 accumulators; per 16 columns it loads 10
//! vectors for 24 FMAs.
//!
//! Both operands are given in the layout of [`crate::avx512::Panels`] turned on
//! its side ([`Rows`]): row `i`, column `l` at `(l / 32) * panel_stride + i *
//! rs + l % 32`, so a plain row-major matrix (`panel_stride = 32`, `rs =
//! len`) and a matrix packed as B panels (`panel_stride = rows * 32`, `rs =
//! 32`) both fit.

use std::arch::x86_64::{
    __m512, __mmask16, _mm512_fmadd_ps, _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_set1_ps,
};

use rayon::prelude::*;

use crate::avx512::{Avx512, NR};

/// Rows of A per tile at most.
const TI: usize = 6;
/// Rows of B per tile.
const TJ: usize = 4;
/// Columns summed in registers before the lanes are reduced (64 panels): a
/// tile's rows over a chunk (10 x 8 KiB) stay in L1/L2 while the tiles pass.
const CHUNK: usize = 2048;

/// A matrix read along its rows: row `i`, column `l` at `data[(l / 32) *
/// panel_stride + i * rs + l % 32]`.
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    data: &'a [f32],
    rows: usize,
    len: usize,
    rs: usize,
    panel_stride: usize,
}

impl<'a> Rows<'a> {
    /// Checks that every element lies inside `data`.
    pub fn new(data: &'a [f32], rows: usize, len: usize, rs: usize, panel_stride: usize) -> Self {
        if rows > 0 && len > 0 {
            let np = len.div_ceil(NR);
            let last = (np - 1) * panel_stride + (rows - 1) * rs + (len - (np - 1) * NR);
            let full = if np > 1 { (np - 2) * panel_stride + (rows - 1) * rs + NR } else { 0 };
            assert!(last.max(full) <= data.len(), "rows reach past their buffer");
        }
        Self { data, rows, len, rs, panel_stride }
    }

    /// A row-major `(rows, len)` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, len: usize) -> Self {
        Self::new(data, rows, len, len, NR)
    }
}

/// `C (m, n)`, row-major, `= A Bᵀ` for `A` with `m` rows and `B` with `n`
/// rows of the same length.
pub fn dot_rows(_cpu: Avx512, a: Rows, b: Rows) -> Vec<f32> {
    let (m, n, len) = (a.rows, b.rows, a.len);
    assert_eq!(b.len, len, "A and B rows differ in length");
    // Column-major while summing (each task owns its B rows' columns of C),
    // transposed at the end.
    let mut ct = vec![0f32; n * m];
    if m == 0 || n == 0 {
        return ct;
    }
    let np = len.div_ceil(NR);
    let per = CHUNK / NR;
    for p0 in (0..np).step_by(per) {
        let panels = p0..(p0 + per).min(np);
        ct.par_chunks_mut(TJ * m).enumerate().for_each(|(jt, ct)| {
            let j0 = jt * TJ;
            let nj = ct.len() / m;
            for i0 in (0..m).step_by(TI) {
                let ni = TI.min(m - i0);
                let mut sums = [[0f32; TJ]; TI];
                // SAFETY: rows i0..i0+ni of A and j0..j0+nj of B exist, and the
                // panels lie inside both (checked by `Rows::new`); the token
                // proves AVX-512F.
                unsafe { tile(ni, &a, &b, i0, j0, nj, panels.clone(), &mut sums) };
                for (dj, col) in ct.chunks_exact_mut(m).enumerate() {
                    for di in 0..ni {
                        col[i0 + di] += sums[di][dj];
                    }
                }
            }
            debug_assert!(nj <= TJ);
        });
    }
    let mut c = vec![0f32; m * n];
    for (j, col) in ct.chunks_exact(m).enumerate() {
        for (i, &v) in col.iter().enumerate() {
            c[i * n + j] = v;
        }
    }
    c
}

/// Dispatches on the row count of A so the accumulators are a fixed set of registers.
///
/// # Safety
/// As [`kernel`].
#[allow(clippy::too_many_arguments)]
unsafe fn tile(
    ni: usize,
    a: &Rows,
    b: &Rows,
    i0: usize,
    j0: usize,
    nj: usize,
    panels: std::ops::Range<usize>,
    sums: &mut [[f32; TJ]; TI],
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match ni {
            1 => kernel::<1>(a, b, i0, j0, nj, panels, sums),
            2 => kernel::<2>(a, b, i0, j0, nj, panels, sums),
            3 => kernel::<3>(a, b, i0, j0, nj, panels, sums),
            4 => kernel::<4>(a, b, i0, j0, nj, panels, sums),
            5 => kernel::<5>(a, b, i0, j0, nj, panels, sums),
            6 => kernel::<6>(a, b, i0, j0, nj, panels, sums),
            _ => unreachable!("tiles hold 1..={TI} rows of A"),
        }
    }
}

/// Sums of `a[i0 + di] · b[j0 + dj]` over the columns of `panels`, into `sums[di][dj]`.
///
/// # Safety
/// Rows `i0..i0 + I` of `a` and `j0..j0 + nj` of `b` must exist (`1 <= nj <=
/// TJ`), `panels` lie within both operands' columns, and the CPU must have
/// AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const I: usize>(
    a: &Rows,
    b: &Rows,
    i0: usize,
    j0: usize,
    nj: usize,
    panels: std::ops::Range<usize>,
    sums: &mut [[f32; TJ]; TI],
) {
    let mut acc = [[_mm512_set1_ps(0.0); I]; TJ];
    // Missing B rows repeat the last one: the kernel stays one shape, the
    // extra sums are dropped.
    let bj = |dj: usize| j0 + dj.min(nj - 1);
    for p in panels {
        let cols = NR.min(a.len - p * NR);
        let masks = [lane_mask(cols), lane_mask(cols.saturating_sub(16))];
        let (pa, pb) = (a.data[p * a.panel_stride..].as_ptr(), b.data[p * b.panel_stride..].as_ptr());
        for (h, &mask) in masks.iter().enumerate() {
            // SAFETY: the masked lanes of these rows lie inside the operands
            // (the caller's contract, checked by `Rows::new`).
            unsafe {
                let mut x: [__m512; I] = [_mm512_set1_ps(0.0); I];
                for (di, x) in x.iter_mut().enumerate() {
                    *x = _mm512_maskz_loadu_ps(mask, pa.wrapping_add((i0 + di) * a.rs + 16 * h));
                }
                for (dj, acc) in acc.iter_mut().enumerate() {
                    let y = _mm512_maskz_loadu_ps(mask, pb.wrapping_add(bj(dj) * b.rs + 16 * h));
                    for (acc, &x) in acc.iter_mut().zip(&x) {
                        *acc = _mm512_fmadd_ps(x, y, *acc);
                    }
                }
            }
        }
    }
    for (dj, acc) in acc.iter().enumerate().take(nj) {
        for (di, &v) in acc.iter().enumerate() {
            sums[di][dj] = _mm512_reduce_add_ps(v);
        }
    }
}

fn lane_mask(cols: usize) -> __mmask16 {
    if cols >= 16 { 0xffff } else { ((1u32 << cols) - 1) as __mmask16 }
}
