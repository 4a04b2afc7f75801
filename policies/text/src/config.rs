use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::bert::BertEncoder;
use crate::encoder::TextEncoder;
use crate::error::Result;

/// Model id of the default encoder.
pub const DEFAULT_MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// Which text encoder to build. Tagged by `kind`, so a config file reads
/// `kind = "bert"` plus that encoder's fields; new encoders add a variant here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EncoderConfig {
    /// A BERT-family sentence-transformers model (MiniLM by default).
    Bert(BertEncoderConfig),
}

impl Default for EncoderConfig {
    fn default() -> Self {
        Self::Bert(BertEncoderConfig::default())
    }
}

impl EncoderConfig {
    /// Loads the configured encoder.
    pub fn load(&self) -> Result<Box<dyn TextEncoder>> {
        match self {
            Self::Bert(c) => Ok(Box::new(BertEncoder::load(c)?)),
        }
    }
}

/// Where a BERT sentence encoder lives and how to run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BertEncoderConfig {
    /// Folder with `config.json`, `tokenizer.json` and `model.safetensors`
    /// (and optionally sentence-transformers' `sentence_bert_config.json` and `1_Pooling/`).
    pub model_dir: PathBuf,
    /// Cache key of this model's vectors; change it whenever the weights change.
    pub model_id: String,
    /// Maximum word pieces per text, `[CLS]` and `[SEP]` included; longer texts are
    /// truncated. `None`: the model's `max_seq_length` from `sentence_bert_config.json`.
    pub max_tokens: Option<usize>,
    /// Texts per forward pass; `embed` splits larger inputs (sorted by length, as
    /// sentence-transformers does, so padding stays small).
    pub batch_size: usize,
    pub device: DeviceConfig,
}

impl Default for BertEncoderConfig {
    fn default() -> Self {
        Self {
            model_dir: default_model_dir(),
            model_id: DEFAULT_MODEL_ID.into(),
            max_tokens: None,
            batch_size: 32,
            device: DeviceConfig::Cpu,
        }
    }
}

/// Where the network runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceConfig {
    #[default]
    Cpu,
    /// The NVIDIA GPU with this index; needs the crate's `cuda` feature.
    Cuda(usize),
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/kotoba/models/all-MiniLM-L6-v2`, where
/// `scripts/setup_text_model.sh` installs the default model.
pub fn default_model_dir() -> PathBuf {
    models_root().join("all-MiniLM-L6-v2")
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/kotoba/models`: the root of all installed models.
/// These two variables are the XDG convention for locating the cache, not a config API.
pub fn models_root() -> PathBuf {
    let non_empty = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let cache = non_empty("XDG_CACHE_HOME")
        .or_else(|| non_empty("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("kotoba").join("models")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_points_at_the_setup_scripts_folder() {
        let c = BertEncoderConfig::default();
        assert!(
            c.model_dir.ends_with("kotoba/models/all-MiniLM-L6-v2"),
            "{:?}",
            c.model_dir
        );
        assert_eq!(c.model_id, DEFAULT_MODEL_ID);
        assert_eq!(c.device, DeviceConfig::Cpu);
    }

    #[test]
    fn config_reads_from_json_with_defaults_and_rejects_typos() {
        let c: EncoderConfig =
            serde_json::from_str(r#"{"kind":"bert","model_dir":"/m","device":{"cuda":1}}"#)
                .unwrap();
        let EncoderConfig::Bert(b) = c;
        assert_eq!(b.model_dir, PathBuf::from("/m"));
        assert_eq!(b.device, DeviceConfig::Cuda(1));
        assert_eq!(b.batch_size, 32);
        let typo = serde_json::from_str::<EncoderConfig>(r#"{"kind":"bert","model_dri":"/m"}"#);
        assert!(typo.unwrap_err().to_string().contains("model_dri"));
    }
}
