#![doc = include_str!("../README.md")]

mod bag_meta;
/// `kotoba bench recorder`.
pub mod bench;
mod bag_read;
mod config;
mod control;
mod dataset;
mod episode;
mod error;
mod image;
mod labels;
mod recover;
/// Scripted demonstrations recorded in lockstep with the simulator.
#[cfg(feature = "sim")]
pub mod scripted;
mod session;
mod sink;
mod sync;
mod synthetic;
mod validate;
mod writer;

pub use bag_meta::{BagInfo, BagTopic, write_atomic};
pub use bag_read::{BagMessages, RawMessage, bag_file, bag_messages};
pub use dataset::{Dataset, DatasetIndex, EpisodeEntry, FORMAT, INDEX_FILE, KOTOBA_VERSION};
pub use episode::{Episode, EpisodeMeta, PENDING_FILE, custom_data};
pub use error::{RecorderError, Result};
pub use image::{ImageError, ImageRgb8, decode_image, to_rgb8, zbuf_bytes};
pub use labels::{LabelEvent, Segment, active_at, segments};
pub use recover::{Recovery, recover_episode};
pub use sync::{EpisodeReader, Frame, Gap, StreamKind, StreamSpec, SyncSpec, SyncedEpisode, Value};
pub use validate::{Validator, supported_types, validator};
pub use writer::{Compression, EpisodeWriter, WriterOptions};
pub use config::{RecordConfig, TopicConfig};
pub use control::{Control, KEY_HELP, KeyReader, install_signal_handlers, signalled};
pub use session::{ControlHandle, LiveCounters, Phase, Report, Schedule, Session, Status, TopicStatus};
pub use synthetic::{SyntheticRobot, SyntheticSpec};
