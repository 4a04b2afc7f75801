//! Adam (EIPL: `Adam(eps=1e-7)`, lr 1e-3) with its moments exposed so that a
//! resumed run continues exactly where it stopped.

use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};

use crate::error::{DplError, Result};
use crate::params::Params;

pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub steps: u64,
    /// Decoupled (AdamW) decay of the parameters named `*.weight`; 0 = none.
    pub weight_decay: f64,
    slots: Vec<(String, Var, Tensor, Tensor)>,
}

impl Adam {
    pub fn new(params: &Params, lr: f64, eps: f64) -> Result<Self> {
        Self::from_vars(params.iter().map(|(n, v)| (n.clone(), v.clone())), lr, eps)
    }

    pub fn from_vars(
        vars: impl IntoIterator<Item = (String, Var)>,
        lr: f64,
        eps: f64,
    ) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|(n, v)| Ok((n, v.clone(), v.zeros_like()?, v.zeros_like()?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            lr,
            beta1: 0.9,
            beta2: 0.999,
            eps,
            steps: 0,
            weight_decay: 0.0,
            slots,
        })
    }

    /// Forgets the moments (for a fresh regression start).
    pub fn reset(&mut self) -> Result<()> {
        self.steps = 0;
        for (_, _, m, v) in &mut self.slots {
            *m = m.zeros_like()?;
            *v = v.zeros_like()?;
        }
        Ok(())
    }

    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.steps as i32);
        let c2 = 1.0 - b2.powi(self.steps as i32);
        for (name, var, m, v) in &mut self.slots {
            let Some(g) = grads.get(var) else { continue };
            if self.weight_decay > 0.0 && name.ends_with(".weight") {
                var.set(&(var.as_tensor() * (1.0 - self.lr * self.weight_decay))?)?;
            }
            *m = ((&*m * b1)? + (g * (1.0 - b1))?)?;
            *v = ((&*v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let denom = ((&*v / c2)?.sqrt()? + self.eps)?;
            let upd = ((&*m / c1)? / denom)?;
            var.set(&(var.as_tensor() - (upd * self.lr)?)?)?;
        }
        Ok(())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map = HashMap::new();
        for (n, _, m, v) in &self.slots {
            map.insert(format!("m.{n}"), m.clone());
            map.insert(format!("v.{n}"), v.clone());
        }
        map.insert(
            "steps".into(),
            Tensor::new(&[self.steps as f64], &Device::Cpu)?,
        );
        candle_core::safetensors::save(&map, path).map_err(|e| DplError::Checkpoint {
            path: path.into(),
            msg: e.to_string(),
        })
    }

    pub fn load(&mut self, path: &Path) -> Result<()> {
        let err = |msg: String| DplError::Checkpoint {
            path: path.into(),
            msg,
        };
        let dev = self
            .slots
            .first()
            .map(|s| s.1.device().clone())
            .unwrap_or(Device::Cpu);
        let mut map = candle_core::safetensors::load(path, &dev).map_err(|e| err(e.to_string()))?;
        for (n, var, m, v) in &mut self.slots {
            for (prefix, slot) in [("m", m), ("v", v)] {
                let t = map
                    .remove(&format!("{prefix}.{n}"))
                    .ok_or_else(|| err(format!("missing {prefix}.{n}")))?;
                if t.dims() != var.dims() {
                    return Err(err(format!("{prefix}.{n}: shape {:?}", t.dims())));
                }
                *slot = t;
            }
        }
        let steps = map
            .remove("steps")
            .ok_or_else(|| err("missing steps".into()))?;
        self.steps = steps.to_vec1::<f64>()?[0] as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam's first step moves every parameter by `lr` against its gradient's
    /// sign; weight decay also shrinks the weights (not the biases) by
    /// `lr · decay` of themselves.
    #[test]
    fn weight_decay_shrinks_weights_not_biases() {
        let dev = Device::Cpu;
        let w = Var::from_tensor(&Tensor::new(&[2f32, -4.0], &dev).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::new(&[3f32], &dev).unwrap()).unwrap();
        let mut opt = Adam::from_vars([("l.weight".to_string(), w.clone()), ("l.bias".to_string(), b.clone())], 0.1, 1e-8).unwrap();
        opt.weight_decay = 0.5;
        let loss = (w.as_tensor().sum_all().unwrap() + b.as_tensor().sum_all().unwrap()).unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
        let close = |a: Vec<f32>, e: &[f32]| a.iter().zip(e).all(|(x, y)| (x - y).abs() < 1e-5);
        let (wv, bv) = (w.as_tensor().to_vec1::<f32>().unwrap(), b.as_tensor().to_vec1::<f32>().unwrap());
        assert!(close(wv.clone(), &[2.0 * 0.95 - 0.1, -4.0 * 0.95 - 0.1]), "{wv:?}");
        assert!(close(bv.clone(), &[3.0 - 0.1]), "{bv:?}");
    }
}
