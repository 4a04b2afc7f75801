//! BERT self-attention on the CPU as one op, read straight from the fused
//! query/key/value rows.
//!
//! Written as tensor ops, attention over a batch of short sentences is a few
//! hundred tiny matrix products per layer (one per sentence and head, 12 x 32 x 12
//! for a 12-token sentence), each a separate GEMM call with its own thread
//! hand-off, plus head split/merge copies, a mask add and a softmax pass. The
//! arithmetic is small; the calls and copies were not. Here each sentence is one
//! task on the thread pool, and its heads are done in place.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};
use rayon::prelude::*;

/// One sentence's rows of the token matrix: `rows` rows from `start`, of which the
/// first `keys` are tokens and the rest padding. Packed batches have no padding
/// (`keys == rows`); `keys == 0` is a sentence of padding only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub start: usize,
    pub rows: usize,
    pub keys: usize,
}

impl Span {
    /// Sentences of `lens` tokens one after the other, with no padding.
    pub(crate) fn packed(lens: &[usize]) -> Vec<Span> {
        let mut start = 0;
        lens.iter()
            .map(|&n| {
                let s = Span { start, rows: n, keys: n };
                start += n;
                s
            })
            .collect()
    }

    /// Sentences of `lens` tokens, each padded to `t` rows.
    pub(crate) fn padded(lens: &[usize], t: usize) -> Vec<Span> {
        lens.iter().enumerate().map(|(i, &n)| Span { start: i * t, rows: t, keys: n.min(t) }).collect()
    }
}

/// `qkv (N, 3H)` (query rows already scaled by 1/sqrt(head_dim)) → context
/// `(N, H)`, each sentence's tokens attending to its own `keys` only. The spans
/// must cover the N rows in order.
pub(crate) struct CpuAttention<'a> {
    pub heads: usize,
    pub head_dim: usize,
    pub spans: &'a [Span],
}

impl CustomOp1 for CpuAttention<'_> {
    fn name(&self) -> &'static str {
        "kotoba-bert-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("attention needs a contiguous input");
        };
        let (n, w) = l.shape().dims2()?;
        let h = self.heads * self.head_dim;
        if w != 3 * h {
            candle_core::bail!("attention: qkv {:?} is not N x 3 x {h}", l.shape());
        }
        let mut end = 0;
        for s in self.spans {
            if s.start != end || s.keys > s.rows {
                candle_core::bail!("attention: sentence rows {s:?} do not follow row {end}");
            }
            end += s.rows;
        }
        if end != n {
            candle_core::bail!("attention: sentences cover {end} of {n} rows");
        }
        let qkv = &s.as_slice::<f32>()?[a..b];
        let mut out = vec![0f32; n * h];
        // One output slice per sentence, so each is a task of its own.
        let mut parts = Vec::with_capacity(self.spans.len());
        let mut rest = &mut out[..];
        for s in self.spans {
            let (part, tail) = rest.split_at_mut(s.rows * h);
            parts.push(part);
            rest = tail;
        }
        parts.into_par_iter().zip(self.spans.par_iter()).for_each(|(o, s)| {
            self.sentence(&qkv[s.start * 3 * h..(s.start + s.rows) * 3 * h], s.keys, o);
        });
        Ok((CpuStorage::F32(out), (n, h).into()))
    }
}

impl CpuAttention<'_> {
    /// One sentence: `x (T, 3H)`, the first `keys` rows attended to, `out (T, H)`.
    fn sentence(&self, x: &[f32], keys: usize, out: &mut [f32]) {
        let (hd, h) = (self.head_dim, self.heads * self.head_dim);
        let t = out.len() / h;
        // All keys masked: the additive mask makes every score equal, so softmax
        // spreads evenly over all of them. Do the same.
        let uniform = keys == 0;
        let keys = if uniform { t } else { keys };
        let mut p = vec![0f32; keys];
        for head in 0..self.heads {
            let (qo, ko, vo) = (head * hd, h + head * hd, 2 * h + head * hd);
            for i in 0..t {
                let q = &x[i * 3 * h + qo..][..hd];
                let mut max = f32::NEG_INFINITY;
                for (j, s) in p.iter_mut().enumerate() {
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
                for (j, &s) in p.iter().enumerate() {
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
