//! Embeddings keyed by (model id, text), saved next to datasets and policy checkpoints so
//! training and the robot use the very same vectors, and the robot needs no encoder run
//! for phrases it has seen.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::encoder::TextEncoder;
use crate::error::{Result, TextError};

/// Written into every cache file; files of another format are refused.
pub const CACHE_FORMAT: &str = "kotoba-text-embeddings/1";

/// Vectors by model id, then by the exact text that was embedded.
///
/// Saved as JSON: f32 values are written in their shortest exact decimal form, so a
/// save/load round trip gives bit-identical vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingCache {
    format: String,
    models: BTreeMap<String, ModelVectors>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelVectors {
    dim: usize,
    vectors: BTreeMap<String, Vec<f32>>,
}

impl Default for EmbeddingCache {
    fn default() -> Self {
        Self {
            format: CACHE_FORMAT.into(),
            models: BTreeMap::new(),
        }
    }
}

impl EmbeddingCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The cached vector, if any; needs no encoder.
    pub fn get(&self, model_id: &str, text: &str) -> Option<&[f32]> {
        self.models
            .get(model_id)?
            .vectors
            .get(text)
            .map(Vec::as_slice)
    }

    /// Like [`get`](Self::get), but a missing phrase is an error that says so.
    pub fn lookup(&self, model_id: &str, text: &str) -> Result<&[f32]> {
        self.get(model_id, text)
            .ok_or_else(|| TextError::NotCached {
                model_id: model_id.into(),
                text: text.into(),
            })
    }

    /// Stores a vector; every vector of one model must have the same length.
    pub fn insert(&mut self, model_id: &str, text: &str, vector: Vec<f32>) -> Result<()> {
        let entry = self
            .models
            .entry(model_id.to_owned())
            .or_insert_with(|| ModelVectors {
                dim: vector.len(),
                vectors: BTreeMap::new(),
            });
        if vector.len() != entry.dim {
            return Err(TextError::DimensionMismatch {
                model_id: model_id.into(),
                expected: entry.dim,
                got: vector.len(),
            });
        }
        entry.vectors.insert(text.to_owned(), vector);
        Ok(())
    }

    /// The cached vector of `text` under the encoder's model id, embedding it first if absent.
    pub fn get_or_embed(&mut self, encoder: &dyn TextEncoder, text: &str) -> Result<&[f32]> {
        let id = encoder.model_id();
        if self.get(id, text).is_none() {
            let v = encoder.embed_one(text)?;
            self.insert(id, text, v)?;
        }
        self.lookup(id, text)
    }

    /// Like [`get_or_embed`](Self::get_or_embed) for many texts; the missing ones are
    /// embedded in one `embed` call (batched by the encoder).
    pub fn get_or_embed_many(
        &mut self,
        encoder: &dyn TextEncoder,
        texts: &[&str],
    ) -> Result<Vec<&[f32]>> {
        let id = encoder.model_id();
        let mut missing: Vec<&str> = texts
            .iter()
            .copied()
            .filter(|t| self.get(id, t).is_none())
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if !missing.is_empty() {
            for (t, v) in missing.iter().zip(encoder.embed(&missing)?) {
                self.insert(id, t, v)?;
            }
        }
        texts.iter().map(|t| self.lookup(id, t)).collect()
    }

    /// Number of cached vectors over all models.
    pub fn len(&self) -> usize {
        self.models.values().map(|m| m.vectors.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Model ids present in the cache.
    pub fn model_ids(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// Texts cached for one model, in sorted order.
    pub fn texts(&self, model_id: &str) -> impl Iterator<Item = &str> {
        self.models
            .get(model_id)
            .into_iter()
            .flat_map(|m| m.vectors.keys().map(String::as_str))
    }

    /// Vector length of one model's entries.
    pub fn dim(&self, model_id: &str) -> Option<usize> {
        self.models.get(model_id).map(|m| m.dim)
    }

    /// Adds another cache's entries (e.g. from a second dataset). The same (model, text)
    /// with a different vector is an error rather than a silent overwrite.
    pub fn merge(&mut self, other: &EmbeddingCache) -> Result<()> {
        for (id, m) in &other.models {
            for (text, v) in &m.vectors {
                match self.get(id, text) {
                    Some(old) if old != v.as_slice() => {
                        return Err(TextError::CacheConflict {
                            model_id: id.clone(),
                            text: text.clone(),
                        });
                    }
                    Some(_) => {}
                    None => self.insert(id, text, v.clone())?,
                }
            }
        }
        Ok(())
    }

    /// Writes the cache as JSON (to a temporary file first, then renamed into place).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let io = |source| TextError::CacheIo {
            path: path.to_path_buf(),
            source,
        };
        let json = serde_json::to_vec(self).map_err(|e| TextError::CacheFormat {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, json).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// Reads a cache written by [`save`](Self::save), checking format, lengths and values.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bad = |reason: String| TextError::CacheFormat {
            path: path.to_path_buf(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|source| TextError::CacheIo {
            path: path.to_path_buf(),
            source,
        })?;
        let cache: Self = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if cache.format != CACHE_FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {CACHE_FORMAT:?}",
                cache.format
            )));
        }
        for (id, m) in &cache.models {
            for (text, v) in &m.vectors {
                if v.len() != m.dim {
                    return Err(bad(format!(
                        "{text:?} of model {id} has {} values, the model's dim is {}",
                        v.len(),
                        m.dim
                    )));
                }
                if v.iter().any(|x| !x.is_finite()) {
                    return Err(bad(format!(
                        "{text:?} of model {id} holds a non-finite value"
                    )));
                }
            }
        }
        Ok(cache)
    }
}
