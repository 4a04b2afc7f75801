use std::path::PathBuf;

/// The command that installs the default model; every "model not usable" error names it.
pub const INSTALL_HINT: &str = "run scripts/setup_text_model.sh to install the default model";

/// Everything that can go wrong when loading an encoder, embedding text or using a cache.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The model folder or one of its files is absent.
    #[error("text model not found: {missing} is missing in {}; {INSTALL_HINT}", dir.display())]
    ModelMissing { dir: PathBuf, missing: String },

    /// The folder holds files, but they do not make a usable model.
    #[error("invalid text model in {}: {reason}; {INSTALL_HINT}", dir.display())]
    InvalidModel { dir: PathBuf, reason: String },

    /// tokenizer.json and config.json come from different models.
    #[error(
        "tokenizer does not match the model in {}: {reason}; the folder mixes files of \
         different models ({INSTALL_HINT})",
        dir.display()
    )]
    TokenizerMismatch { dir: PathBuf, reason: String },

    /// A text with nothing but whitespace (sentence-transformers strips it first).
    #[error("text #{index} is empty: there is nothing to embed")]
    EmptyText { index: usize },

    /// The encoder config asks for something this build or machine cannot do.
    #[error("text encoder config: {0}")]
    Config(String),

    /// Tokenising or running the network failed.
    #[error("text encoder failed: {0}")]
    Inference(String),

    /// Reading or writing an embedding cache file.
    #[error("embedding cache {}: {source}", path.display())]
    CacheIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An embedding cache file that cannot be parsed or holds inconsistent vectors.
    #[error("embedding cache {}: {reason}", path.display())]
    CacheFormat { path: PathBuf, reason: String },

    /// A vector whose length differs from the others of the same model.
    #[error("embedding of model {model_id} has {got} dimensions, the cache holds {expected}")]
    DimensionMismatch {
        model_id: String,
        expected: usize,
        got: usize,
    },

    /// Two caches being merged disagree about one (model, text).
    #[error("embedding caches disagree: {text:?} has two different vectors for model {model_id}")]
    CacheConflict { model_id: String, text: String },

    /// Lookup without an encoder of a phrase the cache does not know.
    #[error(
        "no cached embedding of {text:?} for model {model_id}; embed it with the encoder first"
    )]
    NotCached { model_id: String, text: String },
}

impl TextError {
    pub(crate) fn invalid(dir: &std::path::Path, reason: impl std::fmt::Display) -> Self {
        Self::InvalidModel {
            dir: dir.to_path_buf(),
            reason: reason.to_string(),
        }
    }
}

/// Wraps candle's errors without exposing its error type in ours.
impl From<candle_core::Error> for TextError {
    fn from(e: candle_core::Error) -> Self {
        Self::Inference(e.to_string())
    }
}

pub type Result<T, E = TextError> = std::result::Result<T, E>;
