//! [`EpisodeWriter`]: one rosbag2 directory bag (`metadata.yaml` +
//! `<name>_0.mcap`), written so that a killed process loses at most the last
//! flush interval and a full disk stops it cleanly.

use crate::bag_meta::{BagInfo, BagTopic};
use crate::error::{RecorderError, Result};
use crate::sink::SinkFile;
use crate::validate::{Validator, supported_types, validator};
use kotoba_msgs::Qos;
use mcap::records::{MessageHeader, Metadata};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Chunk compression of the MCAP file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// rosbag2's default, and ours: the recorder then writes at about the
    /// disk's sequential speed (compression is CPU-bound on one core).
    #[default]
    None,
    /// Smaller files, more CPU (writes at about 0.15–0.2× a plain write's
    /// speed on one core of the development VM).
    Zstd,
    /// Faster than zstd, larger files.
    Lz4,
}

/// How episodes are written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterOptions {
    pub compression: Compression,
    /// zstd level (1 is fast enough for two raw 640×480 cameras on one core).
    pub zstd_level: u32,
    /// A chunk is closed once it holds this many uncompressed bytes.
    pub chunk_size: u64,
    /// A chunk is also closed and flushed to the OS at least this often, which
    /// bounds what a SIGKILL can lose.
    pub flush_interval_ms: u64,
    /// fsync at most this often (power loss); 0 = only when the episode ends.
    pub sync_interval_ms: u64,
    /// Check every payload decodes as its type before writing it.
    pub validate: bool,
    /// Fail writes past this many bytes per file, as if the disk were full
    /// (for tests and drills).
    pub size_cap: Option<u64>,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            compression: Compression::None,
            zstd_level: 1,
            chunk_size: 4 << 20,
            flush_interval_ms: 500,
            sync_interval_ms: 2000,
            validate: true,
            size_cap: None,
        }
    }
}

struct TopicState {
    channel_id: u16,
    bag: BagTopic,
    validate: Validator,
}

/// Writes one episode. Feed it raw CDR payloads with their receive and send
/// times; call [`finish`](Self::finish) to seal it.
pub struct EpisodeWriter {
    dir: PathBuf,
    mcap_path: PathBuf,
    w: Option<mcap::Writer<SinkFile>>,
    sync_handle: File,
    topics: Vec<TopicState>,
    by_name: HashMap<String, usize>,
    info: BagInfo,
    total: u64,
    written: Arc<AtomicU64>,
    opts: WriterOptions,
    last_flush: Instant,
    last_sync: Instant,
    failed: Option<String>,
}

