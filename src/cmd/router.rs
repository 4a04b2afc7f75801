//! `kotoba router`: a Zenoh router on rmw_zenoh's default port, so one machine
//! works with nothing else installed. Equivalent to `ros2 run rmw_zenoh_cpp rmw_zenohd`.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct RouterArgs {
    /// Endpoint to listen on, repeatable. The default serves this machine and the
    /// local network on rmw_zenoh's port; use `tcp/127.0.0.1:7447` for this machine only.
    #[arg(long, value_name = "ENDPOINT", default_values_t = [String::from("tcp/0.0.0.0:7447")])]
    pub listen: Vec<String>,
    /// A Zenoh JSON5 router config instead of the defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

pub fn run(a: RouterArgs) -> Result<()> {
    let session = kotoba_bus::start_router(&a.listen, a.config.as_deref())
        .map_err(|e| anyhow::anyhow!("{e} (is another router already listening on {:?}?)", a.listen))?;
    eprintln!("kotoba router {} listening on {:?}; Ctrl-C to stop", session.zid(), a.listen);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(tokio::signal::ctrl_c())?;
    drop(session);
    Ok(())
}
