//! One error type for the whole crate; variants say what the operator can do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("disk full while writing {path}: {written} bytes of this episode reached the disk; the episode was stopped \
             and left as a truncated bag (free space, then `kotoba record --recover {dataset}`)")]
    DiskFull { path: PathBuf, dataset: PathBuf, written: u64 },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("MCAP error in {path}: {source}")]
    Mcap { path: PathBuf, source: mcap::McapError },
    #[error("unknown message type {ty:?} for topic {topic} (supported: {supported})")]
    UnknownType { topic: String, ty: String, supported: String },
    #[error("topic {topic} was declared as {declared}, but a message of type {got} was written to it")]
    TypeMismatch { topic: String, declared: String, got: String },
    #[error("invalid topic name {0:?}")]
    BadTopic(String),
    #[error("malformed {ty} on {topic}: {reason}")]
    Malformed { topic: String, ty: String, reason: String },
    #[error("bad dataset {path}: {reason}")]
    BadDataset { path: PathBuf, reason: String },
    #[error("bad config: {0}")]
    Config(String),
    #[cfg(feature = "sim")]
    #[error("simulator: {0}")]
    Sim(#[from] kotoba_sim::SimError),
    #[error("{0}")]
    Bus(#[from] kotoba_bus::BusError),
    #[error("the episode writer already failed: {0}")]
    Failed(String),
}

pub type Result<T, E = RecorderError> = std::result::Result<T, E>;

impl RecorderError {
    /// Wraps an I/O error, recognising a full disk or a size cap.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RecorderError::Io { path: path.into(), source }
    }

    pub(crate) fn mcap(path: impl Into<PathBuf>, source: mcap::McapError) -> Self {
        RecorderError::Mcap { path: path.into(), source }
    }

    /// True for the errors after which nothing more can be written (disk full).
    pub fn is_disk_full(&self) -> bool {
        match self {
            RecorderError::DiskFull { .. } => true,
            RecorderError::Io { source, .. } => is_enospc(source),
            RecorderError::Mcap { source: mcap::McapError::Io(e), .. } => is_enospc(e),
            _ => false,
        }
    }
}

pub(crate) fn is_enospc(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::StorageFull || e.kind() == std::io::ErrorKind::QuotaExceeded
        || e.raw_os_error() == Some(libc::ENOSPC)
        || e.raw_os_error() == Some(libc::EDQUOT)
}
