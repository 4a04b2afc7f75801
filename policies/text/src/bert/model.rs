//! The BERT encoder stack, built from candle-nn layers with the checkpoint names and
//! arithmetic of Hugging Face's `BertModel` (and candle-transformers' port of it).
//!
//! Ours rather than candle-transformers' for one reason: its exact GELU calls a
//! scalar `erf` per element on one thread, which took about 44 % of a batch-32
//! forward pass on the CPU (`perf`, session 5). Here the GELU is one op that
//! evaluates a rational approximation of erf (the float form used by Eigen and
//! XLA, within 1e-6 of `erf` here) in vectorisable code on every core.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Shape, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use super::attention::CpuAttention;
use super::files::BertConfig as Config;
use rayon::prelude::*;

struct SelfAttention {
    /// Query, key and value projections as one `(H, 3H)` layer: one GEMM
    /// instead of three thin ones.
    qkv: Linear,
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
    fn load(vb: VarBuilder, h: usize, heads: usize) -> candle_core::Result<Self> {
        let (mut ws, mut bs) = (Vec::with_capacity(3), Vec::with_capacity(3));
        for name in ["query", "key", "value"] {
            let scale = if name == "query" { 1.0 / ((h / heads) as f64).sqrt() } else { 1.0 };
            ws.push((vb.get((h, h), &format!("{name}.weight"))? * scale)?);
            bs.push((vb.get(h, &format!("{name}.bias"))? * scale)?);
        }
        let qkv = Linear::new(Tensor::cat(&ws, 0)?, Some(Tensor::cat(&bs, 0)?));
        Ok(Self { qkv, heads, head_dim: h / heads })
    }

    /// `x` is `(B*T, H)`.
    fn forward(&self, x: &Tensor, mask: &KeyMask) -> candle_core::Result<Tensor> {
        let qkv = self.qkv.forward(x)?;
        if qkv.device().is_cpu() && qkv.dtype() == DType::F32 {
            let op = CpuAttention { heads: self.heads, head_dim: self.head_dim };
            return qkv.apply_op2_no_bwd(&mask.keep, &op);
        }
        self.forward_tensors(&qkv, &mask.bias)
    }

    /// The same with tensor ops (other devices, and the reference in tests).
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

/// The attention mask in the two forms the two paths want.
struct KeyMask {
    /// `(B, T)`, 1 for a token, 0 for padding.
    keep: Tensor,
    /// `(B, 1, 1, T)`, added to the scores: 0 for a token, the most negative float for padding.
    bias: Tensor,
}

impl KeyMask {
    fn new(mask: &Tensor) -> candle_core::Result<Self> {
        let keep = mask.to_dtype(DType::F32)?.contiguous()?;
        // Padded keys get the most negative float, so softmax gives them zero weight.
        let bias = ((1.0 - keep.unsqueeze(1)?.unsqueeze(1)?)? * f64::from(f32::MIN))?;
        Ok(Self { keep, bias })
    }
}

/// `LayerNorm(dense(x) + residual)`, BERT's output block after attention and FFN.
struct AddNorm {
    dense: Linear,
    norm: LayerNorm,
}

impl AddNorm {
    fn load(vb: VarBuilder, from: usize, to: usize, eps: f64) -> candle_core::Result<Self> {
        Ok(Self { dense: linear(from, to, vb.pp("dense"))?, norm: layer_norm(to, eps, vb.pp("LayerNorm"))? })
    }
    fn forward(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        self.norm.forward(&(self.dense.forward(x)? + residual)?)
    }
}

struct Layer {
    attention: SelfAttention,
    attention_out: AddNorm,
    intermediate: Linear,
    output: AddNorm,
}

impl Layer {
    fn forward(&self, x: &Tensor, mask: &KeyMask) -> candle_core::Result<Tensor> {
        let a = self.attention_out.forward(&self.attention.forward(x, mask)?, x)?;
        let h = gelu_erf(&self.intermediate.forward(&a)?)?;
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
    /// Loads the weights under `bert.` or at the root, as `BertModel` accepts them.
    /// `cfg` comes from [`super::files::read_model_dir`], which has already
    /// refused activations other than GELU and a hidden size the heads do not divide.
    pub fn load(vb: VarBuilder, cfg: &Config) -> candle_core::Result<Self> {
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") { vb.pp("bert") } else { vb };
        let (h, eps) = (cfg.hidden_size, cfg.layer_norm_eps);
        let e = vb.pp("embeddings");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| {
                let l = vb.pp(format!("encoder.layer.{i}"));
                Ok(Layer {
                    attention: SelfAttention::load(l.pp("attention.self"), h, cfg.num_attention_heads)?,
                    attention_out: AddNorm::load(l.pp("attention.output"), h, h, eps)?,
                    intermediate: linear(h, cfg.intermediate_size, l.pp("intermediate.dense"))?,
                    output: AddNorm::load(l.pp("output"), cfg.intermediate_size, h, eps)?,
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

    /// Last hidden state `(B, T, H)` for token ids, token type ids and a 0/1
    /// attention mask, all `(B, T)`.
    pub fn forward(&self, ids: &Tensor, type_ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let pos = Tensor::arange(0u32, t as u32, ids.device())?;
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&pos)?)?
            .add(&self.token_types.forward(type_ids)?)?;
        let (b, _, h) = x.dims3()?;
        // Tokens as rows of one (B*T, H) matrix; only attention needs the batch.
        let mut x = self.embed_norm.forward(&x.reshape((b * t, h))?)?;
        let mask = KeyMask::new(mask)?;
        for layer in &self.layers {
            x = layer.forward(&x, &mask)?;
        }
        x.reshape((b, t, h))
    }
}

/// `0.5 x (1 + erf(x / sqrt 2))`: the fast op on the CPU, candle's elsewhere.
fn gelu_erf(x: &Tensor) -> candle_core::Result<Tensor> {
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

/// erf as an odd rational function of x on [-4, 4] (beyond, erf is ±1 in f32):
/// straight-line arithmetic, so a loop over it vectorises.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_600_1e-3;
    p = x2 * p + -1.609_603_3e-2;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329e-3;
    q = x2 * q + -1.426_474e-2;
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
        let keep = [[1u32, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]];
        let mask = Tensor::new(&keep, &dev).unwrap();
        let mask = KeyMask::new(&mask).unwrap();
        let w = Tensor::zeros((3 * h, h), DType::F32, &dev).unwrap();
        let att = SelfAttention { qkv: Linear::new(w, None), heads, head_dim: hd };
        let fast = att.forward(&Tensor::zeros((b * t, h), DType::F32, &dev).unwrap(), &mask).unwrap();
        assert_eq!(fast.dims(), &[b * t, h]);
        // The layer's weights are zero, so run both paths on `qkv` itself.
        let fast = qkv.apply_op2_no_bwd(&mask.keep, &CpuAttention { heads, head_dim: hd }).unwrap();
        let slow = att.forward_tensors(&qkv, &mask.bias).unwrap();
        let diff = (fast - slow).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        let diff = diff.to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "max difference {diff}");
    }
}
