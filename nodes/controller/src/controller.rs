//! The small trait every joint controller implements.

use crate::types::{JVec, JointState, Reference};

/// A joint-space controller: measured state and reference in, joint efforts out.
///
/// `step` is called once per control tick (1 kHz on a real arm). It must not
/// fail, allocate, lock or block: everything it needs is sized at construction.
pub trait JointController<const N: usize>: Send {
    /// Short name for diagnostics and benchmark tables.
    fn name(&self) -> &'static str;

    /// Start over from the measured state: beliefs at the measurement,
    /// integrators at zero. Called at start-up and after the supervisor held or
    /// braked the arm, so stale internal state never produces a kick.
    fn reset(&mut self, state: &JointState<N>);

    /// One control step of `dt` seconds; returns joint efforts (N·m or N).
    fn step(&mut self, state: &JointState<N>, reference: &Reference<N>, dt: f64) -> JVec<N>;
}

impl<const N: usize, C: JointController<N> + ?Sized> JointController<N> for Box<C> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn reset(&mut self, state: &JointState<N>) {
        (**self).reset(state)
    }
    fn step(&mut self, state: &JointState<N>, reference: &Reference<N>, dt: f64) -> JVec<N> {
        (**self).step(state, reference, dt)
    }
}
