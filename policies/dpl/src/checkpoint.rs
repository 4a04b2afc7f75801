//! A trained model on disk: `model.safetensors` (every weight plus the label
//! embedding table) and `config.json` (model shape, joint normalisation, label
//! names), enough to rebuild the network with nothing else.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::{JointNorm, ModelConfig};
use crate::data::LabelVocab;
use crate::error::{DplError, Result};
use crate::model::Sarnn;

pub const MODEL_FILE: &str = "model.safetensors";
pub const CONFIG_FILE: &str = "config.json";
const FORMAT: u32 = 1;
const LABEL_TABLE: &str = "label_embeddings";

/// What `config.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    pub format: u32,
    pub model: ModelConfig,
    pub norm: JointNorm,
    pub label_names: Vec<String>,
    /// Label assumed active at the first step when none is given at run time.
    pub start_label: usize,
    /// The same per taught instruction (the first label differs between tasks).
    #[serde(default)]
    pub start_labels: Vec<InstructionStart>,
}

/// The label a task's demonstrations most often start with, keyed by the
/// instruction's embedding, and the labels they most often go through.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstructionStart {
    pub instruction: Vec<f32>,
    pub label: usize,
    /// The task's usual label sequence, repeats collapsed
    /// ([`crate::phases::usual_sequence`]): the phases of a subgoal head with
    /// [`crate::ModelConfig::goal_phases`]. Empty in checkpoints from before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<usize>,
}

/// A model with everything needed to use it on a robot.
pub struct Checkpoint {
    pub model: Sarnn,
    pub norm: JointNorm,
    pub labels: LabelVocab,
    pub start_label: usize,
    pub start_labels: Vec<InstructionStart>,
}

pub(crate) fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(v).map_err(|source| DplError::Json {
        path: path.into(),
        source,
    })?;
    std::fs::write(path, s).map_err(DplError::io(path))
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let s = std::fs::read_to_string(path).map_err(DplError::io(path))?;
    serde_json::from_str(&s).map_err(|source| DplError::Json {
        path: path.into(),
        source,
    })
}

impl Checkpoint {
    pub fn config(&self) -> CheckpointConfig {
        CheckpointConfig {
            format: FORMAT,
            model: self.model.config().clone(),
            norm: self.norm.clone(),
            label_names: self.labels.names.clone(),
            start_label: self.start_label,
            start_labels: self.start_labels.clone(),
        }
    }

    /// The label assumed at the first step of `instruction`: that of the most
    /// similar taught instruction (embeddings are unit length, so the largest dot
    /// product), else the overall start label.
    pub fn start_label_for(&self, instruction: &[f32]) -> usize {
        self.start_labels.get(self.instruction_index(instruction)).map_or(self.start_label, |s| s.label)
    }

    /// Refuses a subgoal head with a map per instruction
    /// ([`crate::ModelConfig::goal_instructions`]) for another number of taught
    /// instructions than `start_labels` lists, and one with maps per phase
    /// ([`crate::ModelConfig::goal_phases`]) too few for a taught sequence.
    pub fn check_goal_maps(&self) -> Result<()> {
        let cfg = self.model.config();
        let maps = cfg.goal_instructions;
        if maps > 0 && maps != self.start_labels.len() {
            return Err(DplError::mismatch("taught instructions (the subgoal head's maps)", maps, self.start_labels.len()));
        }
        if cfg.goal_phases > 0 {
            let longest = self.start_labels.iter().map(|s| s.phases.len()).max().unwrap_or(0);
            if longest == 0 || longest > cfg.goal_phases {
                return Err(DplError::mismatch("phases of the longest taught task (the subgoal head's maps per instruction)", cfg.goal_phases, longest));
            }
            if maps == 0 && self.start_labels.len() > 1 {
                return Err(DplError::Config(format!(
                    "a subgoal map per phase for {} taught instructions needs a block of maps per instruction (goal_instructions): their phases differ",
                    self.start_labels.len()
                )));
            }
        }
        Ok(())
    }

