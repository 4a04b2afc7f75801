//! Where episodes come from (a dataset, one episode directory, a bare `.mcap`)
//! and where their rerun recordings go (an `.rrd` file, a spawned viewer, a
//! viewer at an address).

use crate::error::{ReplayError, Result};
use crate::export::{EpisodeSource, ExportReport, ReplayOptions, export_episode};
use kotoba_recorder::{Dataset, EpisodeEntry, INDEX_FILE, PENDING_FILE, bag_file};
use rerun::{RecordingStream, RecordingStreamBuilder};
use std::path::{Path, PathBuf};

/// The rerun application id of every kotoba recording (one blueprint for all).
pub const APP_ID: &str = "kotoba";

/// Where a recording goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An `.rrd` file; for a dataset, a directory that gets one `<episode>.rrd` each.
    Rrd(PathBuf),
    /// A new viewer started from `rerun` on the PATH (or one already listening on 9876).
    Spawn,
    /// A running viewer: `host:port` or a full `rerun+http://host:port/proxy` URL.
    Connect(String),
}

impl Target {
    /// The gRPC URL for [`Target::Connect`].
    pub fn url(addr: &str) -> String {
        if addr.contains("://") { addr.to_string() } else { format!("rerun+http://{addr}/proxy") }
    }
}

/// A recording stream for one episode (or run).
pub fn open_stream(target: &Target, recording_name: &str) -> Result<RecordingStream> {
    let b = RecordingStreamBuilder::new(APP_ID).recording_name(recording_name);
    Ok(match target {
        Target::Rrd(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| ReplayError::io(dir, e))?;
            }
            b.save(p)?
        }
        Target::Spawn => b.spawn()?,
        Target::Connect(addr) => b.connect_grpc_opts(Target::url(addr))?,
    })
}

/// The episodes under `path`: every episode of a dataset (`index.json`), in
/// index order, then the interrupted ones the index does not list; or the one
/// episode directory (its dataset's index entry when it has one); or a bare
/// `.mcap` file.
pub fn find_episodes(path: &Path, opts: &ReplayOptions) -> Result<Vec<EpisodeSource>> {
    let bare = |bag: PathBuf, name: String, entry: Option<EpisodeEntry>, ds: Option<&Dataset>| EpisodeSource {
        name,
        bag,
        indexed: entry.is_some(),
        entry,
        dataset: ds.map(|d| d.root().to_path_buf()),
        labels_topic: ds.map(|d| d.index().labels_topic.clone()).unwrap_or_else(|| opts.labels_topic.clone()),
        instruction_topic: ds
            .map(|d| d.index().instruction_topic.clone())
            .unwrap_or_else(|| opts.instruction_topic.clone()),
    };
    let stem = |p: &Path| p.file_stem().and_then(|s| s.to_str()).unwrap_or("episode").to_string();
    if path.is_file() {
        if path.extension().is_some_and(|x| x == "mcap") {
            return Ok(vec![bare(path.to_path_buf(), stem(path), None, None)]);
        }
        return Err(ReplayError::input(path, "not an .mcap file, an episode directory or a dataset directory"));
    }
    if !path.is_dir() {
        return Err(ReplayError::input(path, "no such file or directory"));
    }
    if path.join(INDEX_FILE).exists() {
        let ds = Dataset::open(path)?;
        let mut out: Vec<EpisodeSource> =
            ds.episodes().iter().map(|e| bare(ds.episode_dir(&e.name), e.name.clone(), Some(e.clone()), Some(&ds))).collect();
        for name in ds.unindexed_dirs()? {
            let dir = ds.episode_dir(&name);
            let mut src = bare(dir.clone(), name, None, Some(&ds));
            src.entry = pending_entry(&dir);
            out.push(src);
        }
        if out.is_empty() {
            return Err(ReplayError::input(path, "the dataset has no episodes"));
        }
        return Ok(out);
    }
    // One episode directory.
    bag_file(path).map_err(|_| ReplayError::input(path, "neither a dataset (index.json) nor an episode (no .mcap file)"))?;
    let name = stem(path);
    let parent = path.parent().filter(|p| p.join(INDEX_FILE).exists());
    let ds = parent.and_then(|p| Dataset::open(p).ok());
    let entry = ds.as_ref().and_then(|d| d.episodes().iter().find(|e| e.name == name).cloned());
    let mut src = bare(path.to_path_buf(), name, entry, ds.as_ref());
    if src.entry.is_none() {
        src.entry = pending_entry(path);
    }
    Ok(vec![src])
}

/// The sidecar an episode writes when it starts (instruction, operator), for
/// an episode that never reached the index. Its counts are not final, so they
/// are dropped.
fn pending_entry(dir: &Path) -> Option<EpisodeEntry> {
    let text = std::fs::read_to_string(dir.join(PENDING_FILE)).ok()?;
    let mut e: EpisodeEntry = serde_json::from_str(&text).ok()?;
    e.message_counts.clear();
    Some(e)
}

/// Replays everything under `path` to `target`: one recording per episode.
/// With [`Target::Rrd`] and a dataset, the path is a directory that gets
/// `<episode>.rrd` files. One bad episode does not stop the others: its
/// report says what failed.
pub fn replay(path: &Path, target: &Target, opts: &ReplayOptions) -> Result<Vec<ExportReport>> {
    let sources = find_episodes(path, opts)?;
    let many = sources.len() > 1 || path.join(INDEX_FILE).exists();
    let mut reports = Vec::with_capacity(sources.len());
    for src in &sources {
        let t = match target {
            Target::Rrd(p) if many => Target::Rrd(p.join(format!("{}.rrd", src.name))),
            t => t.clone(),
        };
        let result = open_stream(&t, &src.name).and_then(|rec| export_episode(&rec, src, opts));
        match result {
            Ok(r) => reports.push(r),
            Err(e) if many => {
                let mut r = ExportReport { episode: src.name.clone(), ..Default::default() };
                r.notes.push(format!("not replayed: {e}"));
                reports.push(r);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(reports)
}
