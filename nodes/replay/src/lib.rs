#![doc = include_str!("../README.md")]

/// `kotoba bench replay`, and the synthetic episode writer it (and the tests) use.
pub mod bench;
mod blueprint;
mod error;
mod export;
mod live;
mod logger;
mod robot;
mod source;

pub use blueprint::default_blueprint;
pub use error::{ReplayError, Result};
pub use export::{EpisodeSource, ExportReport, ReplayOptions, export_episode};
pub use live::{LiveEvent, LiveSender, LiveStats, LiveView};
pub use logger::{Logger, Stamp, TL_EPISODE_TIME, TL_SAMPLE, TL_STAMP, paths, topic_path};
pub use robot::{DEFAULT_URDF, Robot, Shape, Visual};
pub use source::{APP_ID, Target, find_episodes, open_stream, replay};
/// The rerun SDK this crate logs with (for callers building their own streams).
pub use rerun;
