//! Streaming read of one episode's MCAP file, tolerant of a truncated tail.

use crate::error::{RecorderError, Result};
use mcap::sans_io::LinearReaderOptions;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One stored message, exactly as recorded.
#[derive(Debug, Clone)]
pub struct RawMessage {
    pub channel: Arc<mcap::Channel<'static>>,
    /// Receive time, ns since the Unix epoch.
    pub log_time: i64,
    /// The publisher's send time (or the header stamp), ns.
    pub publish_time: i64,
    /// CDR payload with its 4-byte header.
    pub data: Vec<u8>,
}

impl RawMessage {
    pub fn topic(&self) -> &str {
        &self.channel.topic
    }

    /// `pkg/msg/Name` (the schema name).
    pub fn ros_type(&self) -> &str {
        self.channel.schema.as_ref().map(|s| s.name.as_str()).unwrap_or("")
    }

    /// The channel's `offered_qos_profiles` YAML.
    pub fn qos_yaml(&self) -> &str {
        self.channel.metadata.get("offered_qos_profiles").map(String::as_str).unwrap_or("")
    }
}

/// The MCAP file of the bag directory `dir` (`<name>_0.mcap`).
pub fn bag_file(dir: &Path) -> Result<PathBuf> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let p = dir.join(format!("{name}_0.mcap"));
    if p.exists() {
        return Ok(p);
    }
    // Any single .mcap in the directory (bags written by other tools).
    let rd = std::fs::read_dir(dir).map_err(|e| RecorderError::io(dir, e))?;
    rd.filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "mcap"))
        .ok_or_else(|| RecorderError::BadDataset { path: dir.to_path_buf(), reason: "no .mcap file in the bag".into() })
}

/// Messages of an MCAP file in file order. With `tolerate_truncation`, a file
/// cut short (no summary, a half-written record) ends at the last complete
/// record instead of failing; [`BagMessages::truncation`] then says why it ended.
pub struct BagMessages {
    inner: mcap::io::MessageReader<BufReader<File>>,
    path: PathBuf,
    tolerate: bool,
    truncation: Option<String>,
    done: bool,
}

pub fn bag_messages(path: &Path, tolerate_truncation: bool) -> Result<BagMessages> {
    let f = File::open(path).map_err(|e| RecorderError::io(path, e))?;
    let opts = LinearReaderOptions::default().with_skip_end_magic(tolerate_truncation);
    Ok(BagMessages {
        inner: mcap::io::MessageReader::new_with_options(BufReader::with_capacity(1 << 20, f), opts),
        path: path.to_path_buf(),
        tolerate: tolerate_truncation,
        truncation: None,
        done: false,
    })
}

impl BagMessages {
    /// Why reading stopped early, for a truncated file.
    pub fn truncation(&self) -> Option<&str> {
        self.truncation.as_deref()
    }
}

impl Iterator for BagMessages {
    type Item = Result<RawMessage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.inner.next()? {
            Ok(m) => Some(Ok(RawMessage {
                channel: m.channel,
                log_time: m.log_time as i64,
                publish_time: m.publish_time as i64,
                data: m.data.into_owned(),
            })),
            Err(e) if self.tolerate => {
                self.done = true;
                self.truncation = Some(e.to_string());
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(RecorderError::mcap(&self.path, e)))
            }
        }
    }
}
