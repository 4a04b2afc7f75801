use std::path::PathBuf;

/// Everything that can stop a replay. Bad messages inside an episode are not
/// errors: they are counted in the [`crate::ExportReport`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error(transparent)]
    Recorder(#[from] kotoba_recorder::RecorderError),
    #[error("rerun: {0}")]
    Rerun(#[from] rerun::RecordingStreamError),
    #[error("rerun serialisation: {0}")]
    Serialization(#[from] rerun::SerializationError),
    #[error("URDF: {0}")]
    Urdf(String),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Input { path: PathBuf, reason: String },
}

impl ReplayError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ReplayError::Io { path: path.to_path_buf(), source }
    }
    pub(crate) fn input(path: &std::path::Path, reason: impl Into<String>) -> Self {
        ReplayError::Input { path: path.to_path_buf(), reason: reason.into() }
    }
}

pub type Result<T, E = ReplayError> = std::result::Result<T, E>;
