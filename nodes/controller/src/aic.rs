//! Active-inference controller of Pezzato, Ferrari & Hernández Corbato (RA-L 2020).
//!
//! Beliefs μ, μ′, μ″ about joint position in generalised coordinates descend the
//! gradient of the free energy; the action descends it too, through ∂y/∂u ≈ I.
//! See the crate README for the equations and where the gains come from.

use crate::controller::JointController;
use crate::gravity::GravityModel;
use crate::types::{JVec, JointState, PerJoint, Reference};
use serde::{Deserialize, Serialize};

/// Gains as in the paper's code: variances σ (precision P = 1/σ) and learning
/// rates κ. Defaults are the libfranka script's (σ_q = σ_q̇ = 1, σ_μ = 5,
/// σ_μ′ = 10, κ_μ = 11.67, κ_a = 200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AicGains {
    pub sigma_q: PerJoint,
    pub sigma_qd: PerJoint,
    pub sigma_mu: PerJoint,
    pub sigma_mu_p: PerJoint,
    pub kappa_mu: f64,
    pub kappa_a: PerJoint,
    /// Time constant of the attractor that pulls the belief to the reference
    /// (s). The paper's f = μ_d − μ is τ = 1 s: fine for set points, but a
    /// moving reference is then followed about τ late.
    #[serde(default = "one_second")]
    pub tau: f64,
    /// Move the belief with the reference too: f = μ̇_d + (μ_d − μ)/τ.
    #[serde(default)]
    pub velocity_feedforward: bool,
}

fn one_second() -> f64 {
    1.0
}

impl AicGains {
    /// Gains for following a policy's moving targets on the UR5e-class arm
    /// of `kotoba-sim`: a 50 ms attractor with the reference's velocity fed
    /// forward, and action gains scaled to each joint's inertia (the paper's
    /// κ_a = 200 was set for a gravity-compensated Panda).
    pub fn arm_tracking() -> Self {
        Self {
            kappa_a: PerJoint::Each(vec![600.0, 600.0, 450.0, 90.0, 90.0, 45.0]),
            tau: 0.05,
            velocity_feedforward: true,
            ..Self::default()
        }
    }
}

impl Default for AicGains {
    fn default() -> Self {
        Self {
            sigma_q: PerJoint::All(1.0),
            sigma_qd: PerJoint::All(1.0),
            sigma_mu: PerJoint::All(5.0),
            sigma_mu_p: PerJoint::All(10.0),
            kappa_mu: 11.67,
            kappa_a: PerJoint::All(200.0),
            tau: 1.0,
            velocity_feedforward: false,
        }
    }
}

/// The per-joint vectors the step uses, resolved once at construction.
#[derive(Debug, Clone, Copy)]
struct Resolved<const N: usize> {
    p_q: JVec<N>,
    p_qd: JVec<N>,
    p_mu: JVec<N>,
    p_mu_p: JVec<N>,
    kappa_mu: f64,
    kappa_a: JVec<N>,
    /// 1/τ.
    rate: f64,
    feedforward: bool,
}

/// Pezzato's AIC. `u` is integrated, so it is an integral controller on the
/// sensory prediction errors; `G` adds a gravity feed-forward (use
/// [`crate::NoGravity`] when the robot compensates gravity itself, as the Panda does).
#[derive(Debug, Clone)]
pub struct ActiveInference<const N: usize, G> {
    k: Resolved<N>,
    gravity: G,
    mu: JVec<N>,
    mu_p: JVec<N>,
    mu_pp: JVec<N>,
    u: JVec<N>,
}

impl<const N: usize, G: GravityModel<N>> ActiveInference<N, G> {
    pub fn new(gains: &AicGains, gravity: G) -> Result<Self, crate::ConfigError> {
        let p = |s: &PerJoint, name: &'static str| -> Result<JVec<N>, crate::ConfigError> {
            let v = s.to_vec::<N>()?;
            if v.iter().all(|x| x.is_finite() && *x > 0.0) {
                Ok(v.map(|x| 1.0 / x))
            } else {
                Err(crate::ConfigError::NotPositive(name))
            }
        };
        let kappa_a = gains.kappa_a.to_vec::<N>()?;
        let positive = |x: &f64| x.is_finite() && *x > 0.0;
        if !positive(&gains.kappa_mu) || !kappa_a.iter().all(positive) {
            return Err(crate::ConfigError::NotPositive("kappa"));
        }
        if !positive(&gains.tau) {
            return Err(crate::ConfigError::NotPositive("tau"));
        }
        Ok(Self {
            k: Resolved {
                p_q: p(&gains.sigma_q, "sigma_q")?,
                p_qd: p(&gains.sigma_qd, "sigma_qd")?,
                p_mu: p(&gains.sigma_mu, "sigma_mu")?,
                p_mu_p: p(&gains.sigma_mu_p, "sigma_mu_p")?,
                kappa_mu: gains.kappa_mu,
                kappa_a,
                rate: 1.0 / gains.tau,
                feedforward: gains.velocity_feedforward,
            },
            gravity,
            mu: JVec::zeros(),
            mu_p: JVec::zeros(),
            mu_pp: JVec::zeros(),
            u: JVec::zeros(),
        })
    }

    /// Current beliefs (μ, μ′, μ″) for diagnostics and tests.
    pub fn beliefs(&self) -> (JVec<N>, JVec<N>, JVec<N>) {
        (self.mu, self.mu_p, self.mu_pp)
    }

    /// Free energy F = ½ Σ εᵀ P ε of the current beliefs against `state`.
    pub fn free_energy(&self, state: &JointState<N>, reference: &Reference<N>) -> f64 {
        let e_q = state.q - self.mu;
        let e_qd = state.qd - self.mu_p;
        let (e_mu, e_mu_p) = self.dynamical_errors(reference);
        0.5 * (e_q.component_mul(&e_q).dot(&self.k.p_q)
            + e_qd.component_mul(&e_qd).dot(&self.k.p_qd)
            + e_mu.component_mul(&e_mu).dot(&self.k.p_mu)
            + e_mu_p.component_mul(&e_mu_p).dot(&self.k.p_mu_p))
    }
}

