//! From policy targets at 10–30 Hz to a 1 kHz reference with velocity, and from
//! encoder positions to velocities when the message carries none.

use crate::types::{JVec, Reference, all_finite};
use kotoba_core::Stamp;
use serde::{Deserialize, Serialize};

/// Most points one target chunk can carry (a policy predicting a short horizon).
pub const MAX_POINTS: usize = 16;

/// A timestamped chunk of joint positions from the policy: the adapter turns a
/// `trajectory_msgs/JointTrajectory` (header stamp + `time_from_start`) into
/// absolute times on the controller's clock. Fixed size, `Copy`: it crosses the
/// lock-free hand-off without allocating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TargetChunk<const N: usize> {
    times: [i64; MAX_POINTS],
    points: [JVec<N>; MAX_POINTS],
    len: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChunkError {
    #[error("a target chunk holds at most {MAX_POINTS} points")]
    Full,
    #[error("target times must strictly increase")]
    NotIncreasing,
}

impl<const N: usize> Default for TargetChunk<N> {
    fn default() -> Self {
        Self {
            times: [0; MAX_POINTS],
            points: [JVec::zeros(); MAX_POINTS],
            len: 0,
        }
    }
}

impl<const N: usize> TargetChunk<N> {
    /// One target point: "be at `q` at `t`".
    pub fn single(t: Stamp, q: JVec<N>) -> Self {
        let mut c = Self::default();
        c.times[0] = t.as_nanos();
        c.points[0] = q;
        c.len = 1;
        c
    }

