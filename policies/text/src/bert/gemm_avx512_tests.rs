use super::*;
use candle_core::{Device, Module, Tensor};

/// Random `(m, k)` input, `(n, k)` weight and `(n)` bias, and candle's `x W^T + b`.
fn case(m: usize, k: usize, n: usize, bias: bool, scale: f32) -> (Vec<f32>, Option<PackedLinear>, Tensor) {
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, scale, (m, k), &dev).unwrap();
    let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
    let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
    let lin = candle_nn::Linear::new(w.clone(), bias.then(|| b.clone()));
    let want = lin.forward(&x).unwrap();
    let w = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = b.to_vec1::<f32>().unwrap();
    let packed = PackedLinear::new(&w, bias.then_some(&b[..]), n, k);
    (x.flatten_all().unwrap().to_vec1().unwrap(), packed, want)
}

/// Sums of k products of N(0, 1) values are about sqrt(k) in size (up to five
/// times that over a test's outputs) and rounded in another order than candle's.
fn tolerance(k: usize) -> f32 {
    2e-6 * (k as f32).sqrt() * 8.0
}

fn max_diff(got: &[f32], want: &Tensor) -> f32 {
    let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    assert_eq!(got.len(), want.len());
    got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

/// Row counts off the 14-row tile, column counts off the 32-column panel, K off
/// the 384 slice (one, two and three slices), and a single row and column.
#[test]
fn matches_candle_on_odd_shapes() {
    let shapes = [
        (1, 1, 1),
        (1, 384, 384),
        (13, 7, 33),
        (15, 384, 50),
        (29, 400, 64),
        (14, 769, 17),
        (3, 1536, 384),
        (350, 384, 1152),
        (43, 1536, 384),
    ];
    for (m, k, n) in shapes {
        for bias in [true, false] {
            let (x, packed, want) = case(m, k, n, bias, 1.0);
            let Some(p) = packed else {
                eprintln!("no AVX-512F on this CPU: kernel not tested");
                return;
            };
            assert_eq!((p.in_dim(), p.out_dim()), (k, n));
            let got = p.forward(&x, m, None, false);
            let tol = tolerance(k);
            let d = max_diff(&got, &want);
            assert!(d < tol, "{m} x {k} x {n} (bias {bias}): max difference {d} >= {tol}");
        }
    }
}

/// The fused GELU is candle's exact one on the same sums (within the rational
/// erf's error), and the sums are those of the plain product.
#[test]
fn gelu_epilogue_matches_candle_gelu() {
    for (m, k, n) in [(12, 384, 1536), (17, 100, 45), (20, 800, 33)] {
        // Small inputs, so the sums cover GELU's curved part, not just its tails.
        let (x, packed, _) = case(m, k, n, true, 0.1);
        let Some(p) = packed else {
            eprintln!("no AVX-512F on this CPU: kernel not tested");
            return;
        };
        let sums = p.forward(&x, m, None, false);
        let want = Tensor::from_vec(sums, (m, n), &Device::Cpu).unwrap().gelu_erf().unwrap();
        let d = max_diff(&p.forward(&x, m, None, true), &want);
        assert!(d < 3e-6, "{m} x {k} x {n}: max difference {d}");
    }
}

/// The residual lands in the first K slice only, however many slices there are.
#[test]
fn residual_is_added_once() {
    for (m, k, n) in [(15, 100, 40), (20, 800, 33)] {
        let (x, packed, want) = case(m, k, n, true, 1.0);
        let Some(p) = packed else {
            eprintln!("no AVX-512F on this CPU: kernel not tested");
            return;
        };
        let res = Tensor::randn(0f32, 1.0, (m, n), &Device::Cpu).unwrap();
        let got = p.forward(&x, m, Some(&res.flatten_all().unwrap().to_vec1::<f32>().unwrap()), false);
        let d = max_diff(&got, &(want + res).unwrap());
        assert!(d < tolerance(k), "{m} x {k} x {n}: max difference {d}");
    }
}

#[test]
fn no_rows_give_no_output() {
    if let (_, Some(p), _) = case(1, 8, 8, true, 1.0) {
        assert!(p.forward(&[], 0, None, false).is_empty());
    }
}

/// BERT's four shapes at batch 1 (12 rows) and batch 32 (352 rows): candle's
/// `Linear` against the packed kernel, interleaved, medians of 21.
#[test]
#[ignore = "timing; run by hand"]
fn timing_against_candle() {
    use crate::bert::timing::median_secs;
    for m in [12, 352] {
        for (k, n) in [(384, 1152), (384, 384), (384, 1536), (1536, 384)] {
            let dev = Device::Cpu;
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev).unwrap();
            let w = Tensor::randn(0f32, 1.0, (n, k), &dev).unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &dev).unwrap();
            let lin = candle_nn::Linear::new(w.clone(), Some(b.clone()));
            let Some(p) = PackedLinear::new(
                &w.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                Some(&b.to_vec1::<f32>().unwrap()),
                n,
                k,
            ) else {
                return;
            };
            let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let (mut tc, mut tp) = (Vec::new(), Vec::new());
            for _ in 0..21 {
                tc.push(median_secs(1, || drop(lin.forward(&x).unwrap())));
                tp.push(median_secs(1, || drop(p.forward(&xs, m, None, false))));
            }
            tc.sort_by(f64::total_cmp);
            tp.sort_by(f64::total_cmp);
            let (c, q) = (tc[10] * 1e3, tp[10] * 1e3);
            eprintln!("{m:4} x {k:4} x {n:4}: candle {c:7.3} ms, packed {q:7.3} ms ({:.2}x)", c / q);
        }
    }
}
