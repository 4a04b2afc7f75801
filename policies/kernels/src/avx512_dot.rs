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
//! Both operands are read through tables, as [`crate::avx512::Panels`]: the
//! columns come in runs of up to 32 ([`DotPanel`], where each run starts in A
//! and in B), and each row lies at its own offset from there ([`Rows`]). A
//! plain row-major matrix fits, and so does a convolution's input read in place
//! (a run is a row of output pixels, a row of B a (channel, tap) offset).

use std::arch::x86_64::{
    __m512, _mm512_fmadd_ps, _mm512_maskz_loadu_ps, _mm512_reduce_add_ps, _mm512_set1_ps,
};

use rayon::prelude::*;

use crate::avx512::{Avx512, NR, lane_mask};

/// Rows of A per tile at most.
const TI: usize = 6;
/// Rows of B per tile.
const TJ: usize = 4;
/// Runs of columns summed in registers before the lanes are reduced: a tile's
/// rows over a chunk (10 x 8 KiB) stay in L1/L2 while the tiles pass.
const CHUNK: usize = 64;
/// Groups of chunks summed apart (in parallel) and added at the end, at most.
const GROUPS: usize = 8;

/// A matrix read along its rows: row `i`, column `l` of run `p` at
/// `data[p.a + rows[i] + l]` (or `p.b` for B).
#[derive(Clone, Copy)]
pub struct Rows<'a> {
    pub data: &'a [f32],
    pub rows: &'a [usize],
}

/// A run of `cols` (1..=32) columns, starting at `a` in A and `b` in B.
#[derive(Debug, Clone, Copy)]
pub struct DotPanel {
    pub a: usize,
    pub b: usize,
    pub cols: usize,
}

/// The tables of a row-major `(rows, len)` matrix, and its runs of columns.
pub fn row_major_rows(rows: usize, len: usize) -> (Vec<usize>, Vec<DotPanel>) {
    let offs = (0..rows).map(|i| i * len).collect();
    let panels = (0..len).step_by(NR).map(|l| DotPanel { a: l, b: l, cols: NR.min(len - l) }).collect();
    (offs, panels)
}

/// `C (m, n)`, row-major, `= A Bᵀ` for `A` with `m` rows and `B` with `n`
/// rows, over the columns of `panels`.
pub fn dot_rows(_cpu: Avx512, a: Rows, b: Rows, panels: &[DotPanel]) -> Vec<f32> {
    let (m, n) = (a.rows.len(), b.rows.len());
    let (fa, fb) = (a.rows.iter().copied().max().unwrap_or(0), b.rows.iter().copied().max().unwrap_or(0));
    for p in panels {
        assert!((1..=NR).contains(&p.cols), "a run has 1..={NR} columns");
        assert!(m == 0 || p.a + fa + p.cols <= a.data.len(), "A's rows reach past their buffer");
        assert!(n == 0 || p.b + fb + p.cols <= b.data.len(), "B's rows reach past their buffer");
    }
    // Column-major while summing (each task owns its B rows' columns of C),
    // transposed at the end. The chunks fall into up to GROUPS consecutive
    // groups, each summed into its own copy of C and the copies added in order
    // at the end: one parallel loop over every (group, B tile) instead of one
    // per chunk, and sums that do not depend on the thread count.
    if m == 0 || n == 0 {
        return vec![0f32; m * n];
    }
    let chunks: Vec<&[DotPanel]> = panels.chunks(CHUNK).collect();
    let groups = chunks.len().clamp(1, GROUPS);
    let per_group = chunks.len().div_ceil(groups).max(1);
    let mut parts = vec![0f32; groups * n * m];
    parts.par_chunks_mut(n * m).enumerate().for_each(|(g, part)| {
        let mine = chunks.get(g * per_group..chunks.len().min((g + 1) * per_group)).unwrap_or(&[]);
        part.par_chunks_mut(TJ * m).enumerate().for_each(|(jt, ct)| {
            let j0 = jt * TJ;
            let nj = ct.len() / m;
            for chunk in mine {
                for i0 in (0..m).step_by(TI) {
                    let ni = TI.min(m - i0);
                    let mut sums = [[0f32; TJ]; TI];
                    let (ra, rb) = (&a.rows[i0..i0 + ni], &b.rows[j0..j0 + nj]);
                    // SAFETY: these rows exist, every run lies inside both operands
                    // (checked above), and the token proves AVX-512F.
                    unsafe { tile(a.data, b.data, ra, rb, chunk, &mut sums) };
                    for (dj, col) in ct.chunks_exact_mut(m).enumerate() {
                        for di in 0..ni {
                            col[i0 + di] += sums[di][dj];
                        }
                    }
                }
            }
        });
    });
    let (ct, rest) = parts.split_at_mut(n * m);
    for part in rest.chunks_exact(n * m) {
        for (s, &v) in ct.iter_mut().zip(part) {
            *s += v;
        }
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
unsafe fn tile(a: &[f32], b: &[f32], ra: &[usize], rb: &[usize], panels: &[DotPanel], sums: &mut [[f32; TJ]; TI]) {
    // SAFETY: forwarded from the caller.
    unsafe {
        match ra.len() {
            1 => kernel::<1>(a, b, ra, rb, panels, sums),
            2 => kernel::<2>(a, b, ra, rb, panels, sums),
            3 => kernel::<3>(a, b, ra, rb, panels, sums),
            4 => kernel::<4>(a, b, ra, rb, panels, sums),
            5 => kernel::<5>(a, b, ra, rb, panels, sums),
            6 => kernel::<6>(a, b, ra, rb, panels, sums),
            _ => unreachable!("tiles hold 1..={TI} rows of A"),
        }
    }
}

/// Sums of row `ra[di]` of `a` times row `rb[dj]` of `b` over the runs of
/// `panels`, into `sums[di][dj]`.
///
/// # Safety
/// `ra` holds `I` offsets, `rb` 1..=TJ; every run's columns of those rows lie
/// inside `a` and `b`; the CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
unsafe fn kernel<const I: usize>(
    a: &[f32],
    b: &[f32],
    ra: &[usize],
    rb: &[usize],
    panels: &[DotPanel],
    sums: &mut [[f32; TJ]; TI],
) {
    let nj = rb.len();
    let mut acc = [[_mm512_set1_ps(0.0); I]; TJ];
    // Missing B rows repeat the last one: the kernel stays one shape, the
    // extra sums are dropped.
    let rb: [usize; TJ] = std::array::from_fn(|dj| rb[dj.min(nj - 1)]);
    let ra: [usize; I] = std::array::from_fn(|di| ra[di]);
    for p in panels {
        let masks = [lane_mask(p.cols), lane_mask(p.cols.saturating_sub(16))];
        let (pa, pb) = (a[p.a..].as_ptr(), b[p.b..].as_ptr());
        for (h, &mask) in masks.iter().enumerate() {
            // SAFETY: the masked lanes of these rows lie inside the operands
            // (the caller's contract, checked by `dot_rows`).
            unsafe {
                let mut x: [__m512; I] = [_mm512_set1_ps(0.0); I];
                for (x, &r) in x.iter_mut().zip(&ra) {
                    *x = _mm512_maskz_loadu_ps(mask, pa.wrapping_add(r + 16 * h));
                }
                for (acc, &r) in acc.iter_mut().zip(&rb) {
                    let y = _mm512_maskz_loadu_ps(mask, pb.wrapping_add(r + 16 * h));
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
