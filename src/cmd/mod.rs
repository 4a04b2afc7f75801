//! One module per `kotoba` subcommand.

pub mod bench;
mod bench_transport;
pub mod conn;
pub mod router;
pub mod topic;
// -- modules added by later issues go below this line --
pub mod replay;
pub mod train;
pub mod embed;
pub mod record;
pub mod launch;
pub mod run;
pub mod view;
#[cfg(feature = "sim")]
pub mod demo;
pub mod demo_recipe;
#[cfg(feature = "sim")]
pub mod eval;
#[cfg(feature = "sim")]
pub mod sim;
#[cfg(feature = "sim")]
pub mod teleop;
#[cfg(feature = "sim")]
mod teleop_jog;
#[cfg(feature = "sim")]
mod teleop_keys;
#[cfg(feature = "sim")]
mod teleop_leader;
#[cfg(feature = "sim")]
mod teleop_map;
