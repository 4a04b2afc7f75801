use std::path::PathBuf;

/// Everything that can go wrong in this crate. Bad input is reported with the
/// offending value and what was expected, never by a panic.
#[derive(Debug, thiserror::Error)]
pub enum DplError {
    #[error("tensor backend: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{what}: expected {expected}, got {got}")]
    Mismatch {
        what: String,
        expected: String,
        got: String,
    },
    #[error("non-finite value (NaN or inf) in {0}")]
    NonFinite(String),
    #[error("empty dataset: {0}")]
    EmptyDataset(String),
    #[error("invalid config: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("checkpoint {path}: {msg}")]
    Checkpoint { path: PathBuf, msg: String },
    #[error("peer benchmark: {0}")]
    Peer(String),
}

pub type Result<T, E = DplError> = std::result::Result<T, E>;

impl DplError {
    pub(crate) fn mismatch(
        what: impl Into<String>,
        expected: impl ToString,
        got: impl ToString,
    ) -> Self {
        Self::Mismatch {
            what: what.into(),
            expected: expected.to_string(),
            got: got.to_string(),
        }
    }
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// Fails with [`DplError::NonFinite`] if any value is NaN or infinite.
pub(crate) fn check_finite(what: &str, xs: &[f32]) -> Result<()> {
    if xs.iter().all(|x| x.is_finite()) {
        Ok(())
    } else {
        Err(DplError::NonFinite(what.to_string()))
    }
}
