//! Encoder model: Gaussian noise and quantisation on what `/joint_states` reports.

use crate::config::EncoderConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One joint-state reading: arm joints then the gripper.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JointReading {
    /// Simulated time (s) since the sim started (monotonic across episode resets).
    pub time: f64,
    pub position: Vec<f64>,
    pub velocity: Vec<f64>,
    pub effort: Vec<f64>,
}

impl JointReading {
    pub fn with_joints(n: usize) -> Self {
        Self {
            time: 0.0,
            position: vec![0.0; n],
            velocity: vec![0.0; n],
            effort: vec![0.0; n],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Encoder {
    cfg: EncoderConfig,
    rng: ChaCha8Rng,
}

impl Encoder {
    pub fn new(cfg: EncoderConfig, seed: u64) -> Self {
        Self {
            cfg,
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x65_6e_63_6f_64_65_72),
        }
    }

    fn gauss(&mut self) -> f64 {
        // Box–Muller; no allocation.
        let u1: f64 = self.rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.random_range(0.0..1.0);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn apply(&mut self, x: f64, std: f64, step: f64) -> f64 {
        let y = if std > 0.0 { x + std * self.gauss() } else { x };
        if step > 0.0 {
            (y / step).round() * step
        } else {
            y
        }
    }

    /// Applies noise and quantisation in place.
    pub fn read(&mut self, r: &mut JointReading) {
        let c = self.cfg.clone();
        for x in &mut r.position {
            *x = self.apply(*x, c.position_noise, c.position_step);
        }
        for x in &mut r.velocity {
            *x = self.apply(*x, c.velocity_noise, c.velocity_step);
        }
        for x in &mut r.effort {
            *x = self.apply(*x, c.effort_noise, c.effort_step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantises_and_adds_noise() {
        let cfg = EncoderConfig {
            position_step: 0.01,
            ..Default::default()
        };
        let mut e = Encoder::new(cfg, 1);
        let mut r = JointReading {
            time: 0.0,
            position: vec![0.123, -0.456],
            velocity: vec![1.0],
            effort: vec![2.0],
        };
        e.read(&mut r);
        assert!((r.position[0] - 0.12).abs() < 1e-12 && (r.position[1] + 0.46).abs() < 1e-12);
        assert_eq!(r.velocity, vec![1.0]);
        let mut e = Encoder::new(
            EncoderConfig {
                velocity_noise: 0.1,
                ..Default::default()
            },
            1,
        );
        let n = 20000;
        let mut r = JointReading {
            time: 0.0,
            position: vec![],
            velocity: vec![0.0; n],
            effort: vec![],
        };
        e.read(&mut r);
        let var = r.velocity.iter().map(|v| v * v).sum::<f64>() / n as f64;
        assert!((var.sqrt() - 0.1).abs() < 0.005, "std {}", var.sqrt());
    }
}