impl EpisodeWriter {
    /// Creates the bag directory `dir` (which must not exist yet) and writes
    /// the MCAP header and an initial `metadata.yaml`.
    pub fn create(dir: &Path, opts: &WriterOptions) -> Result<Self> {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| RecorderError::Config(format!("bad episode directory {}", dir.display())))?;
        Self::create_named(dir, name, opts)
    }

    /// Like [`create`](Self::create), naming the storage file `<name>_0.mcap`
    /// whatever the directory is called (recovery writes into a temp dir).
    pub fn create_named(dir: &Path, name: &str, opts: &WriterOptions) -> Result<Self> {
        std::fs::create_dir(dir).map_err(|e| map_io(dir, dir, e, 0))?;
        let file_name = format!("{name}_0.mcap");
        let mcap_path = dir.join(&file_name);
        let file = File::create(&mcap_path).map_err(|e| map_io(&mcap_path, dir, e, 0))?;
        let sync_handle = file.try_clone().map_err(|e| RecorderError::io(&mcap_path, e))?;
        let written = Arc::new(AtomicU64::new(0));
        let sink = SinkFile::new(file, opts.size_cap, written.clone());
        let compression = match opts.compression {
            Compression::None => None,
            Compression::Zstd => Some(mcap::Compression::Zstd),
            Compression::Lz4 => Some(mcap::Compression::Lz4),
        };
        let w = mcap::WriteOptions::new()
            .profile("ros2")
            .library(concat!("kotoba-recorder/", env!("CARGO_PKG_VERSION")))
            .compression(compression)
            .compression_level(opts.zstd_level)
            .chunk_size(Some(opts.chunk_size))
            .create(sink)
            .map_err(|e| map_mcap(&mcap_path, dir, e, &written))?;
        let now = Instant::now();
        let mut ew = EpisodeWriter {
            dir: dir.to_path_buf(),
            mcap_path,
            w: Some(w),
            sync_handle,
            topics: Vec::new(),
            by_name: HashMap::new(),
            info: BagInfo { file_name, ..Default::default() },
            total: 0,
            written,
            opts: opts.clone(),
            last_flush: now,
            last_sync: now,
            failed: None,
        };
        // Flush the header so even an immediately killed episode is a valid prefix.
        ew.flush()?;
        ew.info.write_metadata_yaml(&ew.dir)?;
        Ok(ew)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Bytes that reached the OS so far.
    pub fn bytes_written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Adds a topic (so it is listed even if no message arrives).
    pub fn declare(&mut self, topic: &str, ros_type: &str, qos: &Qos) -> Result<()> {
        self.topic_index(topic, ros_type, || qos.rosbag2_yaml()).map(|_| ())
    }

    fn topic_index(&mut self, topic: &str, ros_type: &str, qos_yaml: impl FnOnce() -> String) -> Result<usize> {
        if let Some(&i) = self.by_name.get(topic) {
            let declared = &self.topics[i].bag.ros_type;
            if declared != ros_type {
                return Err(RecorderError::TypeMismatch {
                    topic: topic.into(),
                    declared: declared.clone(),
                    got: ros_type.into(),
                });
            }
            return Ok(i);
        }
        let topic_q = kotoba_bus::qualify(topic).map_err(|_| RecorderError::BadTopic(topic.into()))?;
        let unknown =
            || RecorderError::UnknownType { topic: topic.into(), ty: ros_type.into(), supported: supported_types() };
        let entry = kotoba_msgs::lookup(ros_type).ok_or_else(unknown)?;
        let validate = validator(entry.ros_name).ok_or_else(unknown)?;
        let bag = BagTopic {
            name: topic_q,
            ros_type: entry.ros_name.to_string(),
            qos_yaml: qos_yaml(),
            type_hash: (entry.type_hash)(),
            count: 0,
        };
        let meta = BTreeMap::from([
            ("offered_qos_profiles".to_string(), bag.qos_yaml.clone()),
            ("topic_type_hash".to_string(), bag.type_hash.clone()),
        ]);
        let w = self.live()?;
        let res = w
            .add_schema(entry.ros_name, "ros2msg", entry.schema.as_bytes())
            .and_then(|sid| w.add_channel(sid, &bag.name, "cdr", &meta));
        let channel_id = self.check(res)?;
        self.topics.push(TopicState { channel_id, bag, validate });
        self.by_name.insert(topic.to_string(), self.topics.len() - 1);
        Ok(self.topics.len() - 1)
    }

    /// Writes one message exactly as received. `recv_ns` becomes the MCAP
    /// log time, `send_ns` the publish time. A payload that does not decode as
    /// `ros_type` is refused with [`RecorderError::Malformed`] and the writer
    /// stays usable.
    pub fn write(&mut self, topic: &str, ros_type: &str, qos: &Qos, cdr: &[u8], recv_ns: i64, send_ns: i64) -> Result<()> {
        let i = self.topic_index(topic, ros_type, || qos.rosbag2_yaml())?;
        self.write_at(i, cdr, recv_ns, send_ns)
    }

    /// Like [`write`](Self::write), with the QoS given as the rosbag2 YAML
    /// text (copying an existing bag).
    pub fn write_with_qos_yaml(
        &mut self,
        topic: &str,
        ros_type: &str,
        qos_yaml: &str,
        cdr: &[u8],
        recv_ns: i64,
        send_ns: i64,
    ) -> Result<()> {
        let i = self.topic_index(topic, ros_type, || qos_yaml.to_string())?;
        self.write_at(i, cdr, recv_ns, send_ns)
    }

    fn write_at(&mut self, i: usize, cdr: &[u8], recv_ns: i64, send_ns: i64) -> Result<()> {
        let t = &self.topics[i];
        if self.opts.validate {
            (t.validate)(cdr).map_err(|e| RecorderError::Malformed {
                topic: t.bag.name.clone(),
                ty: t.bag.ros_type.clone(),
                reason: e.to_string(),
            })?;
        }
        let header = MessageHeader {
            channel_id: t.channel_id,
            sequence: 0,
            log_time: recv_ns.max(0) as u64,
            publish_time: send_ns.max(0) as u64,
        };
        let w = self.live()?;
        let res = w.write_to_known_channel(&header, cdr);
        self.check(res)?;
        let t = &mut self.topics[i];
        t.bag.count += 1;
        self.total += 1;
        if self.total == 1 {
            (self.info.start_ns, self.info.end_ns) = (recv_ns, recv_ns);
        } else {
            self.info.start_ns = self.info.start_ns.min(recv_ns);
            self.info.end_ns = self.info.end_ns.max(recv_ns);
        }
        self.tick()
    }

    /// Closes the open chunk and hands it to the OS if the flush interval has
    /// passed (call it when idle too, so a quiet topic still gets flushed).
    pub fn tick(&mut self) -> Result<()> {
        if self.last_flush.elapsed() >= Duration::from_millis(self.opts.flush_interval_ms) {
            self.flush()?;
            if self.opts.sync_interval_ms > 0
                && self.last_sync.elapsed() >= Duration::from_millis(self.opts.sync_interval_ms)
            {
                self.sync()?;
            }
        }
        Ok(())
    }

    /// Closes the open chunk and writes it out now.
    pub fn flush(&mut self) -> Result<()> {
        self.last_flush = Instant::now();
        let w = self.live()?;
        let res = w.flush();
        self.check(res)
    }

    fn sync(&mut self) -> Result<()> {
        self.last_sync = Instant::now();
        self.sync_handle.sync_data().map_err(|e| map_io(&self.mcap_path, &self.dir, e, self.bytes_written()))
    }

    /// Sets a rosbag2 `custom_data` entry (stored in `metadata.yaml` and the
    /// MCAP `rosbag2` record).
    pub fn set_custom(&mut self, key: &str, value: &str) {
        self.info.custom_data.insert(key.to_string(), value.to_string());
    }

    /// Per-topic message counts so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.topics.iter().map(|t| (t.bag.name.clone(), t.bag.count)).collect()
    }

    /// Messages written so far.
    pub fn message_count(&self) -> u64 {
        self.total
    }

    /// First and last receive time so far (0, 0 when empty).
    pub fn time_range(&self) -> (i64, i64) {
        (self.info.start_ns, self.info.end_ns)
    }

    /// Writes the rosbag2 metadata record and the summary, syncs the file and
    /// rewrites `metadata.yaml`. Returns what was written.
    pub fn finish(mut self) -> Result<BagInfo> {
        self.info.topics = self.topics.iter().map(|t| t.bag.clone()).collect();
        let record = Metadata {
            name: "rosbag2".into(),
            metadata: BTreeMap::from([("serialized_metadata".to_string(), self.info.body_yaml(""))]),
        };
        let w = self.live()?;
        let res = w.write_metadata(&record).and_then(|_| w.finish().map(|_| ()));
        self.check(res)?;
        self.sync()?;
        self.info.write_metadata_yaml(&self.dir)?;
        let info = self.info.clone();
        // The MCAP writer is finished; dropping it is a no-op.
        self.w.take();
        Ok(info)
    }

    /// Stops writing and deletes the episode directory.
    pub fn discard(mut self) -> Result<()> {
        if let Some(w) = self.w.take() {
            // Skip the summary: the file is deleted anyway.
            drop(w.into_inner());
        }
        std::fs::remove_dir_all(&self.dir).map_err(|e| RecorderError::io(&self.dir, e))
    }

    /// Stops without sealing: the file stays as a truncated MCAP that
    /// [`recover_episode`](crate::recover_episode) can repair. Used after a
    /// write error, when writing the summary would fail too.
    pub fn abandon(mut self) {
        if let Some(w) = self.w.take() {
            drop(w.into_inner());
        }
    }

    fn live(&mut self) -> Result<&mut mcap::Writer<SinkFile>> {
        if let Some(f) = &self.failed {
            return Err(RecorderError::Failed(f.clone()));
        }
        self.w.as_mut().ok_or_else(|| RecorderError::Failed("episode already finished".into()))
    }

    fn check<T>(&mut self, res: mcap::McapResult<T>) -> Result<T> {
        res.map_err(|e| {
            let err = map_mcap(&self.mcap_path, &self.dir, e, &self.written);
            self.failed = Some(err.to_string());
            err
        })
    }
}

impl Drop for EpisodeWriter {
    fn drop(&mut self) {
        // Never write a summary implicitly: an unfinished episode stays
        // recoverable rather than half-sealed.
        if let Some(w) = self.w.take() {
            drop(w.into_inner());
        }
    }
}

fn dataset_of(dir: &Path) -> PathBuf {
    dir.parent().unwrap_or(dir).to_path_buf()
}

fn map_io(path: &Path, dir: &Path, e: std::io::Error, written: u64) -> RecorderError {
    if crate::error::is_enospc(&e) {
        RecorderError::DiskFull { path: path.to_path_buf(), dataset: dataset_of(dir), written }
    } else {
        RecorderError::io(path, e)
    }
}

fn map_mcap(path: &Path, dir: &Path, e: mcap::McapError, written: &AtomicU64) -> RecorderError {
    match e {
        mcap::McapError::Io(io) => map_io(path, dir, io, written.load(Ordering::Relaxed)),
        other => RecorderError::mcap(path, other),
    }
}
