//! `x W^T + b` (optionally then GELU) for the encoder's linear layers, in AVX-512.
//!
//! Why our own: candle's CPU matmul is the `gemm` crate's AVX2 kernel (its AVX-512
//! one needs a feature that switches every matmul of the build and slowed the
//! 12-row products of batch 1 about 3x), and it was about 60 % of a batch-32
//! forward pass (`perf`). The kernel is [`kotoba_kernels::avx512`]'s (shared
//! with the SARNN's convolutions); here the weights are packed once, at load
//! time, as its B panels, and the GELU is its epilogue.

use std::arch::x86_64::{
    __m512, _mm512_add_ps, _mm512_div_ps, _mm512_fmadd_ps, _mm512_max_ps, _mm512_min_ps, _mm512_mul_ps, _mm512_set1_ps,
};

use kotoba_kernels::avx512::{Avx512, Epilogue, NR, NoEpilogue, Output, PackedA, Panel, Panels, gemm};

/// A linear layer's weights packed for the kernel. Only built where the CPU has
/// AVX-512F, so holding one is the proof the kernel may run.
pub(crate) struct PackedLinear {
    cpu: Avx512,
    k: usize,
    n: usize,
    /// `panels[start..]`: panel `p`, row `kk` is `W[p*32 + j][kk]` for lanes `j`
    /// at `(p * k + kk) * 32 + j`, zero past column `n`.
    panels: Vec<f32>,
    /// Where the panels start: the first 64-byte boundary, so every 16-float
    /// load of a panel row is one whole cache line.
    start: usize,
    /// The kernel's tables: row `kk` of a panel `kk * 32` from its start, panel
    /// `p` at `p * k * 32`.
    rows: Vec<usize>,
    panel_at: Vec<Panel>,
    bias: Option<Vec<f32>>,
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
        let cpu = Avx512::detect()?;
        assert_eq!(weight.len(), n * k, "weight is not {n} x {k}");
        let np = n.div_ceil(NR);
        let mut panels = vec![0f32; np * k * NR + 15];
        let start = panels.as_ptr().align_offset(64).min(15);
        for (col, w) in weight.chunks_exact(k).enumerate() {
            let (p, j) = (col / NR, col % NR);
            for (kk, &v) in w.iter().enumerate() {
                panels[start + (p * k + kk) * NR + j] = v;
            }
        }
        if let Some(b) = bias {
            assert_eq!(b.len(), n, "bias is not {n} long");
        }
        let rows = (0..k).map(|kk| kk * NR).collect();
        let panel_at = (0..np).map(|p| Panel { at: p * k * NR, col: p * NR, cols: NR.min(n - p * NR) }).collect();
        Some(Self { cpu, k, n, panels, start, rows, panel_at, bias: bias.map(<[f32]>::to_vec) })
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
        let a = PackedA::new(x, m, k, k, 1);
        let b = Panels::new(&self.panels[self.start..], &self.rows, &self.panel_at);
        let bias = self.bias.as_deref();
        if gelu {
            let out = Output { c: &mut out, ldc: n, bias, row_bias: None, residual, epilogue: Some(&Gelu) };
            gemm(self.cpu, &a, b, out);
        } else {
            let out = Output::<NoEpilogue> { c: &mut out, ldc: n, bias, row_bias: None, residual, epilogue: None };
            gemm(self.cpu, &a, b, out);
        }
        out
    }
}

/// The GELU below as the kernel's epilogue.
struct Gelu;

impl Epilogue for Gelu {
    unsafe fn apply(&self, v: __m512) -> __m512 {
        // SAFETY: the kernel runs only with AVX-512F (its caller's contract).
        unsafe { gelu(v) }
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
