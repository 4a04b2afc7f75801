//! Noise injected into a demonstration's arm commands while the expert's own
//! commands stay the recorded targets (DART, Laskey et al., CoRL 2017). The
//! arm is pushed off the demonstrated path, the camera and the encoders see it
//! there, and the targets lead back: the policy is taught to recover from the
//! states its own errors lead to in closed loop, which clean demonstrations
//! never show it.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A slowly drifting offset per arm joint (an Ornstein–Uhlenbeck process),
/// shaped like a policy's error rather than like jitter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DemoNoise {
    /// Stationary standard deviation per joint (rad).
    pub sigma: f64,
    /// Correlation time (s).
    pub tau: f64,
    /// Drift also while the gripper holds the towel. Off, the carried swing
    /// follows the demonstrated path: the half folds' taut swing is spoiled by
    /// 0.01 rad of drift (session 9: 1 of 4 folded with drift in the first
    /// swing alone, 3 or 4 of 4 with it in any other phase).
    #[serde(default = "yes")]
    pub holding: bool,
}

fn yes() -> bool {
    true
}

impl DemoNoise {
    /// Checks the values a user gave (flag or eval spec).
    pub fn validate(&self) -> Result<(), String> {
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(format!("demonstration noise sigma must be a finite standard deviation ≥ 0 (rad), not {}", self.sigma));
        }
        if !(self.tau.is_finite() && self.tau > 0.0) {
            return Err(format!("demonstration noise tau must be a correlation time > 0 (s), not {}", self.tau));
        }
        Ok(())
    }
}

/// No noise this close to a gripper change (s): a grasp or a release made off
/// the path fails, and a spoiled demonstration teaches nothing.
const QUIET_S: f64 = 0.5;
/// Before that, the noise fades out over this long (s), so the recorded
/// approach comes back to the path from wherever the drift had taken it.
const FADE_S: f64 = 1.5;

/// The noise's weight at time `t` given the spans (start, end) where it is
/// off: a gripper change (a span of no length) or a carry. 0 within
/// [`QUIET_S`] of a span, rising to 1 over the next [`FADE_S`].
pub fn grasp_fade(t: f64, quiet: &[(f64, f64)]) -> f32 {
    let gap = quiet.iter().map(|&(a, b)| (a - t).max(t - b).max(0.0)).fold(f64::INFINITY, f64::min);
    ((gap - QUIET_S) / FADE_S).clamp(0.0, 1.0) as f32
}

/// Where a demonstration's drift is off, from its gripper commands
/// (time, opening) in time order: each change, and with `holding` off
/// each span the gripper is commanded closed of `open`.
pub fn quiet_spans(gripper: &[(f64, f32)], open: f32, holding: bool) -> Vec<(f64, f64)> {
    let mut spans: Vec<(f64, f64)> =
        gripper.windows(2).filter(|w| (w[1].1 - w[0].1).abs() > 1e-4).map(|w| (w[1].0, w[1].0)).collect();
    if !holding {
        let mut closed_since = None;
        for &(t, g) in gripper {
            match (g < open - 1e-4, closed_since) {
                (true, None) => closed_since = Some(t),
                (false, Some(t0)) => {
                    spans.push((t0, t));
                    closed_since = None;
                }
                _ => {}
            }
        }
        if let (Some(t0), Some(&(t1, _))) = (closed_since, gripper.last()) {
            spans.push((t0, t1));
        }
    }
    spans
}

/// One episode's draw of [`DemoNoise`], sampled once per policy period.
pub struct Drift {
    /// x ← a·x + b·ε per sample, so that the stationary deviation is `sigma`.
    a: f64,
    b: f64,
    x: [f64; 6],
    rng: ChaCha8Rng,
}

impl Drift {
    /// Starts at zero offset (the episode begins on the demonstrated path).
    /// The same `seed` gives the same drift.
    pub fn new(noise: DemoNoise, period: f64, seed: u64) -> Self {
        let a = if noise.tau > 0.0 { (-period / noise.tau).exp() } else { 0.0 };
        let b = noise.sigma.max(0.0) * (1.0 - a * a).sqrt();
        Self { a, b, x: [0.0; 6], rng: ChaCha8Rng::seed_from_u64(seed ^ 0x64_72_69_66_74) }
    }

