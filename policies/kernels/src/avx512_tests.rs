use super::*;
use crate::avx512_dot::{DotPanel, Rows, dot_rows, row_major_rows};

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// `a (m, k)` times `b (k, n)`, both row-major, in f64.
fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for i in 0..m {
        for kk in 0..k {
            for j in 0..n {
                c[i * n + j] += f64::from(a[i * k + kk]) * f64::from(b[kk * n + j]);
            }
        }
    }
    c
}

/// Sums of k products of values in [-1, 1), rounded in another order.
fn tolerance(k: usize) -> f64 {
    1e-6 * (k as f64).sqrt() * 8.0
}

fn max_diff(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter().zip(want).map(|(&a, b)| (f64::from(a) - b).abs()).fold(0.0, f64::max)
}

/// `B (k, n)` packed as contiguous panels: panel p's row kk at `(p * k + kk) * 32`.
fn pack_panels(b: &[f32], k: usize, n: usize) -> Vec<f32> {
    let np = n.div_ceil(NR);
    let mut out = vec![0f32; np * k * NR];
    for kk in 0..k {
        for j in 0..n {
            out[((j / NR) * k + kk) * NR + j % NR] = b[kk * n + j];
        }
    }
    out
}

const SHAPES: [(usize, usize, usize); 9] =
    [(1, 1, 1), (1, 384, 33), (13, 7, 33), (15, 29, 50), (29, 400, 64), (14, 769, 17), (5, 290, 1000), (3, 16, 95), (43, 5, 31)];

/// Row counts off the 14-row tile, column counts off the 32-column panel, K off
/// the 384 slice; B as a plain row-major matrix and as packed panels, A from
/// row-major and transposed storage.
#[test]
fn gemm_matches_the_naive_product() {
    let Some(cpu) = Avx512::detect() else {
        eprintln!("no AVX-512F on this CPU: kernel not tested");
        return;
    };
    for (m, k, n) in SHAPES {
        let (a, b) = (values(m * k, 1), values(k * n, 2));
        let want = naive(&a, &b, m, k, n);
        let at: Vec<f32> = (0..k * m).map(|t| a[(t % m) * k + t / m]).collect();
        let packed = pack_panels(&b, k, n);
        let (rows, panels) = Panels::row_major_tables(k, n);
        let packed_rows: Vec<usize> = (0..k).map(|kk| kk * NR).collect();
        let packed_panels: Vec<Panel> =
            panels.iter().map(|p| Panel { at: p.col / NR * k * NR, ..*p }).collect();
        for (pa, name) in [(PackedA::new(&a, m, k, k, 1), "A row-major"), (PackedA::new(&at, m, k, 1, m), "A transposed")] {
            let layouts =
                [(Panels::new(&b, &rows, &panels), "row-major B"), (Panels::new(&packed, &packed_rows, &packed_panels), "packed B")];
            for (pb, layout) in layouts {
                // A wider C (stride n + 3) checks the stride and that nothing past n is written.
                let ldc = n + 3;
                let mut c = vec![7f32; m * ldc];
                let out = Output::<NoEpilogue> { c: &mut c, ldc, bias: None, row_bias: None, residual: None, epilogue: None };
                gemm(cpu, &pa, pb, out);
                let got: Vec<f32> = c.chunks(ldc).flat_map(|r| r[..n].to_vec()).collect();
                let d = max_diff(&got, &want);
                assert!(d < tolerance(k), "{m} x {k} x {n}, {name}, {layout}: max difference {d}");
                assert!(c.chunks(ldc).all(|r| r[n..].iter().all(|&v| v == 7.0)), "wrote past n");
            }
        }
    }
}

struct Double;
impl Epilogue for Double {
    unsafe fn apply(&self, v: __m512) -> __m512 {
        // SAFETY: the caller vouches for AVX-512F.
        unsafe { _mm512_add_ps(v, v) }
    }
}

/// Bias, row bias and residual land once however many K slices there are;
/// the epilogue runs after the last one.
#[test]
fn bias_residual_and_epilogue() {
    let Some(cpu) = Avx512::detect() else { return };
    for (m, k, n) in [(15, 100, 40), (20, 800, 33), (3, 385, 70)] {
        let (a, b) = (values(m * k, 3), values(k * n, 4));
        let (bias, res, rb) = (values(n, 5), values(m * n, 6), values(m, 9));
        let base = naive(&a, &b, m, k, n);
        let want: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(t, v)| 2.0 * (v + f64::from(bias[t % n]) + f64::from(rb[t / n]) + f64::from(res[t])))
            .collect();
        let mut c = vec![0f32; m * n];
        let (rows, panels) = Panels::row_major_tables(k, n);
        let out =
            Output { c: &mut c, ldc: n, bias: Some(&bias), row_bias: Some(&rb), residual: Some(&res), epilogue: Some(&Double) };
        gemm(cpu, &PackedA::new(&a, m, k, k, 1), Panels::new(&b, &rows, &panels), out);
        let d = max_diff(&c, &want);
        assert!(d < 2.0 * tolerance(k), "{m} x {k} x {n}: max difference {d}");
    }
}

/// `A Bᵀ` over rows of odd lengths (off the 16-lane vector, the 32-column
/// panel and the 2048-column chunk), tiles off 6 x 4, rows plain and packed.
#[test]
fn dot_rows_matches_the_naive_product() {
    let Some(cpu) = Avx512::detect() else { return };
    for (m, n, len) in [(1, 1, 1), (5, 29, 4100), (16, 28, 333), (32, 290, 2049), (3, 46, 17), (7, 9, 64), (6, 13, 40001)] {
        let (a, b) = (values(m * len, 7), values(n * len, 8));
        let bt: Vec<f32> = (0..len * n).map(|t| b[(t % n) * len + t / n]).collect();
        let want = naive(&a, &bt, m, len, n);
        let (ra, panels) = row_major_rows(m, len);
        let (rb, _) = row_major_rows(n, len);
        let got = dot_rows(cpu, Rows { data: &a, rows: &ra }, Rows { data: &b, rows: &rb }, &panels);
        let d = max_diff(&got, &want);
        assert!(d < tolerance(len), "{m} x {n} over {len}, plain: max difference {d}");
        // B as packed panels: row j, column l at ((l / 32) * n + j) * 32 + l % 32.
        let packed = pack_panels(&b, n, len);
        let rp: Vec<usize> = (0..n).map(|j| j * NR).collect();
        let pp: Vec<DotPanel> = panels.iter().map(|p| DotPanel { b: p.a / NR * n * NR, ..*p }).collect();
        let got = dot_rows(cpu, Rows { data: &a, rows: &ra }, Rows { data: &packed, rows: &rp }, &pp);
        let d = max_diff(&got, &want);
        assert!(d < tolerance(len), "{m} x {n} over {len}, packed: max difference {d}");
    }
}

#[test]
fn empty_products() {
    let Some(cpu) = Avx512::detect() else { return };
    let mut c: Vec<f32> = Vec::new();
    let (rows, panels) = Panels::row_major_tables(4, 3);
    let out = Output::<NoEpilogue> { c: &mut c, ldc: 3, bias: None, row_bias: None, residual: None, epilogue: None };
    gemm(cpu, &PackedA::new(&[], 0, 4, 4, 1), Panels::new(&[0.0; 12], &rows, &panels), out);
    let (rb, panels) = row_major_rows(2, 5);
    assert!(dot_rows(cpu, Rows { data: &[], rows: &[] }, Rows { data: &[0.0; 10], rows: &rb }, &panels).is_empty());
}
