//! The BERT encoder stack, built from candle-nn layers with the checkpoint names and
//! arithmetic of Hugging Face's `BertModel` (and candle-transformers' port of it).
//!
//! Ours rather than candle-transformers' for speed on the CPU. Its exact GELU
//! calls a scalar `erf` per element on one thread (about 44 % of a batch-32
//! forward pass, `perf`, session 5); here the GELU evaluates a rational
//! approximation of erf (the float form used by Eigen and XLA, within 1e-6 of
//! `erf`) in vectorised code, fused into the intermediate layer's kernel on an
//! AVX-512 CPU ([`super::dense`]). And on the CPU a batch can be packed: only its
//! sentences' real tokens as rows, no padding ([`Bert::forward_packed`]).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Shape, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use super::attention::{CpuAttention, Span};
use super::dense::Dense;
use super::files::BertConfig as Config;
use rayon::prelude::*;

struct SelfAttention {
    /// Query, key and value projections as one `(H, 3H)` layer: one GEMM
    /// instead of three thin ones.
    qkv: Dense,
    heads: usize,
    head_dim: usize,
}

impl SelfAttention {
    /// `(B*T, H)` -> `(B, heads, T, head_dim)`.
    fn split_heads(&self, x: &Tensor, b: usize) -> candle_core::Result<Tensor> {
        x.reshape((b, (), self.heads, self.head_dim))?.transpose(1, 2)?.contiguous()
    }

    /// Loads `query`, `key` and `value` and stacks them into one layer. The
    /// query rows carry the score scale 1/sqrt(head_dim), so the scores need no
    /// division of their own.
    fn load(vb: VarBuilder, h: usize, heads: usize, pack: bool) -> candle_core::Result<Self> {
        let (mut ws, mut bs) = (Vec::with_capacity(3), Vec::with_capacity(3));
        for name in ["query", "key", "value"] {
            let scale = if name == "query" { 1.0 / ((h / heads) as f64).sqrt() } else { 1.0 };
            ws.push((vb.get((h, h), &format!("{name}.weight"))? * scale)?);
            bs.push((vb.get(h, &format!("{name}.bias"))? * scale)?);
        }
        let qkv = Dense::new(Linear::new(Tensor::cat(&ws, 0)?, Some(Tensor::cat(&bs, 0)?)), pack)?;
        Ok(Self { qkv, heads, head_dim: h / heads })
    }

    /// `x` is `(N, H)`, the rows of the sentences `keys` describes.
    fn forward(&self, x: &Tensor, keys: &Keys) -> candle_core::Result<Tensor> {
        let qkv = self.qkv.forward(x)?;
        if qkv.device().is_cpu() && qkv.dtype() == DType::F32 {
            let op = CpuAttention { heads: self.heads, head_dim: self.head_dim, spans: &keys.spans };
            return qkv.apply_op1_no_bwd(&op);
        }
        match &keys.bias {
            Some(bias) => self.forward_tensors(&qkv, bias),
            None => candle_core::bail!("packed batches run on the CPU only"),
        }
    }

    /// The same with tensor ops, for padded batches (other devices, and the
    /// reference in tests).
    fn forward_tensors(&self, qkv: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let b = bias.dim(0)?;
        let h = self.heads * self.head_dim;
        let q = self.split_heads(&qkv.narrow(1, 0, h)?, b)?;
        let k = self.split_heads(&qkv.narrow(1, h, h)?, b)?;
        let v = self.split_heads(&qkv.narrow(1, 2 * h, h)?, b)?;
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?;
        ctx.reshape((qkv.dim(0)?, ()))
    }
}

/// Which rows attend to which: the sentences' spans (the CPU op), and for a
/// padded batch off the CPU the additive mask of the tensor path.
struct Keys {
    spans: Vec<Span>,
    /// `(B, 1, 1, T)`: 0 for a token, the most negative float for padding.
    bias: Option<Tensor>,
}

