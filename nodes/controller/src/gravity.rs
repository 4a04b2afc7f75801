//! Gravity torque models for feed-forward compensation.
//!
//! A real arm either compensates gravity itself (the Franka does; Pezzato's AIC
//! adds its torques on top) — use [`NoGravity`] — or needs the controller to
//! add g(q). [`ChainGravity`] computes g(q) for a serial chain read from a URDF.

use crate::types::JVec;
use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};

/// g(q): the joint torques that hold the arm still against gravity at `q`.
/// Must not allocate: it runs inside the control step.
pub trait GravityModel<const N: usize>: Send {
    fn torque(&self, q: &JVec<N>) -> JVec<N>;
}

/// The robot compensates gravity itself (or the test has none).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGravity;

impl<const N: usize> GravityModel<N> for NoGravity {
    fn torque(&self, _q: &JVec<N>) -> JVec<N> {
        JVec::zeros()
    }
}

impl<const N: usize, G: GravityModel<N> + ?Sized + Sync> GravityModel<N> for std::sync::Arc<G> {
    fn torque(&self, q: &JVec<N>) -> JVec<N> {
        (**self).torque(q)
    }
}

/// One actuated joint of a serial chain, with everything rigidly attached to
/// its child link (fixed joints folded in) lumped into one mass and centre.
#[derive(Debug, Clone, Copy)]
pub struct ChainLink {
    /// Parent-joint frame to this joint's frame at q = 0 (URDF `<origin>`).
    pub origin: Isometry3<f64>,
    /// Joint axis in this joint's frame.
    pub axis: Vector3<f64>,
    /// True for prismatic joints (forces, not torques).
    pub prismatic: bool,
    /// Mass carried by this joint's child link (kg) and its centre in the joint frame.
    pub mass: f64,
    pub com: Point3<f64>,
}

/// g(q) of a serial chain by summing, for every joint, the moment of the
/// weights of all links after it about its axis. O(N²) with N ≤ 7: a few
/// hundred flops, no allocation.
#[derive(Debug, Clone)]
pub struct ChainGravity<const N: usize> {
    pub links: [ChainLink; N],
    /// Base frame to the first joint's parent frame (fixed joints before it).
    pub base: Isometry3<f64>,
    /// Gravity in the base frame (m/s²), normally (0, 0, −9.81).
    pub gravity: Vector3<f64>,
}

impl<const N: usize> ChainGravity<N> {
    /// The same chain carrying `kg` more on its last link (at that link's
    /// centre of mass): a payload, or a model that believes in one.
    pub fn with_payload(&self, kg: f64) -> Self {
        let mut g = self.clone();
        if let Some(last) = g.links.last_mut() {
            last.mass += kg;
        }
        g
    }
}

impl<const N: usize> GravityModel<N> for ChainGravity<N> {
    // Indexing several per-joint arrays by joint number reads clearer than zips.
    #[allow(clippy::needless_range_loop)]
    fn torque(&self, q: &JVec<N>) -> JVec<N> {
        let mut axis_w = [Vector3::zeros(); N];
        let mut pos_w = [Vector3::zeros(); N];
        let mut com_w = [Vector3::zeros(); N];
        let mut t = self.base;
        for (i, l) in self.links.iter().enumerate() {
            t *= l.origin;
            let motion = if l.prismatic {
                Isometry3::from_parts(
                    Translation3::from(l.axis * q[i]),
                    UnitQuaternion::identity(),
                )
            } else {
                Isometry3::from_parts(
                    Translation3::identity(),
                    UnitQuaternion::from_scaled_axis(l.axis * q[i]),
                )
            };
            t *= motion;
            axis_w[i] = t.rotation * l.axis;
            pos_w[i] = t.translation.vector;
            com_w[i] = (t * l.com).coords;
        }
        let mut tau = JVec::zeros();
        for i in 0..N {
            let mut s = 0.0;
            for j in i..N {
                let w = self.gravity * self.links[j].mass;
                // Torque needed to hold = −(moment of gravity) projected on the axis.
                s -= if self.links[i].prismatic {
                    axis_w[i].dot(&w)
                } else {
                    axis_w[i].dot(&(com_w[j] - pos_w[i]).cross(&w))
                };
            }
            tau[i] = s;
        }
        tau
    }
}
