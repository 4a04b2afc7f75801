//! Shared by the CLI end-to-end tests: a child process killed on drop, and a
//! router started through the real binary on a free loopback port.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Kill(pub Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn kotoba() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kotoba"))
}

pub fn router() -> (Kill, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ep = format!("tcp/127.0.0.1:{port}");
    let child = kotoba().args(["router", "--listen", &ep]).stderr(Stdio::null()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "router did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    (Kill(child), ep)
}

/// `kotoba sim` connected to the router at `ep`, quiet, with extra arguments;
/// killed on drop.
pub fn sim(ep: &str, extra: &[&str]) -> Kill {
    Kill(kotoba().arg("sim").args(extra).args(["--connect", ep]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap())
}
