use super::*;
use crate::avx512_dot::{Rows, dot_rows};

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
        for (pa, name) in [(PackedA::new(&a, m, k, k, 1), "A row-major"), (PackedA::new(&at, m, k, 1, m), "A transposed")] {
            for (pb, layout) in [(Panels::row_major(&b, k, n), "row-major B"), (Panels::new(&packed, k, n, NR, k * NR), "packed B")] {
                // A wider C (stride n + 3) checks the stride and that nothing past n is written.
                let ldc = n + 3;
                let mut c = vec![7f32; m * ldc];
                gemm::<NoEpilogue>(cpu, &pa, pb, Output { c: &mut c, ldc, bias: None, residual: None, epilogue: None });
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

/// Bias and residual land once however many K slices there are; the epilogue
/// runs after the last one.
#[test]
fn bias_residual_and_epilogue() {
    let Some(cpu) = Avx512::detect() else { return };
    for (m, k, n) in [(15, 100, 40), (20, 800, 33), (3, 385, 70)] {
        let (a, b) = (values(m * k, 3), values(k * n, 4));
        let (bias, res) = (values(n, 5), values(m * n, 6));
        let base = naive(&a, &b, m, k, n);
        let want: Vec<f64> =
            base.iter().enumerate().map(|(t, v)| 2.0 * (v + f64::from(bias[t % n]) + f64::from(res[t]))).collect();
        let mut c = vec![0f32; m * n];
        let out = Output { c: &mut c, ldc: n, bias: Some(&bias), residual: Some(&res), epilogue: Some(&Double) };
        gemm(cpu, &PackedA::new(&a, m, k, k, 1), Panels::row_major(&b, k, n), out);
        let d = max_diff(&c, &want);
        assert!(d < 2.0 * tolerance(k), "{m} x {k} x {n}: max difference {d}");
    }
}

/// `A Bᵀ` over rows of odd lengths (off the 16-lane vector, the 32-column
/// panel and the 2048-column chunk), tiles off 6 x 4, rows plain and packed.
#[test]
fn dot_rows_matches_the_naive_product() {
    let Some(cpu) = Avx512::detect() else { return };
    for (m, n, len) in [(1, 1, 1), (5, 29, 4100), (16, 28, 333), (32, 290, 2049), (3, 46, 17), (7, 9, 64)] {
        let (a, b) = (values(m * len, 7), values(n * len, 8));
        let bt: Vec<f32> = (0..len * n).map(|t| b[(t % n) * len + t / n]).collect();
        let want = naive(&a, &bt, m, len, n);
        let got = dot_rows(cpu, Rows::row_major(&a, m, len), Rows::row_major(&b, n, len));
        let d = max_diff(&got, &want);
        assert!(d < tolerance(len), "{m} x {n} over {len}, plain: max difference {d}");
        // B as packed panels: row j, column l at ((l / 32) * n + j) * 32 + l % 32.
        let packed = pack_panels(&b, n, len);
        let got = dot_rows(cpu, Rows::row_major(&a, m, len), Rows::new(&packed, n, len, NR, n * NR));
        let d = max_diff(&got, &want);
        assert!(d < tolerance(len), "{m} x {n} over {len}, packed: max difference {d}");
    }
}

#[test]
fn empty_products() {
    let Some(cpu) = Avx512::detect() else { return };
    let mut c: Vec<f32> = Vec::new();
    gemm::<NoEpilogue>(cpu, &PackedA::new(&[], 0, 4, 4, 1), Panels::row_major(&[0.0; 12], 4, 3), Output {
        c: &mut c,
        ldc: 3,
        bias: None,
        residual: None,
        epilogue: None,
    });
    assert!(dot_rows(cpu, Rows::row_major(&[], 0, 5), Rows::row_major(&[0.0; 10], 2, 5)).is_empty());
}
