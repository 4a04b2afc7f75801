#![doc = include_str!("../README.md")]

mod bench;
mod bert;
mod cache;
mod config;
mod encoder;
mod error;

pub use bench::bench_sentences;
pub use bert::BertEncoder;
pub use cache::{CACHE_FORMAT, EmbeddingCache};
pub use config::{
    BertEncoderConfig, DEFAULT_MODEL_ID, DeviceConfig, EncoderConfig, default_model_dir,
    models_root,
};
pub use encoder::{TextEncoder, cosine};
pub use error::{INSTALL_HINT, Result, TextError};