impl Keys {
    /// Sentences of `lens` tokens padded to `t` rows on `device`.
    fn padded(lens: &[usize], t: usize, device: &candle_core::Device) -> candle_core::Result<Self> {
        let bias = if device.is_cpu() {
            None
        } else {
            // Padded keys get the most negative float, so softmax gives them zero weight.
            let bias: Vec<f32> =
                lens.iter().flat_map(|&n| (0..t).map(move |j| if j < n { 0.0 } else { f32::MIN })).collect();
            Some(Tensor::from_vec(bias, (lens.len(), 1, 1, t), device)?)
        };
        Ok(Self { spans: Span::padded(lens, t), bias })
    }
}

/// `LayerNorm(dense(x) + residual)`, BERT's output block after attention and FFN.
struct AddNorm {
    dense: Dense,
    norm: LayerNorm,
}

impl AddNorm {
    fn load(vb: VarBuilder, from: usize, to: usize, eps: f64, pack: bool) -> candle_core::Result<Self> {
        Ok(Self {
            dense: Dense::new(linear(from, to, vb.pp("dense"))?, pack)?,
            norm: layer_norm(to, eps, vb.pp("LayerNorm"))?,
        })
    }
    fn forward(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        self.norm.forward(&self.dense.forward_add(x, residual)?)
    }
}

struct Layer {
    attention: SelfAttention,
    attention_out: AddNorm,
    intermediate: Dense,
    output: AddNorm,
}

impl Layer {
    fn forward(&self, x: &Tensor, keys: &Keys) -> candle_core::Result<Tensor> {
        let a = self.attention_out.forward(&self.attention.forward(x, keys)?, x)?;
        let h = self.intermediate.forward_gelu(&a)?;
        self.output.forward(&h, &a)
    }
}

pub(crate) struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Bert {
    /// Loads the weights under `bert.` or at the root, as `BertModel` accepts them;
    /// `pack`: linear layers on the AVX-512 kernel where the CPU has it.
    /// `cfg` comes from [`super::files::read_model_dir`], which has already
    /// refused activations other than GELU and a hidden size the heads do not divide.
    pub fn load(vb: VarBuilder, cfg: &Config, pack: bool) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let e = vb.pp("embeddings");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                Ok(Layer {
                    attention: SelfAttention::load(l.pp("attention.self"), h, cfg.num_attention_heads, pack)?,
                    attention_out: AddNorm::load(l.pp("attention.output"), h, h, eps, pack)?,
                    intermediate: Dense::new(linear(h, cfg.intermediate_size, l.pp("intermediate.dense"))?, pack)?,
                    output: AddNorm::load(l.pp("output"), cfg.intermediate_size, h, eps, pack)?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        Ok(Self {
            words: embedding(cfg.vocab_size, h, e.pp("word_embeddings"))?,
            positions: embedding(cfg.max_position_embeddings, h, e.pp("position_embeddings"))?,
            token_types: embedding(cfg.type_vocab_size, h, e.pp("token_type_embeddings"))?,
            embed_norm: layer_norm(h, eps, e.pp("LayerNorm"))?,
            layers,
        })
    }

    /// Last hidden state `(B, T, H)` for token ids and token type ids `(B, T)`,
    /// sentence `i` being `lens[i]` tokens and then padding.
    pub fn forward_padded(&self, ids: &Tensor, type_ids: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let pos = Tensor::arange(0u32, t as u32, ids.device())?;
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&pos)?)?
            .add(&self.token_types.forward(type_ids)?)?;
        let h = x.dim(2)?;
        // Tokens as rows of one (B*T, H) matrix; only attention needs the batch.
        let keys = Keys::padded(lens, t, ids.device())?;
        self.encode(&x.reshape((b * t, h))?, &keys)?.reshape((b, t, h))
    }

    /// Last hidden state `(N, H)` of sentences packed without padding: `ids` and
    /// `type_ids` `(N)` hold sentence `i`'s `lens[i]` tokens in turn. CPU only
    /// (the attention op reads the sentences' spans).
    pub fn forward_packed(&self, ids: &Tensor, type_ids: &Tensor, lens: &[usize]) -> candle_core::Result<Tensor> {
        // Positions restart at 0 for every sentence.
        let pos: Vec<u32> = lens.iter().flat_map(|&n| 0..n as u32).collect();
        let pos = Tensor::from_vec(pos, ids.dims1()?, ids.device())?;
        let x = sum3(&self.words.forward(ids)?, &self.positions.forward(&pos)?, &self.token_types.forward(type_ids)?)?;
        self.encode(&x, &Keys { spans: Span::packed(lens), bias: None })
    }

    /// The embedding LayerNorm and the layers, on `(N, H)` embedding rows.
    fn encode(&self, x: &Tensor, keys: &Keys) -> candle_core::Result<Tensor> {
        let mut x = self.embed_norm.forward(x)?;
        for layer in &self.layers {
            x = layer.forward(&x, keys)?;
        }
        Ok(x)
    }
}

