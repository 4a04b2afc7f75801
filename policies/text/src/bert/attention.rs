//! BERT self-attention on the CPU as one op, read straight from the fused
//! query/key/value rows.
//!
//! Written as tensor ops, attention over a batch of short sentences is a few
//! hundred tiny matrix products per layer (one per sentence and head, 12 x 32 x 12
//! for a 12-token sentence), each a separate GEMM call with its own thread
//! hand-off, plus head split/merge copies, a mask add and a softmax pass. The
//! arithmetic is small; the calls and copies were not. Here each sentence is one
//! task on the thread pool, and its heads are done in place.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape};
use rayon::prelude::*;

/// `qkv (B*T, 3H)` (query rows already scaled by 1/sqrt(head_dim)) and the key
/// mask `keep (B, T)` (1 = attend, 0 = padding) → context `(B*T, H)`.
pub(crate) struct CpuAttention {
    pub heads: usize,
    pub head_dim: usize,
}

impl CustomOp2 for CpuAttention {
    fn name(&self) -> &'static str {
        "kotoba-bert-attention"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (Some((a1, b1)), Some((a2, b2))) = (l1.contiguous_offsets(), l2.contiguous_offsets()) else {
            candle_core::bail!("attention needs contiguous inputs");
        };
        let (b, t) = l2.shape().dims2()?;
        let h = self.heads * self.head_dim;
        if l1.shape().dims2()? != (b * t, 3 * h) {
            candle_core::bail!("attention: qkv {:?} does not match {b} x {t} tokens of 3 x {h}", l1.shape());
        }
        let qkv = &s1.as_slice::<f32>()?[a1..b1];
        let keep = &s2.as_slice::<f32>()?[a2..b2];
        let mut out = vec![0f32; b * t * h];
        out.par_chunks_mut(t * h)
            .zip(qkv.par_chunks(t * 3 * h))
            .zip(keep.par_chunks(t))
            .for_each(|((o, x), m)| self.sentence(x, m, o));
        Ok((CpuStorage::F32(out), (b * t, h).into()))
    }
}

impl CpuAttention {
    /// One sentence: `x (T, 3H)`, `keep (T)`, `out (T, H)`.
    fn sentence(&self, x: &[f32], keep: &[f32], out: &mut [f32]) {
        let (hd, h) = (self.head_dim, self.heads * self.head_dim);
        let t = keep.len();
        let mut keys: Vec<usize> = (0..t).filter(|&j| keep[j] > 0.0).collect();
        // All keys masked: the additive mask makes every score equal, so softmax
        // spreads evenly over all of them. Do the same.
        let uniform = keys.is_empty();
        if uniform {
            keys = (0..t).collect();
        }
        let mut p = vec![0f32; keys.len()];
        for head in 0..self.heads {
            let (qo, ko, vo) = (head * hd, h + head * hd, 2 * h + head * hd);
            for i in 0..t {
                let q = &x[i * 3 * h + qo..][..hd];
                let mut max = f32::NEG_INFINITY;
                for (s, &j) in p.iter_mut().zip(&keys) {
                    *s = if uniform { 0.0 } else { dot(q, &x[j * 3 * h + ko..][..hd]) };
                    max = max.max(*s);
                }
                let mut sum = 0.0;
                for s in &mut p {
                    *s = (*s - max).exp();
                    sum += *s;
                }
                let o = &mut out[i * h + head * hd..][..hd];
                o.fill(0.0);
                for (&s, &j) in p.iter().zip(&keys) {
                    let w = s / sum;
                    for (o, &v) in o.iter_mut().zip(&x[j * 3 * h + vo..][..hd]) {
                        *o += w * v;
                    }
                }
            }
        }
    }
}

/// Dot product in eight lanes, so the loop vectorises without reassociating floats.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}
