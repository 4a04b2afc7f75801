//! Reads and checks a sentence-transformers model folder before any weights are used,
//! so a wrong or partial folder gives a clear error instead of a shape panic deep inside.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

use crate::error::{Result, TextError};

pub(crate) const CONFIG: &str = "config.json";
pub(crate) const TOKENIZER: &str = "tokenizer.json";
pub(crate) const WEIGHTS: &str = "model.safetensors";
const SBERT_CONFIG: &str = "sentence_bert_config.json";
const POOLING_CONFIG: &str = "1_Pooling/config.json";

/// Everything in the folder except the weights, parsed and cross-checked.
pub(crate) struct ModelFiles {
    pub config: BertConfig,
    pub tokenizer: Tokenizer,
    pub weights: PathBuf,
    /// sentence-transformers' `max_seq_length`, when the folder says.
    pub max_seq_length: Option<usize>,
    /// sentence-transformers lowercases texts itself when this is set.
    pub lower_case: bool,
}

/// The fields of Hugging Face's BERT `config.json` that the model reads; the rest
/// (dropout, initialiser range, ...) only matter for training.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: usize,
    pub position_embedding_type: Option<String>,
    pub model_type: Option<String>,
}

/// `sentence_bert_config.json`.
#[derive(Deserialize)]
struct SbertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

/// `1_Pooling/config.json`: only mean pooling is implemented.
#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

pub(crate) fn read_model_dir(dir: &Path) -> Result<ModelFiles> {
    if !dir.is_dir() {
        return Err(TextError::ModelMissing {
            dir: dir.to_path_buf(),
            missing: "the model folder".into(),
        });
    }
    let missing: Vec<&str> = [CONFIG, TOKENIZER, WEIGHTS]
        .into_iter()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(TextError::ModelMissing {
            dir: dir.to_path_buf(),
            missing: missing.join(", "),
        });
    }

    let config: BertConfig = read_json(dir, CONFIG)?;
    if let Some(t) = config.model_type.as_deref().filter(|t| *t != "bert") {
        return Err(TextError::invalid(
            dir,
            format!("{CONFIG}: model_type {t:?} is not \"bert\""),
        ));
    }
    if config.hidden_act != "gelu" {
        return Err(TextError::invalid(
            dir,
            format!("{CONFIG}: hidden_act {:?}: only the exact GELU (\"gelu\") is implemented", config.hidden_act),
        ));
    }
    if let Some(t) = config.position_embedding_type.as_deref().filter(|t| *t != "absolute") {
        return Err(TextError::invalid(
            dir,
            format!("{CONFIG}: position_embedding_type {t:?}: only \"absolute\" is implemented"),
        ));
    }
    if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
        return Err(TextError::invalid(
            dir,
            format!(
                "{CONFIG}: hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        ));
    }

    let tokenizer = Tokenizer::from_file(dir.join(TOKENIZER))
        .map_err(|e| TextError::invalid(dir, format!("{TOKENIZER}: {e}")))?;
    check_tokenizer_matches(dir, &tokenizer, &config)?;

    let sbert: Option<SbertConfig> = read_optional_json(dir, SBERT_CONFIG)?;
    if let Some(p) = read_optional_json::<PoolingConfig>(dir, POOLING_CONFIG)? {
        let others = p.pooling_mode_cls_token
            || p.pooling_mode_max_tokens
            || p.pooling_mode_mean_sqrt_len_tokens;
        if !p.pooling_mode_mean_tokens || others {
            return Err(TextError::invalid(
                dir,
                format!("{POOLING_CONFIG}: only mean-token pooling is implemented"),
            ));
        }
    }
    Ok(ModelFiles {
        config,
        tokenizer,
        weights: dir.join(WEIGHTS),
        max_seq_length: sbert.as_ref().and_then(|s| s.max_seq_length),
        lower_case: sbert.is_some_and(|s| s.do_lower_case),
    })
}

/// A tokenizer from another model would produce ids that index the wrong (or no) rows
/// of the embedding table: compare vocabulary sizes and the special tokens' ids.
fn check_tokenizer_matches(dir: &Path, tok: &Tokenizer, config: &BertConfig) -> Result<()> {
    let mismatch = |reason: String| TextError::TokenizerMismatch {
        dir: dir.to_path_buf(),
        reason,
    };
    let vocab = tok.get_vocab_size(true);
    if vocab != config.vocab_size {
        return Err(mismatch(format!(
            "{TOKENIZER} has {vocab} tokens, {CONFIG} says vocab_size {}",
            config.vocab_size
        )));
    }
    for special in ["[CLS]", "[SEP]"] {
        match tok.token_to_id(special) {
            Some(id) if (id as usize) < config.vocab_size => {}
            Some(id) => {
                return Err(mismatch(format!(
                    "{special} has id {id}, beyond the vocabulary"
                )));
            }
            None => return Err(mismatch(format!("{TOKENIZER} has no {special} token"))),
        }
    }
    if config.pad_token_id >= config.vocab_size {
        return Err(mismatch(format!(
            "pad_token_id {} is beyond the vocabulary",
            config.pad_token_id
        )));
    }
    Ok(())
}

fn read_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<T> {
    let text = std::fs::read_to_string(dir.join(name))
        .map_err(|e| TextError::invalid(dir, format!("{name}: {e}")))?;
    serde_json::from_str(&text).map_err(|e| TextError::invalid(dir, format!("{name}: {e}")))
}

fn read_optional_json<T: for<'de> Deserialize<'de>>(dir: &Path, name: &str) -> Result<Option<T>> {
    if dir.join(name).is_file() {
        read_json(dir, name).map(Some)
    } else {
        Ok(None)
    }
}