/// `a + b + c`, same shapes: one serial pass on the CPU, because candle's
/// elementwise ops on large tensors use a thread pool of their own whose
/// spinning competed with rayon's (`perf`: a fifth of a batch-32 pass).
fn sum3(a: &Tensor, b: &Tensor, c: &Tensor) -> candle_core::Result<Tensor> {
    if a.device().is_cpu() && [a, b, c].iter().all(|t| t.dtype() == DType::F32) {
        a.contiguous()?.apply_op3_no_bwd(&b.contiguous()?, &c.contiguous()?, &Sum3)
    } else {
        (a + b)? + c
    }
}

struct Sum3;

impl candle_core::CustomOp3 for Sum3 {
    fn name(&self) -> &'static str {
        "kotoba-sum3"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        fn part<'a>(s: &'a CpuStorage, l: &Layout, shape: &Shape) -> candle_core::Result<&'a [f32]> {
            match l.contiguous_offsets() {
                Some((a, b)) if l.shape() == shape => Ok(&s.as_slice::<f32>()?[a..b]),
                _ => candle_core::bail!("sum3 needs contiguous operands of one shape"),
            }
        }
        let (a, b, c) = (part(s1, l1, l1.shape())?, part(s2, l2, l1.shape())?, part(s3, l3, l1.shape())?);
        let out = a.iter().zip(b).zip(c).map(|((x, y), z)| x + y + z).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `0.5 x (1 + erf(x / sqrt 2))`: the fast op on the CPU, candle's elsewhere.
pub(super) fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&GeluErf)
    } else {
        x.gelu_erf()
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "kotoba-gelu-erf"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("gelu_erf needs a contiguous input");
        };
        let x = &s.as_slice::<f32>()?[a..b];
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(4096).zip(x.par_chunks(4096)).for_each(|(o, x)| gelu_slice(x, o));
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }
}

