//! A BERT-family sentence-transformers model (all-MiniLM-L6-v2 by default) in candle.

mod attention;
mod dense;
mod files;
#[cfg(target_arch = "x86_64")]
mod gemm_avx512;
mod model;
mod pooling;
#[cfg(test)]
mod timing;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::{Encoding, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::config::{BertEncoderConfig, DeviceConfig};
use crate::encoder::TextEncoder;
use crate::error::{Result, TextError};

/// Tokenises with the model's `tokenizer.json`, runs BERT, mean-pools the last hidden
/// state over the attention mask and L2-normalises: the same pipeline as
/// sentence-transformers' `Transformer → Pooling(mean) → Normalize` modules.
pub struct BertEncoder {
    model: model::Bert,
    tokenizer: Tokenizer,
    device: Device,
    model_id: String,
    dim: usize,
    max_tokens: usize,
    batch_size: usize,
    pad_id: u32,
    lower_case: bool,
    /// Batches as the sentences' tokens only, no padding (CPU).
    packed_tokens: bool,
}

/// The CPU's fast paths, both on by default; off only to time them against the
/// plain ones (`timing.rs`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuPaths {
    /// Run a batch as its sentences' tokens only (attention by per-sentence
    /// spans), not padded to its longest sentence.
    pub packed_tokens: bool,
    /// Linear layers on the AVX-512 kernel where the CPU has it.
    pub packed_weights: bool,
}

impl Default for CpuPaths {
    fn default() -> Self {
        Self { packed_tokens: true, packed_weights: true }
    }
}

impl std::fmt::Debug for BertEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertEncoder")
            .field("model_id", &self.model_id)
            .field("dim", &self.dim)
            .field("max_tokens", &self.max_tokens)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

impl BertEncoder {
    /// Loads and checks the model folder named in `cfg`.
    pub fn load(cfg: &BertEncoderConfig) -> Result<Self> {
        Self::load_with(cfg, CpuPaths::default())
    }

    pub(crate) fn load_with(cfg: &BertEncoderConfig, paths: CpuPaths) -> Result<Self> {
        let dir = &cfg.model_dir;
        let files = files::read_model_dir(dir)?;
        let positions = files.config.max_position_embeddings;
        let max_tokens = cfg.max_tokens.or(files.max_seq_length).unwrap_or(positions);
        if !(3..=positions).contains(&max_tokens) {
            return Err(TextError::Config(format!(
                "max_tokens {max_tokens} must lie in 3..={positions} (the model's position table)"
            )));
        }
        if cfg.batch_size == 0 {
            return Err(TextError::Config("batch_size must be at least 1".into()));
        }
        let device = device(cfg.device)?;

        let mut tokenizer = files.tokenizer;
        // tokenizer.json ships with fixed padding to 128 and truncation at 128; replace both:
        // truncate at max_seq_length like sentence-transformers, pad per batch ourselves.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| TextError::invalid(dir, format!("tokenizer truncation: {e}")))?;
        tokenizer.with_padding(None);

        let tensors = candle_core::safetensors::load(&files.weights, &device)
            .map_err(|e| TextError::invalid(dir, format!("{}: {e}", files::WEIGHTS)))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let model = model::Bert::load(vb, &files.config, paths.packed_weights)
            .map_err(|e| TextError::invalid(dir, format!("weights do not fit config.json: {e}")))?;
        Ok(Self {
            model,
            tokenizer,
            model_id: cfg.model_id.clone(),
            dim: files.config.hidden_size,
            max_tokens,
            batch_size: cfg.batch_size,
            pad_id: files.config.pad_token_id as u32,
            lower_case: files.lower_case,
            packed_tokens: paths.packed_tokens && device.is_cpu(),
            device,
        })
    }

