//! Online error regression (Tani-style active inference at the policy level).
//!
//! The weights stay frozen. Over a sliding window of the last `window` ticks the
//! model is re-run, teacher-forced on what it actually saw, from the LSTM state at
//! the window's start; a few Adam steps then move a low-dimensional latent (that
//! start state and/or an offset on the language latent `z`) to reduce the error
//! between its one-step predictions and what came next. The encoder points are
//! computed once per frame, so each iteration costs only `window` LSTM steps.

use std::collections::VecDeque;

use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::error::{DplError, Result};
use crate::model::{LstmState, Sarnn};
use crate::optim::Adam;
use crate::regress_fast::{CoreWeights, Scratch, SliceAdam, Window, flat};

/// The hand-written gradient path (CPU, concatenated conditioning).
struct Fast {
    weights: CoreWeights,
    scratch: Scratch,
    adam: SliceAdam,
}

/// Which latent the regression may move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RegressTarget {
    /// The LSTM state at the start of the window.
    State,
    /// An offset on the language latent `z`, kept across ticks.
    Language,
    #[default]
    Both,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegressConfig {
    /// Ticks in the window (default 10).
    pub window: usize,
    /// Gradient steps per tick (default 20).
    pub iterations: usize,
    pub lr: f64,
    pub target: RegressTarget,
    pub w_joint: f64,
    pub w_point: f64,
}

impl Default for RegressConfig {
    fn default() -> Self {
        Self {
            window: 10,
            iterations: 20,
            lr: 0.05,
            target: RegressTarget::Both,
            w_joint: 1.0,
            w_point: 0.1,
        }
    }
}

/// One tick as the core saw it: points `(1, 2K)`, joints `(1, D)`, latent `(1, Z)`.
pub struct WindowStep {
    pub pts: Tensor,
    pub joints: Tensor,
    pub z: Tensor,
}

pub struct ErrorRegression {
    cfg: RegressConfig,
    steps: VecDeque<WindowStep>,
    /// LSTM state before `steps[0]`.
    start: Option<LstmState>,
    dz: Var,
    dh: Var,
    dc: Var,
    opt: Adam,
    fast: Option<Fast>,
}

impl ErrorRegression {
    pub fn new(model: &Sarnn, cfg: RegressConfig) -> Result<Self> {
        Self::with_path(model, cfg, true)
    }

    /// `fast = false` forces candle's autograd (for tests and other devices).
    pub(crate) fn with_path(model: &Sarnn, cfg: RegressConfig, fast: bool) -> Result<Self> {
        if cfg.window == 0 {
            return Err(DplError::Config("regression window must be >= 1".into()));
        }
        let c = model.config();
        let dev = model.device();
        let dz = Var::zeros((1, c.lang_dim), candle_core::DType::F32, dev)?;
        let dh = Var::zeros((1, c.hidden), candle_core::DType::F32, dev)?;
        let dc = Var::zeros((1, c.hidden), candle_core::DType::F32, dev)?;
        let mut vars = Vec::new();
        if cfg.target != RegressTarget::State {
            vars.push(("dz".to_string(), dz.clone()));
        }
        if cfg.target != RegressTarget::Language {
            vars.push(("dh".to_string(), dh.clone()));
            vars.push(("dc".to_string(), dc.clone()));
        }
        let opt = Adam::from_vars(vars, cfg.lr, 1e-8)?;
        let fast = match (fast && dev.is_cpu(), model.core_weights()?) {
            (true, Some(weights)) => Some(Fast { weights, scratch: Scratch::default(), adam: SliceAdam::default() }),
            _ => None,
        };
        Ok(Self {
            cfg,
            steps: VecDeque::new(),
            start: None,
            dz,
            dh,
            dc,
            opt,
            fast,
        })
    }

    pub fn reset(&mut self) {
        self.steps.clear();
        self.start = None;
        let _ = self.dz.set(
            &self
                .dz
                .zeros_like()
                .unwrap_or_else(|_| self.dz.as_tensor().clone()),
        );
        let _ = self.opt.reset();
        if let Some(f) = self.fast.as_mut() {
            f.adam.reset();
        }
    }

