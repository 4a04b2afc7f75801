//! Named trainable tensors with a seeded, platform-independent initialisation
//! (EIPL: Xavier-uniform weights, orthogonal LSTM recurrent weights, zero biases).

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::Result;

/// The model's trainable tensors by name. Ordered, so saving and iterating are deterministic.
#[derive(Clone)]
pub struct Params {
    vars: BTreeMap<String, Var>,
}

/// Builds [`Params`] from one seeded RNG so a seed fixes every weight.
pub(crate) struct Init {
    rng: ChaCha8Rng,
    device: Device,
    vars: BTreeMap<String, Var>,
}

impl Init {
    pub fn new(seed: u64, device: &Device) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            device: device.clone(),
            vars: BTreeMap::new(),
        }
    }

    fn put(&mut self, name: &str, data: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let var = Var::from_tensor(&Tensor::from_vec(data, shape, &self.device)?)?;
        let t = var.as_tensor().clone();
        self.vars.insert(name.to_string(), var);
        Ok(t)
    }

    /// Xavier-uniform: U(-b, b), b = sqrt(6 / (fan_in + fan_out)).
    pub fn xavier(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let receptive: usize = shape[2..].iter().product();
        let (fan_out, fan_in) = (shape[0] * receptive, shape[1] * receptive);
        let b = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| self.rng.random_range(-b..b)).collect();
        self.put(name, data, shape)
    }

    /// A tensor of given values (a deliberate, not random, initialisation).
    pub fn values(&mut self, name: &str, shape: &[usize], data: Vec<f32>) -> Result<Tensor> {
        self.put(name, data, shape)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn zeros(&mut self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.constant(name, shape, 0.0)
    }

    pub fn constant(&mut self, name: &str, shape: &[usize], value: f32) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        self.put(name, vec![value; n], shape)
    }

    /// A `rows x cols` matrix with orthonormal columns (rows >= cols), by
    /// Gram-Schmidt on Gaussian draws (PyTorch's `orthogonal_` uses QR; same distribution).
    pub fn orthogonal(&mut self, name: &str, rows: usize, cols: usize) -> Result<Tensor> {
        let mut q: Vec<Vec<f64>> = Vec::with_capacity(cols);
        while q.len() < cols {
            let mut v: Vec<f64> = (0..rows).map(|_| gaussian(&mut self.rng)).collect();
            for u in &q {
                let d: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(u).for_each(|(a, b)| *a -= d * b);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-6 {
                q.push(v.into_iter().map(|a| a / norm).collect());
            }
        }
        let mut data = vec![0f32; rows * cols];
        for (c, col) in q.iter().enumerate() {
            for r in 0..rows {
                data[r * cols + c] = col[r] as f32;
            }
        }
        self.put(name, data, &[rows, cols])
    }

    pub fn finish(self) -> Params {
        Params { vars: self.vars }
    }
}

fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    // Box-Muller; `1 - u` keeps the log argument in (0, 1].
    let u: f64 = rng.random();
    let v: f64 = rng.random();
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

impl Params {
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Var)> {
        self.vars.iter()
    }

    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }

    pub fn len(&self) -> usize {
        self.vars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    /// Total number of scalars.
    pub fn count(&self) -> usize {
        self.vars.values().map(|v| v.elem_count()).sum()
    }

    pub fn dtype(&self) -> DType {
        DType::F32
    }
}
