//! `kotoba replay`: recorded episodes (or a whole dataset) in rerun.

use anyhow::{Context, Result};
use clap::Args;
use kotoba_replay::{ReplayOptions, Target};
use std::path::PathBuf;

#[derive(Args)]
#[command(group = clap::ArgGroup::new("output").args(["rrd", "spawn", "connect"]))]
pub struct ReplayArgs {
    /// An episode directory (rosbag2 bag), a dataset directory (with index.json), or an .mcap file.
    pub path: PathBuf,
    /// Write an .rrd file instead of showing it (for a dataset: a directory of <episode>.rrd).
    #[arg(long, value_name = "FILE")]
    pub rrd: Option<PathBuf>,
    /// Start a rerun viewer (`rerun` on the PATH). The default.
    #[arg(long)]
    pub spawn: bool,
    /// Stream to a running viewer: HOST:PORT or rerun+http://HOST:PORT/proxy.
    #[arg(long, value_name = "ADDR")]
    pub connect: Option<String>,
    /// Robot description [default: the embedded urdf/kotoba_arm.urdf].
    #[arg(long, value_name = "URDF")]
    pub urdf: Option<PathBuf>,
    /// Robot poses per second (0 = one per joint state); joint series keep every sample.
    #[arg(long, default_value_t = 100.0)]
    pub robot_hz: f64,
    /// Do not send kotoba's viewer layout (blueprint).
    #[arg(long)]
    pub no_blueprint: bool,
}

pub fn run(a: ReplayArgs) -> Result<()> {
    let target = match (a.rrd, a.connect) {
        (Some(p), _) => Target::Rrd(p),
        (None, Some(addr)) => Target::Connect(addr),
        (None, None) => Target::Spawn,
    };
    let mut opts = ReplayOptions { robot_pose_hz: a.robot_hz, blueprint: !a.no_blueprint, ..Default::default() };
    if let Some(u) = &a.urdf {
        opts.urdf = Some(std::fs::read_to_string(u).with_context(|| format!("reading {}", u.display()))?);
    }
    let reports = kotoba_replay::replay(&a.path, &target, &opts)
        .with_context(|| format!("replaying {}", a.path.display()))?;
    for r in &reports {
        print!("{r}");
    }
    let undelivered = reports.iter().filter(|r| r.sink_error.is_some()).count();
    if undelivered > 0 {
        anyhow::bail!("{undelivered} of {} episodes did not reach rerun completely (see above)", reports.len());
    }
    if let Target::Rrd(p) = &target {
        println!("wrote {} (open with `rerun {}`)", p.display(), p.display());
    }
    Ok(())
}
