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
}

impl ErrorRegression {
    pub fn new(model: &Sarnn, cfg: RegressConfig) -> Result<Self> {
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
        Ok(Self {
            cfg,
            steps: VecDeque::new(),
            start: None,
            dz,
            dh,
            dc,
            opt,
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
            let x = m.core_input(&old.pts, &old.joints, &z)?;
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
            let mut first = None;
            let mut last = 0.0;
            for _ in 0..self.cfg.iterations {
                let loss = self.window_loss(m, &pts, &jnt, &z, &pts_t, &jnt_t)?;
                let v = loss.to_scalar::<f32>()?;
                first.get_or_insert(v);
                last = v;
                self.opt.step(&loss.backward()?)?;
            }
            let after = self
                .window_loss(m, &pts, &jnt, &z, &pts_t, &jnt_t)?
                .to_scalar::<f32>()?;
            errs = Some((first.unwrap_or(last), after));
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
            let x = m.core_input(&st.pts, &st.joints, &st.z.add(self.dz.as_tensor())?)?;
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
        let x = m.core_input(pts, jnt, &z.broadcast_add(self.dz.as_tensor())?)?;
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
        let (yj, yp) = m.motor_heads(&Tensor::cat(&hs, 0)?, jnt)?;
        let l = ((candle_nn::loss::mse(&yj, jnt_t)? * self.cfg.w_joint)?
            + (candle_nn::loss::mse(&yp, pts_t)? * self.cfg.w_point)?)?;
        Ok(l)
    }
}
