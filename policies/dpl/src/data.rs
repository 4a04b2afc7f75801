//! The in-memory training set: episodes already resampled to the model rate and
//! resized to the model's image size. The recorder's reader (or anything else)
//! fills [`Episode`]s; [`crate::prep`] holds the resampling helpers.

use serde::{Deserialize, Serialize};

use crate::error::{DplError, Result, check_finite};

/// One demonstration at the model rate.
#[derive(Debug, Clone)]
pub struct Episode {
    /// `T x H x W x 3` RGB, row-major.
    pub images: Vec<u8>,
    pub height: usize,
    pub width: usize,
    /// `T x D` raw joint positions (not normalised).
    pub joints: Vec<f32>,
    pub num_joints: usize,
    /// Sentence embedding of the spoken/typed instruction.
    pub instruction: Vec<f32>,
    /// Index into [`Dataset::labels`] of the label active at each step.
    pub labels: Vec<usize>,
    /// `T x D` what the joint head learns to predict one step ahead, when that
    /// is not the next measured joints: e.g. the commanded positions, which
    /// lead the measured ones by the servo's lag. `None`: the joints themselves.
    pub targets: Option<Vec<f32>>,
}

impl Episode {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn joint_row(&self, t: usize) -> &[f32] {
        &self.joints[t * self.num_joints..(t + 1) * self.num_joints]
    }
    /// For each step, the last step of its label segment: when the phase it
    /// belongs to ends (the subgoal head's target time).
    pub fn phase_ends(&self) -> Vec<usize> {
        let mut ends = vec![0; self.len()];
        let mut end = self.len().saturating_sub(1);
        for t in (0..self.len()).rev() {
            if t + 1 < self.len() && self.labels[t + 1] != self.labels[t] {
                end = t;
            }
            ends[t] = end;
        }
        ends
    }
    pub fn image(&self, t: usize) -> &[u8] {
        let n = self.height * self.width * 3;
        &self.images[t * n..(t + 1) * n]
    }
}

/// The label vocabulary: names and their sentence embeddings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelVocab {
    pub names: Vec<String>,
    /// `V x E`.
    pub embeddings: Vec<f32>,
    pub embed_dim: usize,
}

impl LabelVocab {
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn embedding(&self, i: usize) -> &[f32] {
        &self.embeddings[i * self.embed_dim..(i + 1) * self.embed_dim]
    }

    /// The label whose embedding is most similar to `emb`, so a spoken phrase
    /// maps to the taught label it is closest to; 0 for an empty vocabulary.
    pub fn nearest(&self, emb: &[f32]) -> usize {
        most_similar((0..self.len()).map(|i| self.embedding(i)), emb).unwrap_or(0)
    }
}

/// The position of the row most similar to `query`: the largest dot product,
/// since sentence embeddings are unit length; `None` for no rows.
pub(crate) fn most_similar<'a>(rows: impl Iterator<Item = &'a [f32]>, query: &[f32]) -> Option<usize> {
    let dot = |r: &[f32]| r.iter().zip(query).map(|(a, b)| a * b).sum::<f32>();
    rows.enumerate().map(|(i, r)| (i, dot(r))).max_by(|a, b| a.1.total_cmp(&b.1)).map(|(i, _)| i)
}

/// Episodes plus their shared label vocabulary.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub episodes: Vec<Episode>,
    pub labels: LabelVocab,
}

/// Shape facts every episode of a dataset agrees on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasetShape {
    pub height: usize,
    pub width: usize,
    pub joints: usize,
    pub embed_dim: usize,
    pub labels: usize,
    pub max_len: usize,
}

impl Dataset {
    /// The different instructions the episodes carry, in order of first
    /// appearance (the order of a checkpoint's `start_labels`).
    pub fn instructions(&self) -> Vec<&[f32]> {
        let mut seen: Vec<&[f32]> = Vec::new();
        for e in &self.episodes {
            if !seen.contains(&e.instruction.as_slice()) {
                seen.push(&e.instruction);
            }
        }
        seen
    }

    /// How many different instructions the episodes carry.
    pub fn instruction_count(&self) -> usize {
        self.instructions().len()
    }

    /// The usual label sequence (repeats collapsed) of the episodes taught
    /// with `instruction`: its phases ([`crate::phases`]).
    pub fn usual_phases(&self, instruction: &[f32]) -> Vec<usize> {
        let runs: Vec<Vec<usize>> =
            self.episodes.iter().filter(|e| e.instruction == instruction).map(|e| crate::phases::label_runs(&e.labels)).collect();
        crate::phases::usual_sequence(&runs)
    }