    /// Adds this tick, regresses, and returns the latent and LSTM state to use for
    /// it, plus the window error before and after regression.
    pub fn tick(
        &mut self,
        m: &Sarnn,
        now: WindowStep,
        state: LstmState,
    ) -> Result<(Tensor, LstmState, Option<(f32, f32)>)> {
        let now = WindowStep {
            pts: now.pts.detach(),
            joints: now.joints.detach(),
            z: now.z.detach(),
        };
        if self.start.is_none() {
            self.start = Some(LstmState {
                h: state.h.detach(),
                c: state.c.detach(),
            });
        }
        self.steps.push_back(now);
        if self.steps.len() > self.cfg.window + 1 {
            // Slide: advance the start state one tick along the regressed trajectory.
            let old = self
                .steps
                .pop_front()
                .ok_or_else(|| DplError::Config("empty window".into()))?;
            let s = self
                .start
                .take()
                .ok_or_else(|| DplError::Config("no start state".into()))?;
            let z = old.z.add(self.dz.as_tensor())?;
            let x = m.core_input(&old.pts, &old.joints, None, &z)?;
            let next = m.lstm_step(&m.input_gates(&x)?, &s)?;
            self.start = Some(LstmState {
                h: next.h.detach(),
                c: next.c.detach(),
            });
        }
        let n = self.steps.len() - 1;
        let mut errs = None;
        if n >= 1 && self.cfg.iterations > 0 {
            let past: Vec<&WindowStep> = self.steps.iter().take(n).collect();
            let pts = Tensor::cat(&past.iter().map(|s| &s.pts).collect::<Vec<_>>(), 0)?;
            let jnt = Tensor::cat(&past.iter().map(|s| &s.joints).collect::<Vec<_>>(), 0)?;
            let z = Tensor::cat(&past.iter().map(|s| &s.z).collect::<Vec<_>>(), 0)?;
            let next: Vec<&WindowStep> = self.steps.iter().skip(1).collect();
            let pts_t = Tensor::cat(&next.iter().map(|s| &s.pts).collect::<Vec<_>>(), 0)?;
            let jnt_t = Tensor::cat(&next.iter().map(|s| &s.joints).collect::<Vec<_>>(), 0)?;
            errs = Some(if self.fast.is_some() {
                self.regress_fast(m, &pts, &jnt, &z, &pts_t, &jnt_t)?
            } else {
                let mut first = None;
                let mut last = 0.0;
                for _ in 0..self.cfg.iterations {
                    let loss = self.window_loss(m, &pts, &jnt, &z, &pts_t, &jnt_t)?;
                    let v = loss.to_scalar::<f32>()?;
                    first.get_or_insert(v);
                    last = v;
                    self.opt.step(&loss.backward()?)?;
                }
                let after = self.window_loss(m, &pts, &jnt, &z, &pts_t, &jnt_t)?.to_scalar::<f32>()?;
                (first.unwrap_or(last), after)
            });
            // Bake the state offset into the start state so it slides with the window.
            let s = self
                .start
                .take()
                .ok_or_else(|| DplError::Config("no start state".into()))?;
            self.start = Some(LstmState {
                h: (s.h + self.dh.as_tensor())?.detach(),
                c: (s.c + self.dc.as_tensor())?.detach(),
            });
            self.dh.set(&self.dh.zeros_like()?)?;
            self.dc.set(&self.dc.zeros_like()?)?;
        }
        // Re-run the window with the regressed latent to get the state for this tick.
        let mut s = self
            .start
            .clone()
            .ok_or_else(|| DplError::Config("no start state".into()))?;
        for st in self.steps.iter().take(n) {
            let x = m.core_input(&st.pts, &st.joints, None, &st.z.add(self.dz.as_tensor())?)?;
            s = m.lstm_step(&m.input_gates(&x)?, &s)?;
        }
        let cur = self
            .steps
            .back()
            .ok_or_else(|| DplError::Config("empty window".into()))?;
        let z_now = cur.z.add(self.dz.as_tensor())?.detach();
        Ok((
            z_now,
            LstmState {
                h: s.h.detach(),
                c: s.c.detach(),
            },
            errs,
        ))
    }

    /// The regression iterations by the hand-written gradient; same updates
    /// as the autograd path. Returns the window error before and after.
    fn regress_fast(&mut self, m: &Sarnn, pts: &Tensor, jnt: &Tensor, z: &Tensor, pts_t: &Tensor, jnt_t: &Tensor) -> Result<(f32, f32)> {
        let start = self.start.as_ref().ok_or_else(|| DplError::Config("no start state".into()))?;
        let w = Window {
            n: pts.dim(0)?,
            gx: flat(&m.input_gates(&m.core_input(pts, jnt, None, z)?)?)?,
            joints_in: flat(jnt)?,
            jnt_t: flat(jnt_t)?,
            pts_t: flat(pts_t)?,
            h0: flat(&start.h)?,
            c0: flat(&start.c)?,
            w_joint: self.cfg.w_joint as f32,
            w_point: self.cfg.w_point as f32,
        };
        let (mut dz, mut dh, mut dc) = (flat(self.dz.as_tensor())?, flat(self.dh.as_tensor())?, flat(self.dc.as_tensor())?);
        let f = self.fast.as_mut().ok_or_else(|| DplError::Config("no fast path".into()))?;
        let (mut first, mut last) = (None, 0.0);
        for _ in 0..self.cfg.iterations {
            let (l, g) = f.weights.loss_and_grads(&w, &dz, &dh, &dc, &mut f.scratch);
            first.get_or_insert(l);
            last = l;
            let mut params: Vec<(&mut [f32], &[f32])> = Vec::with_capacity(3);
            if self.cfg.target != RegressTarget::State {
                params.push((&mut dz, &g.dz));
            }
            if self.cfg.target != RegressTarget::Language {
                params.push((&mut dh, &g.dh));
                params.push((&mut dc, &g.dc));
            }
            f.adam.step(self.cfg.lr as f32, 1e-8, &mut params);
        }
        let after = f.weights.loss(&w, &dz, &dh, &dc, &mut f.scratch);
        let dev = self.dz.device().clone();
        self.dz.set(&Tensor::from_vec(dz, self.dz.shape(), &dev)?)?;
        self.dh.set(&Tensor::from_vec(dh, self.dh.shape(), &dev)?)?;
        self.dc.set(&Tensor::from_vec(dc, self.dc.shape(), &dev)?)?;
        Ok((first.unwrap_or(last), after))
    }