    /// The offset for the next policy period.
    pub fn next(&mut self) -> [f32; 6] {
        for x in &mut self.x {
            let e: f64 = StandardNormal.sample(&mut self.rng);
            *x = self.a * *x + self.b * e;
        }
        self.x.map(|v| v as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_has_the_asked_spread_and_correlation() {
        let noise = DemoNoise { sigma: 0.05, tau: 1.0, holding: true };
        let mut d = Drift::new(noise, 0.1, 7);
        let xs: Vec<[f32; 6]> = (0..20_000).map(|_| d.next()).collect();
        for j in 0..6 {
            let v: Vec<f64> = xs[100..].iter().map(|x| f64::from(x[j])).collect();
            let n = v.len() as f64;
            let mean = v.iter().sum::<f64>() / n;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
            assert!((var.sqrt() - 0.05).abs() < 0.006, "joint {j}: std {}", var.sqrt());
            // Lag-one autocorrelation of an OU process sampled every 0.1 s with τ = 1 s.
            let c = v.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum::<f64>() / (n - 1.0) / var;
            assert!((c - (-0.1f64).exp()).abs() < 0.03, "joint {j}: lag-one correlation {c}");
        }
    }

    #[test]
    fn noise_fades_out_around_gripper_changes() {
        let changes = [(2.5, 2.5), (10.0, 10.0)];
        assert_eq!(grasp_fade(2.5, &changes), 0.0);
        assert_eq!(grasp_fade(2.9, &changes), 0.0);
        assert!((grasp_fade(3.75, &changes) - 0.5).abs() < 1e-6);
        assert!((grasp_fade(1.25, &changes) - 0.5).abs() < 1e-6);
        assert_eq!(grasp_fade(6.0, &changes), 1.0);
        assert_eq!(grasp_fade(6.0, &[]), 1.0);
        // Within a carry the weight is 0 throughout, and fades in after it.
        let carry = [(3.0, 8.0)];
        assert_eq!(grasp_fade(5.0, &carry), 0.0);
        assert_eq!(grasp_fade(8.4, &carry), 0.0);
        assert!((grasp_fade(9.25, &carry) - 0.5).abs() < 1e-6);
        assert!((grasp_fade(1.75, &carry) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn quiet_spans_cover_changes_and_with_holding_off_the_carries() {
        // Open (0.04), closed from 1.0 to 3.0, open, closed again from 4.0 to the end.
        let g: Vec<(f64, f32)> =
            (0..50).map(|i| { let t = f64::from(i) * 0.1; (t, if (1.0..3.0).contains(&t) || t >= 4.0 - 1e-9 { 0.0 } else { 0.04 }) }).collect();
        let changes = quiet_spans(&g, 0.04, true);
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes.iter().all(|(a, b)| a == b));
        let all = quiet_spans(&g, 0.04, false);
        assert_eq!(all.len(), 5, "{all:?}");
        let carries: Vec<_> = all.iter().filter(|(a, b)| b > a).collect();
        assert_eq!(carries.len(), 2);
        assert!((carries[0].0 - 1.0).abs() < 1e-9 && (carries[0].1 - 3.0).abs() < 1e-9, "{carries:?}");
        assert!((carries[1].0 - 4.0).abs() < 1e-9 && (carries[1].1 - 4.9).abs() < 1e-9, "{carries:?}");
        assert_eq!(grasp_fade(2.0, &all), 0.0);
        assert!(grasp_fade(2.0, &changes) > 0.0);
    }

    #[test]
    fn drift_is_reproducible_and_zero_without_sigma() {
        let noise = DemoNoise { sigma: 0.02, tau: 0.5, holding: true };
        let a: Vec<_> = { let mut d = Drift::new(noise, 0.1, 3); (0..50).map(|_| d.next()).collect() };
        let b: Vec<_> = { let mut d = Drift::new(noise, 0.1, 3); (0..50).map(|_| d.next()).collect() };
        let c: Vec<_> = { let mut d = Drift::new(noise, 0.1, 4); (0..50).map(|_| d.next()).collect() };
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut z = Drift::new(DemoNoise { sigma: 0.0, tau: 0.5, holding: true }, 0.1, 3);
        assert!((0..50).all(|_| z.next() == [0.0; 6]));
        assert!(noise.validate().is_ok());
        for bad in [DemoNoise { sigma: -0.1, tau: 1.0, holding: true }, DemoNoise { sigma: f64::NAN, tau: 1.0, holding: true }, DemoNoise { sigma: 0.01, tau: 0.0, holding: false }] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