    /// The most phases any taught instruction has: the subgoal maps per
    /// instruction [`crate::ModelConfig::goal_phases`] needs.
    pub fn most_phases(&self) -> usize {
        self.instructions().into_iter().map(|i| self.usual_phases(i).len()).max().unwrap_or(0)
    }

    /// Checks that the dataset is non-empty, consistent and finite, and returns its shape.
    pub fn validate(&self) -> Result<DatasetShape> {
        let first = self
            .episodes
            .first()
            .ok_or_else(|| DplError::EmptyDataset("no episodes".into()))?;
        if self.labels.is_empty() {
            return Err(DplError::EmptyDataset("label vocabulary is empty".into()));
        }
        if self.labels.embeddings.len() != self.labels.len() * self.labels.embed_dim {
            return Err(DplError::mismatch(
                "label embedding table size",
                self.labels.len() * self.labels.embed_dim,
                self.labels.embeddings.len(),
            ));
        }
        check_finite("label embeddings", &self.labels.embeddings)?;
        let shape = DatasetShape {
            height: first.height,
            width: first.width,
            joints: first.num_joints,
            embed_dim: self.labels.embed_dim,
            labels: self.labels.len(),
            max_len: self.episodes.iter().map(Episode::len).max().unwrap_or(0),
        };
        for (i, ep) in self.episodes.iter().enumerate() {
            let what = |w: &str| format!("episode {i}: {w}");
            let t = ep.len();
            if t < 2 {
                return Err(DplError::EmptyDataset(what(
                    "fewer than 2 steps, nothing to predict",
                )));
            }
            if (ep.height, ep.width) != (shape.height, shape.width) {
                return Err(DplError::mismatch(
                    what("image size"),
                    format!("{}x{}", shape.height, shape.width),
                    format!("{}x{}", ep.height, ep.width),
                ));
            }
            if ep.num_joints != shape.joints {
                return Err(DplError::mismatch(
                    what("joint count"),
                    shape.joints,
                    ep.num_joints,
                ));
            }
            if ep.images.len() != t * ep.height * ep.width * 3 {
                return Err(DplError::mismatch(
                    what("image bytes"),
                    t * ep.height * ep.width * 3,
                    ep.images.len(),
                ));
            }
            if ep.joints.len() != t * ep.num_joints {
                return Err(DplError::mismatch(
                    what("joint values"),
                    t * ep.num_joints,
                    ep.joints.len(),
                ));
            }
            if ep.instruction.len() != shape.embed_dim {
                return Err(DplError::mismatch(
                    what("instruction embedding size"),
                    shape.embed_dim,
                    ep.instruction.len(),
                ));
            }
            if let Some(&bad) = ep.labels.iter().find(|&&l| l >= shape.labels) {
                return Err(DplError::mismatch(
                    what("label index"),
                    format!("< {}", shape.labels),
                    bad,
                ));
            }
            if let Some(tg) = &ep.targets {
                if tg.len() != ep.joints.len() {
                    return Err(DplError::mismatch(what("joint target values"), ep.joints.len(), tg.len()));
                }
                check_finite(&what("joint targets"), tg)?;
            }
            check_finite(&what("joints"), &ep.joints)?;
            check_finite(&what("instruction embedding"), &ep.instruction)?;
        }
        Ok(shape)
    }

    /// Splits episode indices into (train, validation) by whole episodes, shuffled
    /// by `seed`. At least one episode trains; a fraction above 0 holds out at
    /// least one when there are two or more, and 0 holds out none.
    pub fn split(&self, val_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
        use rand::{SeedableRng, seq::SliceRandom};
        let n = self.episodes.len();
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
        let mut n_val = ((n as f64) * val_fraction).round() as usize;
        if n >= 2 && val_fraction > 0.0 {
            // Any fraction asked for holds out at least one episode and keeps one to train on.
            n_val = n_val.clamp(1, n - 1);
        } else {
            n_val = 0;
        }
        let val = idx.split_off(n - n_val);
        (idx, val)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_points_at_the_end_of_its_phase() {
        let ep = Episode {
            images: Vec::new(),
            height: 0,
            width: 0,
            joints: Vec::new(),
            num_joints: 0,
            instruction: Vec::new(),
            labels: vec![0, 0, 1, 1, 1, 0, 2],
            targets: None,
        };
        assert_eq!(ep.phase_ends(), [1, 1, 4, 4, 4, 5, 6]);
    }
}
