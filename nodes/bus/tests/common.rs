//! Shared set-up: a real Zenoh router on a free loopback port per test.

use kotoba_bus::{Bus, BusConfig};

pub struct Net {
    pub endpoint: String,
    _router: zenoh::Session,
}

pub fn net() -> Net {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("tcp/127.0.0.1:{port}");
    let router = kotoba_bus::start_router(std::slice::from_ref(&endpoint), None).expect("router");
    Net { endpoint, _router: router }
}

impl Net {
    pub fn node(&self, name: &str) -> Bus {
        let mut cfg = BusConfig::default();
        cfg.zenoh.connect = vec![self.endpoint.clone()];
        cfg.zenoh.listen = vec!["tcp/127.0.0.1:0".into()];
        cfg.zenoh.domain_id = Some(0);
        Bus::open(&cfg, name).expect("open bus")
    }
}

pub fn wait_until(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    f()
}