    fn window_loss(
        &self,
        m: &Sarnn,
        pts: &Tensor,
        jnt: &Tensor,
        z: &Tensor,
        pts_t: &Tensor,
        jnt_t: &Tensor,
    ) -> Result<Tensor> {
        let start = self
            .start
            .as_ref()
            .ok_or_else(|| DplError::Config("no start state".into()))?;
        let x = m.core_input(pts, jnt, None, &z.broadcast_add(self.dz.as_tensor())?)?;
        let gx = m.input_gates(&x)?;
        let mut s = LstmState {
            h: start.h.broadcast_add(self.dh.as_tensor())?,
            c: start.c.broadcast_add(self.dc.as_tensor())?,
        };
        let mut hs = Vec::with_capacity(pts.dim(0)?);
        for t in 0..pts.dim(0)? {
            s = m.lstm_step(&gx.narrow(0, t, 1)?, &s)?;
            hs.push(s.h.clone());
        }
        let (yj, yp) = m.motor_heads(&Tensor::cat(&hs, 0)?, jnt, None)?;
        let l = ((candle_nn::loss::mse(&yj, jnt_t)? * self.cfg.w_joint)?
            + (candle_nn::loss::mse(&yp, pts_t)? * self.cfg.w_point)?)?;
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModelConfig;
    use candle_core::Device;

    /// Random window steps for a model (points, joints in [-1, 1], a latent).
    fn steps(m: &Sarnn, n: usize, seed: u64) -> Vec<WindowStep> {
        let c = m.config();
        let dev = Device::Cpu;
        let mut x = seed as f32;
        let mut rnd = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    x = (x * 16807.0 + 0.5) % 2147.0;
                    (x / 1073.5) - 1.0
                })
                .collect()
        };
        (0..n)
            .map(|_| WindowStep {
                pts: Tensor::from_vec(rnd(2 * c.keypoints), (1, 2 * c.keypoints), &dev).unwrap(),
                joints: Tensor::from_vec(rnd(c.joints), (1, c.joints), &dev).unwrap(),
                z: Tensor::from_vec(rnd(c.lang_dim), (1, c.lang_dim), &dev).unwrap(),
            })
            .collect()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// The hand-written gradient path and candle's autograd give the same
    /// regression, tick after tick, for every target and both joint heads.
    #[test]
    fn fast_path_matches_autograd() {
        for residual in [false, true] {
            for target in [RegressTarget::Both, RegressTarget::State, RegressTarget::Language] {
                let cfg = ModelConfig { residual_joints: residual, image_height: 24, image_width: 24, ..ModelConfig::default() };
                let m = Sarnn::new(&cfg, 3, &Device::Cpu).unwrap();
                let rc = RegressConfig { window: 5, iterations: 8, target, ..RegressConfig::default() };
                let mut fast = ErrorRegression::with_path(&m, rc.clone(), true).unwrap();
                let mut slow = ErrorRegression::with_path(&m, rc, false).unwrap();
                assert!(fast.fast.is_some() && slow.fast.is_none());
                let mut state = m.zero_state(1).unwrap();
                for (k, s) in steps(&m, 9, 7).into_iter().enumerate() {
                    let twin = WindowStep { pts: s.pts.clone(), joints: s.joints.clone(), z: s.z.clone() };
                    let (zf, sf, ef) = fast.tick(&m, s, state.clone()).unwrap();
                    let (zs, ss, es) = slow.tick(&m, twin, state.clone()).unwrap();
                    let what = format!("residual {residual}, {target:?}, tick {k}");
                    assert!(max_diff(&zf, &zs) < 1e-4, "{what}: z");
                    assert!(max_diff(&sf.h, &ss.h) < 1e-4 && max_diff(&sf.c, &ss.c) < 1e-4, "{what}: state");
                    match (ef, es) {
                        (Some((b1, a1)), Some((b2, a2))) => {
                            assert!((b1 - b2).abs() < 1e-5 * b2.max(1.0) && (a1 - a2).abs() < 1e-5 * a2.max(1.0), "{what}: {b1} {a1} vs {b2} {a2}");
                            assert!(a1 <= b1, "{what}: regression raised the error {b1} -> {a1}");
                        }
                        (None, None) => {}
                        other => panic!("{what}: {other:?}"),
                    }
                    state = sf;
                }
            }
        }
    }
}
