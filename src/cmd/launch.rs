//! `kotoba launch FILE`: start several kotoba nodes as child processes from a
//! native TOML launch file (the ROS 2 XML launch files in `launch/` do the same
//! through `ros2 launch`). Each node's output is prefixed with its name;
//! Ctrl-C, or the exit of a node marked `required`, stops all the others.

use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Deserialize;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct LaunchArgs {
    /// Launch file (TOML): `[[node]]` tables with `name`, `args`, optional
    /// `delay_s` and `required`.
    pub file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchFile {
    #[serde(rename = "node")]
    pub nodes: Vec<Node>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    /// Arguments of the `kotoba` binary, e.g. `["sim", "--seed", "3"]`.
    pub args: Vec<String>,
    /// Seconds to wait after the previous node started (a router first, say).
    #[serde(default)]
    pub delay_s: f64,
    /// When this node exits, stop every other node and exit with its status.
    #[serde(default)]
    pub required: bool,
}

struct Running {
    name: String,
    child: Child,
    required: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // SIGINT first so nodes close their files (the recorder seals its bag).
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline && self.child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn pipe(name: String, r: impl std::io::Read + Send + 'static, err: bool) {
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(|l| l.ok()) {
            if err {
                eprintln!("[{name}] {line}");
            } else {
                println!("[{name}] {line}");
            }
        }
    });
}

pub fn run(a: LaunchArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.file).with_context(|| format!("reading {}", a.file.display()))?;
    let file: LaunchFile = toml::from_str(&text).with_context(|| format!("parsing {}", a.file.display()))?;
    if file.nodes.is_empty() {
        bail!("{} starts no node (add [[node]] tables)", a.file.display());
    }
    let exe = std::env::current_exe().context("locating the kotoba binary")?;
    // SIGINT/SIGTERM (Ctrl-C also reaches the children, which stop on their own).
    kotoba_recorder::install_signal_handlers();
    let mut running: Vec<Running> = Vec::new();
    for n in &file.nodes {
        if n.delay_s > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(n.delay_s));
        }
        let mut child = Command::new(&exe)
            .args(&n.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting node {} ({:?})", n.name, n.args))?;
        pipe(n.name.clone(), child.stdout.take().expect("piped"), false);
        pipe(n.name.clone(), child.stderr.take().expect("piped"), true);
        eprintln!("launch: started {} (pid {}): kotoba {}", n.name, child.id(), n.args.join(" "));
        running.push(Running { name: n.name.clone(), child, required: n.required });
    }
    loop {
        if kotoba_recorder::signalled() {
            eprintln!("launch: interrupted, stopping every node");
            return Ok(());
        }
        let mut i = 0;
        while i < running.len() {
            if let Some(status) = running[i].child.try_wait()? {
                let r = running.remove(i);
                eprintln!("launch: {} exited ({status})", r.name);
                if r.required {
                    drop(running); // stops the others
                    if status.success() {
                        return Ok(());
                    }
                    bail!("required node {} failed ({status})", r.name);
                }
            } else {
                i += 1;
            }
        }
        if running.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