fn gelu_slice(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { gelu_slice_avx2(x, out) };
        return;
    }
    gelu_slice_generic(x, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_slice_avx2(x: &[f32], out: &mut [f32]) {
    gelu_slice_generic(x, out);
}

#[inline(always)]
fn gelu_slice_generic(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = 0.5 * v * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Numerator and denominator of [`erf`], highest power of x² first (Eigen's and
/// XLA's float erf); shared with the AVX-512 kernel's fused GELU.
pub(super) const ERF_P: [f32; 7] =
    [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_600_1e-3, -1.609_603_3e-2];
pub(super) const ERF_Q: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];

/// erf as an odd rational function of x on [-4, 4] (beyond, erf is ±1 in f32):
/// straight-line arithmetic, so a loop over it vectorises.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * ERF_P[0] + ERF_P[1];
    for c in &ERF_P[2..] {
        p = x2 * p + c;
    }
    let mut q = x2 * ERF_Q[0] + ERF_Q[1];
    for c in &ERF_Q[2..] {
        q = x2 * q + c;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The approximation is within 1e-6 of erf (an f64 series here), and the op
    /// within 2e-6 of candle's exact GELU, over the range activations take.
    #[test]
    fn fast_erf_and_gelu_match_the_exact_ones() {
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 * 1e-4;
            worst = worst.max((erf(x) - reference_erf(f64::from(x)) as f32).abs());
        }
        assert!(worst < 1e-6, "erf max error {worst}");
        let dev = candle_core::Device::Cpu;
        let x = Tensor::arange(-80_000f32, 80_000f32, &dev).unwrap().affine(1e-4, 0.0).unwrap();
        let d = (gelu_erf(&x).unwrap() - x.gelu_erf().unwrap()).unwrap().abs().unwrap().max_all().unwrap();
        assert!(d.to_scalar::<f32>().unwrap() < 2e-6, "{d}");
    }

    /// erf in f64 by its Taylor series (|x| < 3) or the continued fraction of erfc.
    fn reference_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let (mut term, mut sum, x2) = (x, x, x * x);
            for n in 1..200 {
                term *= -x2 / n as f64;
                sum += term / (2 * n + 1) as f64;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            let z = x.abs();
            let mut f = 0.0;
            for k in (1..100).rev() {
                f = (k as f64 / 2.0) / (z + f);
            }
            let erfc = (-z * z).exp() / std::f64::consts::PI.sqrt() / (z + f);
            (1.0 - erfc).copysign(x)
        }
    }

    /// The CPU attention op gives what the tensor path gives, padding included
    /// (sentence 1 has two padded tokens; sentence 2 is all padding).
    #[test]
    fn cpu_attention_matches_the_tensor_path() {
        let dev = candle_core::Device::Cpu;
        let (b, t, heads, hd) = (3, 5, 4, 8);
        let h = heads * hd;
        let qkv = Tensor::randn(0f32, 1f32, (b * t, 3 * h), &dev).unwrap();
        let lens = [5, 3, 0];
        let keys = Keys::padded(&lens, t, &dev).unwrap();
        let w = Tensor::zeros((3 * h, h), DType::F32, &dev).unwrap();
        let att = SelfAttention { qkv: Dense::new(Linear::new(w, None), false).unwrap(), heads, head_dim: hd };
        let fast = att.forward(&Tensor::zeros((b * t, h), DType::F32, &dev).unwrap(), &keys).unwrap();
        assert_eq!(fast.dims(), &[b * t, h]);
        // The layer's weights are zero, so run both paths on `qkv` itself.
        let fast = qkv.apply_op1_no_bwd(&CpuAttention { heads, head_dim: hd, spans: &keys.spans }).unwrap();
        // The tensor path's mask, as it is built for other devices.
        let bias: Vec<f32> =
            lens.iter().flat_map(|&n| (0..t).map(move |j| if j < n { 0.0 } else { f32::MIN })).collect();
        let bias = Tensor::from_vec(bias, (b, 1, 1, t), &dev).unwrap();
        let slow = att.forward_tensors(&qkv, &bias).unwrap();
        let diff = (fast - slow).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "max difference {diff}");
    }

    /// Packed sentences get the rows they get padded, whatever the padding holds.
    #[test]
    fn packed_attention_matches_padded() {
        let dev = candle_core::Device::Cpu;
        let (t, heads, hd) = (6, 4, 8);
        let h = heads * hd;
        let lens = [6, 2, 4];
        let padded = Tensor::randn(0f32, 1f32, (lens.len() * t, 3 * h), &dev).unwrap();
        let rows: Vec<Tensor> = lens.iter().enumerate().map(|(i, &n)| padded.narrow(0, i * t, n).unwrap()).collect();
        let packed = Tensor::cat(&rows, 0).unwrap();
        let spans = Span::padded(&lens, t);
        let a = padded.apply_op1_no_bwd(&CpuAttention { heads, head_dim: hd, spans: &spans }).unwrap();
        let spans = Span::packed(&lens);
        let b = packed.apply_op1_no_bwd(&CpuAttention { heads, head_dim: hd, spans: &spans }).unwrap();
        let mut at = 0;
        for (i, &n) in lens.iter().enumerate() {
            let want = a.narrow(0, i * t, n).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let got = b.narrow(0, at, n).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(want, got, "sentence {i}");
            at += n;
        }
    }

    #[test]
    fn attention_refuses_spans_that_do_not_cover_the_rows() {
        let dev = candle_core::Device::Cpu;
        let qkv = Tensor::zeros((5, 3 * 8), DType::F32, &dev).unwrap();
        for lens in [&[2usize, 2][..], &[3, 3]] {
            let spans = Span::packed(lens);
            let e = qkv.apply_op1_no_bwd(&CpuAttention { heads: 2, head_dim: 4, spans: &spans });
            assert!(e.is_err(), "{lens:?}");
        }
    }
}