    /// Word pieces per text the model sees, `[CLS]` and `[SEP]` included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Word pieces in `text` before truncation, `[CLS]` and `[SEP]` included.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        let enc = self.tokenize(&[text])?;
        Ok(enc[0].len()
            + enc[0]
                .get_overflowing()
                .iter()
                .map(Encoding::len)
                .sum::<usize>()
            - 2 * enc[0].get_overflowing().len())
    }

    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Encoding>> {
        let inputs: Vec<String> = texts
            .iter()
            .map(|t| {
                if self.lower_case {
                    t.to_lowercase()
                } else {
                    (*t).to_owned()
                }
            })
            .collect();
        self.tokenizer
            .encode_batch_fast(inputs, true)
            .map_err(|e| TextError::Inference(format!("tokenizer: {e}")))
    }

    /// One forward pass over texts already checked and trimmed.
    fn embed_batch(&self, texts: &[&str], indices: &[usize]) -> Result<Vec<Vec<f32>>> {
        let encodings = self.tokenize(texts)?;
        for (enc, index) in encodings.iter().zip(indices) {
            if !enc.get_overflowing().is_empty() {
                tracing::warn!(
                    "text #{index} is longer than the {} word pieces {} reads; the rest is ignored",
                    self.max_tokens,
                    self.model_id
                );
            }
        }
        let lens: Vec<usize> = encodings.iter().map(Encoding::len).collect();
        if self.packed_tokens {
            return self.run_packed(&encodings, &lens);
        }
        let (batch, len) = (encodings.len(), lens.iter().copied().max().unwrap_or(0));
        let mut ids = vec![self.pad_id; batch * len];
        let mut type_ids = vec![0u32; batch * len];
        let mut mask = vec![0u32; batch * len];
        for (row, enc) in encodings.iter().enumerate() {
            let n = enc.len();
            let at = row * len;
            ids[at..at + n].copy_from_slice(enc.get_ids());
            type_ids[at..at + n].copy_from_slice(enc.get_type_ids());
            mask[at..at + n].copy_from_slice(enc.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (batch, len), &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, (batch, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (batch, len), &self.device)?;
        let hidden = self.model.forward_padded(&ids, &type_ids, &lens)?;
        let pooled = pooling::mean_pool(&hidden, &mask)?;
        Ok(pooling::l2_normalize(&pooled)?.to_vec2::<f32>()?)
    }

    /// The same on the sentences' tokens only: every row is a real token, so no
    /// work goes to padding (a batch of mixed lengths is mostly padding otherwise).
    fn run_packed(&self, encodings: &[Encoding], lens: &[usize]) -> Result<Vec<Vec<f32>>> {
        let ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_ids().iter().copied()).collect();
        let type_ids: Vec<u32> = encodings.iter().flat_map(|e| e.get_type_ids().iter().copied()).collect();
        let n = ids.len();
        let ids = Tensor::from_vec(ids, n, &self.device)?;
        let type_ids = Tensor::from_vec(type_ids, n, &self.device)?;
        let hidden = self.model.forward_packed(&ids, &type_ids, lens)?;
        let hidden = hidden.flatten_all()?.to_vec1::<f32>()?;
        let mut pooled = pooling::mean_pool_packed(&hidden, self.dim, lens);
        for v in &mut pooled {
            pooling::l2_normalize_slice(v);
        }
        Ok(pooled)
    }
}

impl TextEncoder for BertEncoder {
    fn model_id(&self) -> &str {
        &self.model_id
    }

    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        // sentence-transformers strips each text before tokenising.
        let trimmed: Vec<&str> = texts.iter().map(|t| t.trim()).collect();
        if let Some(index) = trimmed.iter().position(|t| t.is_empty()) {
            return Err(TextError::EmptyText { index });
        }
        // Longest first, then fixed-size chunks: similar lengths share a batch, so little
        // padding (what sentence-transformers' encode does too).
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(trimmed[i].chars().count()));
        let mut out = vec![Vec::new(); texts.len()];
        for chunk in order.chunks(self.batch_size) {
            let batch: Vec<&str> = chunk.iter().map(|&i| trimmed[i]).collect();
            for (&i, v) in chunk.iter().zip(self.embed_batch(&batch, chunk)?) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}

fn device(d: DeviceConfig) -> Result<Device> {
    match d {
        DeviceConfig::Cpu => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        DeviceConfig::Cuda(i) => {
            Device::new_cuda(i).map_err(|e| TextError::Config(format!("CUDA device {i}: {e}")))
        }
        #[cfg(not(feature = "cuda"))]
        DeviceConfig::Cuda(i) => Err(TextError::Config(format!(
            "device cuda({i}) asked for, but kotoba-text was built without its `cuda` feature"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuda_without_the_feature_is_a_clear_error() {
        if cfg!(feature = "cuda") {
            return;
        }
        let e = device(DeviceConfig::Cuda(0)).unwrap_err().to_string();
        assert!(e.contains("`cuda` feature"), "{e}");
    }

    /// The plain paths (padded batches, candle's matmul) and the fast ones give the
    /// same vectors on sentences of mixed length, the longer ones truncated.
    #[test]
    fn every_cpu_path_gives_the_same_vectors() {
        let cfg = BertEncoderConfig { max_tokens: Some(12), ..BertEncoderConfig::default() };
        let mut texts = crate::bench_sentences();
        texts.truncate(40);
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut want = None;
        for packed_tokens in [false, true] {
            for packed_weights in [false, true] {
                let enc = BertEncoder::load_with(&cfg, CpuPaths { packed_tokens, packed_weights }).unwrap();
                let got = enc.embed(&texts).unwrap();
                let want = want.get_or_insert_with(|| got.clone());
                let worst = got
                    .iter()
                    .zip(want.iter())
                    .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
                    .fold(0f32, f32::max);
                assert!(worst < 1e-5, "tokens packed {packed_tokens}, weights packed {packed_weights}: {worst}");
            }
        }
    }
}
