//! Plain types and traits shared by every kotoba crate.
//!
//! Nothing here knows about a transport, a tensor library or an async runtime, so
//! the real-time controller, the simulator and the learning code can all depend on
//! it without pulling anything heavy in.
//!
//! - [`Stamp`]: a ROS 2 `builtin_interfaces/Time`-compatible timestamp.
//! - [`Clock`]: injected time. [`SystemClock`] for real robots, [`SimClock`] fed
//!   from `/clock`, [`ManualClock`] for tests and deterministic replays.

mod bench;
mod clock;
mod stamp;

pub use bench::{BenchReport, BenchRow, Better, MMAP_THRESHOLD, TRIM_THRESHOLD, peer_allocator_env};

pub use clock::{Clock, ManualClock, SimClock, SystemClock};
pub use stamp::Stamp;
