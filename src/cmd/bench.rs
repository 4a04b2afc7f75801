//! `kotoba bench <name>`: every benchmark of the project behind one command.

use anyhow::Result;
use clap::{Args, ValueEnum};
use kotoba_core::BenchReport;

#[derive(Args)]
pub struct BenchArgs {
    /// Which benchmark to run.
    pub name: BenchName,
    /// Print machine-readable JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Shorter run (fewer samples) for smoke tests; figures are noisier.
    #[arg(long)]
    pub quick: bool,
    /// `controller` and `rt`: wake this many microseconds before each 1 kHz
    /// deadline and busy-wait the rest (`RtConfig::spin_ns`); costs that share
    /// of a CPU, hides the kernel's wake-up latency. 0 = plain sleeps.
    #[arg(long, default_value_t = 0, value_name = "US")]
    pub spin_us: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BenchName {
    /// JointState publish→receive latency: loopback Zenoh, in-process, Python zenoh peer.
    Transport,
    // -- benchmarks added by later issues go below this line --
    /// Replay: export time of a 60 s episode (2 cameras 640x480 @ 30 Hz, 1 kHz joints) to .rrd.
    Replay,
    /// SARNN policy: candle vs PyTorch inference, training throughput, error-regression cost.
    Policy,
    /// Sentence encoder throughput (batch 1 and 32) vs. sentence-transformers.
    Text,
    /// Simulator real-time factor at 1 kHz physics, without and with a 128x128 camera at 10 Hz (feature `sim`).
    #[cfg(feature = "sim")]
    Sim,
    /// Recorder: messages/s written to MCAP and drops under a 1 kHz joints + 2x30 Hz camera load.
    Recorder,
    /// Controller tick time (6/7 joints), a 60 s 1 kHz loop run (jitter, misses), tracking AIC vs PD.
    Controller,
    /// This machine's 1 kHz wake-up jitter on its own (like cyclictest): check a robot computer.
    Rt,
}

pub fn run(a: BenchArgs) -> Result<()> {
    let report: BenchReport = match a.name {
        BenchName::Transport => crate::cmd::bench_transport::run(a.quick)?,
        // -- dispatch for later benchmarks goes below this line --
        BenchName::Replay => kotoba_replay::bench::run(a.quick)?,
        BenchName::Policy => crate::cmd::train::bench_policy(a.quick)?,
        BenchName::Text => crate::cmd::embed::bench_text(a.quick)?,
        #[cfg(feature = "sim")]
        BenchName::Sim => kotoba_sim::bench_sim(a.quick)?,
        BenchName::Recorder => kotoba_recorder::bench::run(a.quick)?,
        BenchName::Controller => kotoba_controller::bench::controller(a.quick, a.spin_us * 1000)?,
        BenchName::Rt => kotoba_controller::bench::rt(a.quick, a.spin_us * 1000)?,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}
