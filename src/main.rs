//! `kotoba`: record, train, run and replay language-conditioned robot policies on ROS 2.
//!
//! Each subcommand lives in its own module under `cmd/` and stays thin: parse
//! arguments, build a typed config, call into a library crate.

mod bundle;
mod cmd;
mod controllers;
mod episodes;
mod policy_msgs;
#[cfg(feature = "sim")]
mod demo_noise;
#[cfg(feature = "sim")]
mod rollout;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "kotoba", version, about = "言葉 — language-conditioned robot learning on ROS 2", long_about = None)]
struct Cli {
    /// Log filter, e.g. `info`, `kotoba=debug,zenoh=warn` (RUST_LOG syntax).
    #[arg(long, global = true, default_value = "info,zenoh=warn,mujoco=error")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and publish ROS 2 topics (like `ros2 topic`).
    #[command(subcommand)]
    Topic(cmd::topic::TopicCmd),
    /// Run an embedded Zenoh router on the rmw_zenoh default port (like `rmw_zenohd`).
    Router(cmd::router::RouterArgs),
    /// Run a benchmark and print a table (or JSON).
    Bench(cmd::bench::BenchArgs),
    // -- subcommands added by later issues go below this line --
    /// Replay recorded episodes (or a whole dataset) in rerun: robot, cameras, joints, words, predictions.
    Replay(cmd::replay::ReplayArgs),
    /// Train the language-conditioned SARNN policy (deep predictive learning).
    Train(cmd::train::TrainArgs),
    /// Record demonstrations (joints, cameras, commands, verbal labels) into rosbag2 episodes.
    Record(cmd::record::RecordArgs),
    /// Run a trained policy + the active-inference controller (1 kHz, RT thread) against a robot's topics.
    Run(cmd::run::RunArgs),
    /// Start several kotoba nodes from a TOML launch file (see launch/).
    Launch(cmd::launch::LaunchArgs),
    /// Print the sentence embedding of a text (and the encoder's model id).
    Embed(cmd::embed::EmbedArgs),
    /// The end-to-end towel-folding demo: record demonstrations, train, fold on unseen seeds (feature `sim`).
    #[cfg(feature = "sim")]
    Demo(cmd::demo::DemoArgs),
    /// Closed-loop rollouts of a trained policy in the simulator: success, progress, instruction following, ablations (feature `sim`).
    #[cfg(feature = "sim")]
    Eval(cmd::eval::EvalArgs),
    /// Run the MuJoCo robot + towel simulation as a ROS 2 node (feature `sim`).
    #[cfg(feature = "sim")]
    Sim(cmd::sim::SimArgs),
    /// Teleoperate: `--keys` (keyboard jogging), `--leader TOPIC` (leader arm) or `--scripted` (expert demonstrator) (feature `sim`).
    #[cfg(feature = "sim")]
    Teleop(cmd::teleop::TeleopArgs),
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    let cli = Cli::parse();
    init_logging(&cli.log);
    let result = match cli.command {
        Command::Topic(c) => cmd::topic::run(c),
        Command::Router(a) => cmd::router::run(a),
        Command::Bench(a) => cmd::bench::run(a),
        // -- dispatch for later subcommands goes below this line --
        Command::Replay(a) => cmd::replay::run(a),
        Command::Train(a) => cmd::train::run(a),
        Command::Embed(a) => cmd::embed::run(a),
        Command::Record(a) => cmd::record::run(a),
        Command::Launch(a) => cmd::launch::run(a),
        Command::Run(a) => cmd::run::run(a),
        #[cfg(feature = "sim")]
        Command::Demo(a) => cmd::demo::run(a),
        #[cfg(feature = "sim")]
        Command::Eval(a) => cmd::eval::run(a),
        #[cfg(feature = "sim")]
        Command::Sim(a) => cmd::sim::run(a),
        #[cfg(feature = "sim")]
        Command::Teleop(a) => cmd::teleop::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Training allocates and frees tensors of a few MB thousands of times a
/// second. glibc serves those with mmap/munmap by default, so every step pays
/// fresh page faults (a third of training time was system time). Keep freed
/// memory in the heap for reuse instead.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, kotoba_core::MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_TRIM_THRESHOLD, kotoba_core::TRIM_THRESHOLD as libc::c_int);
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks a command's definition only when it is parsed; this checks
    /// every subcommand's (conflicting names, bad groups) at once.
    #[test]
    fn every_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