impl<const N: usize, G> ActiveInference<N, G> {
    /// Unweighted dynamical errors ε_μ = μ′ − f, ε_μ′ = μ″ − f′ for the
    /// attractor f = v_d + (μ_d − μ)/τ (v_d = μ̇_d with feed-forward, else 0;
    /// its own derivative is taken as 0). τ = 1, v_d = 0 is the paper's.
    fn dynamical_errors(&self, reference: &Reference<N>) -> (JVec<N>, JVec<N>) {
        let v_d = if self.k.feedforward { reference.qd } else { JVec::zeros() };
        let r = self.k.rate;
        let e_mu = self.mu_p - v_d - (reference.q - self.mu) * r;
        let e_mu_p = self.mu_pp + (self.mu_p - v_d) * r;
        (e_mu, e_mu_p)
    }
}

impl<const N: usize, G: GravityModel<N>> JointController<N> for ActiveInference<N, G> {
    fn name(&self) -> &'static str {
        "aic"
    }

    fn reset(&mut self, state: &JointState<N>) {
        self.mu = state.q;
        self.mu_p = state.qd;
        self.mu_pp = JVec::zeros();
        self.u = JVec::zeros();
    }

    fn step(&mut self, state: &JointState<N>, reference: &Reference<N>, h: f64) -> JVec<N> {
        let k = &self.k;
        // Prediction errors: sensory, then dynamical (attractor f = v_d + (μ_d − μ)/τ).
        let e_q = (state.q - self.mu).component_mul(&k.p_q);
        let e_qd = (state.qd - self.mu_p).component_mul(&k.p_qd);
        let (e_mu, e_mu_p) = self.dynamical_errors(reference);
        let e_mu = e_mu.component_mul(&k.p_mu);
        let e_mu_p = e_mu_p.component_mul(&k.p_mu_p);

        // Gradient descent on F; ∂ε_μ/∂μ = ∂ε_μ′/∂μ′ = 1/τ.
        let d_mu = self.mu_p - (e_mu * k.rate - e_q) * k.kappa_mu;
        let d_mu_p = self.mu_pp - (e_mu - e_qd + e_mu_p * k.rate) * k.kappa_mu;
        let d_mu_pp = -e_mu_p * k.kappa_mu;
        let d_u = -(e_qd + e_q).component_mul(&k.kappa_a);

        self.mu += d_mu * h;
        self.mu_p += d_mu_p * h;
        self.mu_pp += d_mu_pp * h;
        self.u += d_u * h;
        self.u + self.gravity.torque(&state.q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NoGravity;

    /// Same loop as tests/golden/aic_reference.py (one joint, I = 0.7,
    /// b = 3, semi-implicit Euler at 1 ms); figures printed by that script.
    fn run(f: f64) -> (f64, f64) {
        let mut c = ActiveInference::<1, _>::new(&AicGains::default(), NoGravity).unwrap();
        let (i, b, h) = (0.7, 3.0, 1e-3);
        let (mut q, mut qd) = (0.0, 0.0);
        c.reset(&JointState::at_rest(JVec::zeros()));
        let mut errs = Vec::new();
        for k in 0..6000 {
            let t = k as f64 * h;
            let mud = 0.25 * (std::f64::consts::TAU * f * t).sin();
            let u = c.step(
                &JointState {
                    q: JVec::from_element(q),
                    qd: JVec::from_element(qd),
                },
                &Reference::hold(JVec::from_element(mud)),
                h,
            )[0];
            qd += (u - b * qd) / i * h;
            q += qd * h;
            if t > 1.0 {
                errs.push((q - mud).abs());
            }
        }
        let rms = (errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt();
        (rms, errs.iter().cloned().fold(0.0, f64::max))
    }

    #[test]
    fn matches_the_python_reference() {
        for (f, rms, max) in [
            (0.05, 0.056723002915365195, 0.07597432546883078),
            (0.5, 0.2041619316161541, 0.30720222935955743),
        ] {
            let (r, m) = run(f);
            assert!(
                (r - rms).abs() < 1e-9 && (m - max).abs() < 1e-9,
                "f={f}: rust {r} {m}, python {rms} {max}"
            );
        }
    }

    #[test]
    fn beliefs_start_at_the_measurement_and_rest_there() {
        let mut c = ActiveInference::<7, _>::new(&AicGains::default(), NoGravity).unwrap();
        let s = JointState::at_rest(JVec::from_element(0.4));
        c.reset(&s);
        let u = c.step(&s, &Reference::hold(s.q), 1e-3);
        assert_eq!(u, JVec::<7>::zeros());
        assert_eq!(c.beliefs().0, s.q);
        assert!(c.free_energy(&s, &Reference::hold(s.q)).abs() < 1e-12);
    }

    #[test]
    fn bad_gains_are_an_error() {
        let g = AicGains {
            sigma_mu: PerJoint::All(0.0),
            ..AicGains::default()
        };
        assert!(ActiveInference::<6, _>::new(&g, NoGravity).is_err());
        let g = AicGains {
            kappa_a: PerJoint::Each(vec![1.0; 5]),
            ..AicGains::default()
        };
        assert_eq!(
            ActiveInference::<6, _>::new(&g, NoGravity).err(),
            Some(crate::ConfigError::TooFewGains { got: 5, need: 6 })
        );
    }
}
