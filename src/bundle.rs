//! What `kotoba train --dataset` leaves next to its checkpoints so a robot can
//! run the policy with nothing else: `kotoba.json` (which topics and joints
//! make a sample, the gripper range, the instructions it was taught) and
//! `embeddings.json` (the sentence vectors of those instructions and labels,
//! keyed by encoder model id).

use crate::episodes::{GripperRange, SampleSpec};
use anyhow::{Context, Result};
use kotoba_text::EmbeddingCache;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const MANIFEST_FILE: &str = "kotoba.json";
pub const EMBEDDINGS_FILE: &str = "embeddings.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub sample: SampleSpec,
    pub gripper: GripperRange,
    pub instructions: Vec<String>,
    pub encoder_model_id: String,
}

impl Manifest {
    pub fn save(&self, cache: &EmbeddingCache, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let p = dir.join(MANIFEST_FILE);
        std::fs::write(&p, serde_json::to_vec_pretty(self)?).with_context(|| format!("writing {}", p.display()))?;
        cache.save(dir.join(EMBEDDINGS_FILE))?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<(Self, EmbeddingCache)> {
        let p = dir.join(MANIFEST_FILE);
        let bytes = std::fs::read(&p)
            .with_context(|| format!("reading {} (train with `kotoba train --dataset DIR` to create it)", p.display()))?;
        let m: Self = serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", p.display()))?;
        let cache = EmbeddingCache::load(dir.join(EMBEDDINGS_FILE))?;
        Ok((m, cache))
    }

}