    pub fn push(&mut self, t: Stamp, q: JVec<N>) -> Result<(), ChunkError> {
        if self.len == MAX_POINTS {
            return Err(ChunkError::Full);
        }
        if self.len > 0 && t.as_nanos() <= self.times[self.len - 1] {
            return Err(ChunkError::NotIncreasing);
        }
        self.times[self.len] = t.as_nanos();
        self.points[self.len] = q;
        self.len += 1;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (time in ns, position) of each point.
    pub fn points(&self) -> impl Iterator<Item = (i64, &JVec<N>)> {
        self.times[..self.len]
            .iter()
            .copied()
            .zip(&self.points[..self.len])
    }

    pub fn points_mut(&mut self) -> impl Iterator<Item = &mut JVec<N>> {
        self.points[..self.len].iter_mut()
    }

    pub fn all_finite(&self) -> bool {
        self.points[..self.len].iter().all(all_finite)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    Linear,
    /// Cubic Hermite: C¹ across knots and across chunks (the first knot carries
    /// the current reference velocity, interior knots the mean of the adjacent
    /// slopes, the last knot the slope of the last segment).
    #[default]
    Cubic,
}

const KNOTS: usize = MAX_POINTS + 1;

/// Turns the latest target chunk into a reference at any time. The first knot
/// is always the reference at the moment the chunk was accepted, so a new chunk
/// never makes the reference jump.
#[derive(Debug, Clone)]
pub struct Interpolator<const N: usize> {
    mode: Interpolation,
    t: [i64; KNOTS],
    q: [JVec<N>; KNOTS],
    v: [JVec<N>; KNOTS],
    len: usize,
    cursor: usize,
}

impl<const N: usize> Interpolator<N> {
    pub fn new(mode: Interpolation, q: JVec<N>) -> Self {
        let mut s = Self {
            mode,
            t: [0; KNOTS],
            q: [JVec::zeros(); KNOTS],
            v: [JVec::zeros(); KNOTS],
            len: 1,
            cursor: 0,
        };
        s.q[0] = q;
        s
    }

    /// Stand still at `q` from now on.
    pub fn hold(&mut self, q: JVec<N>) {
        self.len = 1;
        self.cursor = 0;
        self.q[0] = q;
        self.v[0] = JVec::zeros();
    }

    /// Follow `chunk` from `now`, starting at `current`. Points at or before
    /// `now` are dropped; if none is left, the last point is reached at
    /// `now + lead_ns` (a policy that stamps "go here now" gets one period to
    /// get there instead of a step).
    pub fn set_chunk(
        &mut self,
        now: i64,
        current: &Reference<N>,
        chunk: &TargetChunk<N>,
        lead_ns: i64,
    ) {
        self.t[0] = now;
        self.q[0] = current.q;
        self.v[0] = current.qd;
        self.len = 1;
        self.cursor = 0;
        for (t, q) in chunk.points() {
            if t > now {
                self.t[self.len] = t;
                self.q[self.len] = *q;
                self.len += 1;
            }
        }
        if self.len == 1
            && let Some((_, q)) = chunk.points().last()
        {
            self.t[1] = now + lead_ns.max(1);
            self.q[1] = *q;
            self.len = 2;
        }
        // Knot velocities for the cubic: slopes averaged at interior knots.
        let slope =
            |s: &Self, k: usize| (s.q[k + 1] - s.q[k]) / ((s.t[k + 1] - s.t[k]) as f64 * 1e-9);
        for k in 1..self.len {
            self.v[k] = if k + 1 < self.len {
                (slope(self, k - 1) + slope(self, k)) * 0.5
            } else {
                slope(self, k - 1)
            };
        }
    }

    /// The segment-wise implied speed of the plan (rad/s or m/s), for the limit check.
    pub fn max_segment_speed(&self, joint: usize) -> f64 {
        (1..self.len)
            .map(|k| {
                ((self.q[k][joint] - self.q[k - 1][joint])
                    / ((self.t[k] - self.t[k - 1]) as f64 * 1e-9))
                    .abs()
            })
            .fold(0.0, f64::max)
    }

    /// The reference at `now`; after the last knot, hold it with zero velocity.
    pub fn sample(&mut self, now: i64) -> Reference<N> {
        if self.len == 1 || now >= self.t[self.len - 1] {
            return Reference::hold(self.q[self.len - 1]);
        }
        if now <= self.t[0] {
            return Reference {
                q: self.q[0],
                qd: self.v[0],
            };
        }
        while self.cursor + 2 < self.len && now >= self.t[self.cursor + 1] {
            self.cursor += 1;
        }
        let k = self.cursor;
        let h = (self.t[k + 1] - self.t[k]) as f64 * 1e-9;
        let s = (now - self.t[k]) as f64 * 1e-9 / h;
        let (q0, q1) = (&self.q[k], &self.q[k + 1]);
        match self.mode {
            Interpolation::Linear => Reference {
                q: q0 + (q1 - q0) * s,
                qd: (q1 - q0) / h,
            },
            Interpolation::Cubic => {
                let (m0, m1) = (self.v[k] * h, self.v[k + 1] * h);
                let (s2, s3) = (s * s, s * s * s);
                let q = q0 * (2.0 * s3 - 3.0 * s2 + 1.0)
                    + m0 * (s3 - 2.0 * s2 + s)
                    + q1 * (-2.0 * s3 + 3.0 * s2)
                    + m1 * (s3 - s2);
                let dq = q0 * (6.0 * s2 - 6.0 * s)
                    + m0 * (3.0 * s2 - 4.0 * s + 1.0)
                    + q1 * (-6.0 * s2 + 6.0 * s)
                    + m1 * (3.0 * s2 - 2.0 * s);
                Reference { q, qd: dq / h }
            }
        }
    }
}

/// Joint velocity: the encoder's own when it sends one, otherwise a finite
/// difference of positions through a first-order low-pass filter.
#[derive(Debug, Clone)]
pub struct VelocityEstimator<const N: usize> {
    tau: f64,
    prev: Option<(i64, JVec<N>)>,
    v: JVec<N>,
}

impl<const N: usize> VelocityEstimator<N> {
    /// `cutoff_hz` of the low-pass filter (e.g. 50 Hz at a 1 kHz sample rate).
    pub fn new(cutoff_hz: f64) -> Self {
        Self {
            tau: 1.0 / (2.0 * std::f64::consts::PI * cutoff_hz.max(1e-3)),
            prev: None,
            v: JVec::zeros(),
        }
    }

    pub fn reset(&mut self) {
        self.prev = None;
        self.v = JVec::zeros();
    }

    pub fn update(&mut self, t_ns: i64, q: &JVec<N>, measured: Option<&JVec<N>>) -> JVec<N> {
        if let Some((t0, q0)) = self.prev {
            let dt = (t_ns - t0) as f64 * 1e-9;
            if dt > 0.0 {
                let raw = (q - q0) / dt;
                let alpha = dt / (dt + self.tau);
                self.v += (raw - self.v) * alpha;
            }
        }
        self.prev = Some((t_ns, *q));
        match measured {
            Some(v) if all_finite(v) => {
                self.v = *v;
                *v
            }
            _ => self.v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn chunk(points: &[(i64, f64)]) -> TargetChunk<1> {
        let mut c = TargetChunk::default();
        for (t, q) in points {
            c.push(Stamp::from_nanos(*t), JVec::from_element(*q))
                .unwrap();
        }
        c
    }

    #[test]
    fn linear_hits_the_points_with_the_segment_velocity() {
        let mut it = Interpolator::<1>::new(Interpolation::Linear, JVec::zeros());
        it.set_chunk(
            0,
            &Reference::hold(JVec::zeros()),
            &chunk(&[(100 * MS, 1.0), (200 * MS, 1.5)]),
            50 * MS,
        );
        let r = it.sample(50 * MS);
        assert!((r.q[0] - 0.5).abs() < 1e-12 && (r.qd[0] - 10.0).abs() < 1e-9);
        let r = it.sample(150 * MS);
        assert!((r.q[0] - 1.25).abs() < 1e-12 && (r.qd[0] - 5.0).abs() < 1e-9);
        assert_eq!(
            it.sample(300 * MS),
            Reference::hold(JVec::from_element(1.5))
        );
    }

    #[test]
    fn cubic_is_continuous_across_a_new_chunk() {
        let mut it = Interpolator::<1>::new(Interpolation::Cubic, JVec::zeros());
        it.set_chunk(
            0,
            &Reference::hold(JVec::zeros()),
            &chunk(&[(100 * MS, 1.0), (200 * MS, 2.0)]),
            50 * MS,
        );
        let before = it.sample(60 * MS);
        // A new chunk at 60 ms starts exactly where the reference is.
        it.set_chunk(60 * MS, &before, &chunk(&[(160 * MS, 1.2)]), 50 * MS);
        let after = it.sample(60 * MS);
        assert_eq!(before, after);
        let r = it.sample(160 * MS);
        assert!((r.q[0] - 1.2).abs() < 1e-12);
        // Velocity is the derivative of position.
        let (a, b) = (it.sample(100 * MS), it.sample(100 * MS + 1000));
        assert!(((b.q[0] - a.q[0]) / 1e-6 - a.qd[0]).abs() < 1e-3);
    }

    #[test]
    fn past_points_are_reached_one_lead_from_now() {
        let mut it = Interpolator::<1>::new(Interpolation::Linear, JVec::zeros());
        it.set_chunk(
            500 * MS,
            &Reference::hold(JVec::zeros()),
            &chunk(&[(400 * MS, 1.0)]),
            50 * MS,
        );
        assert!((it.sample(525 * MS).q[0] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn chunk_rejects_bad_times_and_overflow() {
        let mut c = chunk(&[(10, 0.0)]);
        assert_eq!(
            c.push(Stamp::from_nanos(10), JVec::zeros()),
            Err(ChunkError::NotIncreasing)
        );
        for k in 1..MAX_POINTS as i64 {
            c.push(Stamp::from_nanos(10 + k), JVec::zeros()).unwrap();
        }
        assert_eq!(
            c.push(Stamp::from_nanos(1000), JVec::zeros()),
            Err(ChunkError::Full)
        );
    }

    #[test]
    fn finite_difference_velocity_converges_on_a_ramp() {
        let mut v = VelocityEstimator::<1>::new(50.0);
        let mut out = 0.0;
        for k in 0..200 {
            out = v.update(k * MS, &JVec::from_element(0.5 * k as f64 * 1e-3), None)[0];
        }
        assert!((out - 0.5).abs() < 1e-6, "{out}");
        // A measured velocity wins when finite.
        assert_eq!(
            v.update(
                200 * MS,
                &JVec::from_element(0.1),
                Some(&JVec::from_element(3.0))
            )[0],
            3.0
        );
        assert!(
            v.update(
                201 * MS,
                &JVec::from_element(0.1),
                Some(&JVec::from_element(f64::NAN))
            )[0]
            .is_finite()
        );
    }
}