    /// The phase sequence of taught instruction `index` ([`Checkpoint::instruction_index`]).
    pub fn phases(&self, index: usize) -> &[usize] {
        self.start_labels.get(index).map_or(&[], |s| s.phases.as_slice())
    }

    /// The position in `start_labels` of the most similar taught instruction
    /// (the largest dot product); 0 when there is none.
    pub fn instruction_index(&self, instruction: &[f32]) -> usize {
        crate::data::most_similar(self.start_labels.iter().map(|s| s.instruction.as_slice()), instruction).unwrap_or(0)
    }

    /// Writes `dir/model.safetensors` and `dir/config.json` (creating `dir`).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(DplError::io(dir))?;
        let mut map: HashMap<String, Tensor> = self
            .model
            .params()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let e = self.labels.embed_dim;
        let table = Tensor::from_slice(
            &self.labels.embeddings,
            (self.labels.len(), e),
            &Device::Cpu,
        )?;
        map.insert(LABEL_TABLE.to_string(), table);
        let path = dir.join(MODEL_FILE);
        candle_core::safetensors::save(&map, &path).map_err(|e| DplError::Checkpoint {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        write_json(&dir.join(CONFIG_FILE), &self.config())
    }

    /// Reads a checkpoint written by [`Checkpoint::save`], checking that every tensor
    /// is present with the shape the config implies.
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let cfg: CheckpointConfig = read_json(&dir.join(CONFIG_FILE))?;
        let path = dir.join(MODEL_FILE);
        let err = |msg: String| DplError::Checkpoint {
            path: path.clone(),
            msg,
        };
        if cfg.format != FORMAT {
            return Err(err(format!(
                "format {} (this build reads {FORMAT})",
                cfg.format
            )));
        }
        if cfg.norm.dim() != cfg.model.joints || cfg.norm.max.len() != cfg.model.joints {
            return Err(err(format!(
                "normalisation has {} joints, model {}",
                cfg.norm.dim(),
                cfg.model.joints
            )));
        }
        let bad_start = cfg
            .start_labels
            .iter()
            .any(|s| s.label >= cfg.model.labels || s.instruction.len() != cfg.model.embed_dim || s.phases.iter().any(|&l| l >= cfg.model.labels));
        if bad_start {
            return Err(err(format!(
                "a per-instruction start label or phase is out of range, or an instruction not {}-wide",
                cfg.model.embed_dim
            )));
        }
        if cfg.label_names.len() != cfg.model.labels || cfg.start_label >= cfg.model.labels {
            return Err(err(format!(
                "{} label names / start label {} for a {}-label model",
                cfg.label_names.len(),
                cfg.start_label,
                cfg.model.labels
            )));
        }
        let mut tensors =
            candle_core::safetensors::load(&path, device).map_err(|e| err(e.to_string()))?;
        let model = Sarnn::new(&cfg.model, 0, device)?;
        for (name, var) in model.params().iter() {
            let t = tensors
                .remove(name)
                .ok_or_else(|| err(format!("missing tensor {name}")))?;
            if t.dims() != var.dims() {
                return Err(err(format!(
                    "{name}: shape {:?}, config implies {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            var.set(&t)?;
        }
        let table = tensors
            .remove(LABEL_TABLE)
            .ok_or_else(|| err(format!("missing tensor {LABEL_TABLE}")))?;
        if table.dims() != [cfg.model.labels, cfg.model.embed_dim] {
            return Err(err(format!("{LABEL_TABLE}: shape {:?}", table.dims())));
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(err(format!(
                "unexpected tensor {extra} (config and weights disagree)"
            )));
        }
        let labels = LabelVocab {
            names: cfg.label_names,
            embeddings: table.flatten_all()?.to_vec1()?,
            embed_dim: cfg.model.embed_dim,
        };
        Ok(Self {
            model,
            norm: cfg.norm,
            labels,
            start_label: cfg.start_label,
            start_labels: cfg.start_labels,
        })
    }
}
