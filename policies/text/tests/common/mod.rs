// Shared by several test binaries; each uses only part of it.
#![allow(dead_code)]
//! Shared by the tests that need the installed model.

use kotoba_text::{BertEncoder, BertEncoderConfig};
use std::sync::OnceLock;

/// The default model, loaded once per test binary. A missing model fails the test with
/// the error's install hint: CI installs it with scripts/setup_text_model.sh first.
pub fn encoder() -> &'static BertEncoder {
    static ENC: OnceLock<BertEncoder> = OnceLock::new();
    ENC.get_or_init(|| {
        BertEncoder::load(&BertEncoderConfig::default()).unwrap_or_else(|e| panic!("{e}"))
    })
}

/// A fresh empty folder under the system temp dir, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("kotoba-text-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
