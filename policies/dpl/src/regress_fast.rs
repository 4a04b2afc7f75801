//! The error-regression window loss and its gradient, by hand, on plain `f32`
//! slices: the LSTM unrolled over the window, the joint and point heads, the
//! weighted MSE, and backpropagation through time to the three latents the
//! regression moves (start-state offsets `dh`, `dc` and the language offset
//! `dz`). On the CPU the same computation through candle's autograd costs
//! ~45 tensor ops per LSTM step, each allocating and recording a graph node;
//! here one iteration is a few hundred thousand multiply-adds over reused
//! buffers (plus a few hidden-sized vectors for the gradient). `regress.rs` checks both paths agree (`fast_path_matches_autograd`).
//! Only the concatenated language conditioning is covered: with FiLM, `z`
//! enters non-linearly and the autograd path is used.

use candle_core::Tensor;

/// What the window loss needs of the model, copied once per regression.
pub(crate) struct CoreWeights {
    pub hidden: usize,
    /// `(4H, H)` row-major, gate order i, f, g, o.
    pub w_hh: Vec<f32>,
    /// The language columns of the input weights, `(4H, Z)` row-major.
    pub w_z: Vec<f32>,
    pub z_dim: usize,
    /// Joint head `(D, H)` + `(D)`, point head `(2K, H)` + `(2K)`.
    pub w_j: Vec<f32>,
    pub b_j: Vec<f32>,
    pub w_p: Vec<f32>,
    pub b_p: Vec<f32>,
    /// Joint head predicts a change added to the joint input (no activation).
    pub residual: bool,
    pub slope: f32,
}

/// One window: the input gates without the language offset `(n, 4H)`, the
/// joint inputs `(n, D)`, the targets, the start state and the loss weights.
pub(crate) struct Window {
    pub n: usize,
    pub gx: Vec<f32>,
    pub joints_in: Vec<f32>,
    pub jnt_t: Vec<f32>,
    pub pts_t: Vec<f32>,
    pub h0: Vec<f32>,
    pub c0: Vec<f32>,
    pub w_joint: f32,
    pub w_point: f32,
}

/// Gradients of the loss with respect to the three offsets.
pub(crate) struct Grads {
    pub dz: Vec<f32>,
    pub dh: Vec<f32>,
    pub dc: Vec<f32>,
}

/// Scratch reused across iterations (sized on first use).
#[derive(Default)]
pub(crate) struct Scratch {
    gates: Vec<f32>,
    c: Vec<f32>,
    tc: Vec<f32>,
    h: Vec<f32>,
    aj: Vec<f32>,
    ap: Vec<f32>,
    gz: Vec<f32>,
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `out[r] += Σ_c m[r, c] · v[c]` for an `(rows, cols)` row-major `m`.
fn matvec_add(m: &[f32], cols: usize, v: &[f32], out: &mut [f32]) {
    for (o, row) in out.iter_mut().zip(m.chunks_exact(cols)) {
        *o += row.iter().zip(v).map(|(a, b)| a * b).sum::<f32>();
    }
}

/// `out[c] += Σ_r m[r, c] · v[r]` (transpose product).
fn matvec_t_add(m: &[f32], cols: usize, v: &[f32], out: &mut [f32]) {
    for (row, &s) in m.chunks_exact(cols).zip(v) {
        if s != 0.0 {
            for (o, a) in out.iter_mut().zip(row) {
                *o += a * s;
            }
        }
    }
}

impl CoreWeights {
    /// The window loss for these offsets (leaves the forward pass in `s`).
    pub fn loss(&self, w: &Window, dz: &[f32], dh: &[f32], dc: &[f32], s: &mut Scratch) -> f32 {
        let (h, n) = (self.hidden, w.n);
        let (d, p) = (self.b_j.len(), self.b_p.len());
        s.gates.resize(n * 4 * h, 0.0);
        s.c.resize((n + 1) * h, 0.0);
        s.tc.resize(n * h, 0.0);
        s.h.resize((n + 1) * h, 0.0);
        s.aj.resize(n * d, 0.0);
        s.ap.resize(n * p, 0.0);
        s.gz.resize(4 * h, 0.0);
        // The language offset shifts every step's input gates the same way.
        s.gz.iter_mut().for_each(|g| *g = 0.0);
        matvec_add(&self.w_z, self.z_dim, dz, &mut s.gz);
        for k in 0..h {
            s.h[k] = w.h0[k] + dh[k];
            s.c[k] = w.c0[k] + dc[k];
        }
        let mut loss_j = 0.0f32;
        let mut loss_p = 0.0f32;
        for t in 0..n {
            let g = &mut s.gates[t * 4 * h..(t + 1) * 4 * h];
            for (j, gj) in g.iter_mut().enumerate() {
                *gj = w.gx[t * 4 * h + j] + s.gz[j];
            }
            matvec_add(&self.w_hh, h, &s.h[t * h..(t + 1) * h], g);
            for k in 0..h {
                let (i, f) = (sigmoid(g[k]), sigmoid(g[h + k]));
                let (gg, o) = (g[2 * h + k].tanh(), sigmoid(g[3 * h + k]));
                g[k] = i;
                g[h + k] = f;
                g[2 * h + k] = gg;
                g[3 * h + k] = o;
                let c = f * s.c[t * h + k] + i * gg;
                s.c[(t + 1) * h + k] = c;
                s.tc[t * h + k] = c.tanh();
                s.h[(t + 1) * h + k] = o * s.tc[t * h + k];
            }
            let ht = &s.h[(t + 1) * h..(t + 2) * h];
            let aj = &mut s.aj[t * d..(t + 1) * d];
            aj.copy_from_slice(&self.b_j);
            matvec_add(&self.w_j, h, ht, aj);
            for (m, a) in aj.iter().enumerate() {
                let y = if self.residual { w.joints_in[t * d + m] + a } else { a.max(a * self.slope) };
                loss_j += (y - w.jnt_t[t * d + m]).powi(2);
            }
            let ap = &mut s.ap[t * p..(t + 1) * p];
            ap.copy_from_slice(&self.b_p);
            matvec_add(&self.w_p, h, ht, ap);
            for (m, a) in ap.iter().enumerate() {
                loss_p += (a.max(a * self.slope) - w.pts_t[t * p + m]).powi(2);
            }
        }
        w.w_joint * loss_j / (n * d) as f32 + w.w_point * loss_p / (n * p) as f32
    }

    /// The window loss and its gradient with respect to `dz`, `dh`, `dc`.
    pub fn loss_and_grads(&self, w: &Window, dz: &[f32], dh: &[f32], dc: &[f32], s: &mut Scratch) -> (f32, Grads) {
        let loss = self.loss(w, dz, dh, dc, s);
        let (h, n) = (self.hidden, w.n);
        let (d, p) = (self.b_j.len(), self.b_p.len());
        let leaky_grad = |a: f32| if a > 0.0 { 1.0 } else { self.slope };
        let mut g = Grads { dz: vec![0.0; self.z_dim], dh: vec![0.0; h], dc: vec![0.0; h] };
        let (mut dh_next, mut dc_next) = (vec![0.0f32; h], vec![0.0f32; h]);
        let mut dht = vec![0.0f32; h];
        let mut dgate = vec![0.0f32; 4 * h];
        let mut da = vec![0.0f32; d.max(p)];
        for t in (0..n).rev() {
            dht.copy_from_slice(&dh_next);
            // Heads.
            for m in 0..d {
                let a = s.aj[t * d + m];
                let y = if self.residual { w.joints_in[t * d + m] + a } else { a.max(a * self.slope) };
                let dy = w.w_joint * 2.0 * (y - w.jnt_t[t * d + m]) / (n * d) as f32;
                da[m] = if self.residual { dy } else { dy * leaky_grad(a) };
            }
            matvec_t_add(&self.w_j, h, &da[..d], &mut dht);
            for m in 0..p {
                let a = s.ap[t * p + m];
                let dy = w.w_point * 2.0 * (a.max(a * self.slope) - w.pts_t[t * p + m]) / (n * p) as f32;
                da[m] = dy * leaky_grad(a);
            }
            matvec_t_add(&self.w_p, h, &da[..p], &mut dht);
            // LSTM cell.
            let gt = &s.gates[t * 4 * h..(t + 1) * 4 * h];
            for k in 0..h {
                let (i, f, gg, o) = (gt[k], gt[h + k], gt[2 * h + k], gt[3 * h + k]);
                let tc = s.tc[t * h + k];
                let dc = dc_next[k] + dht[k] * o * (1.0 - tc * tc);
                dgate[k] = dc * gg * i * (1.0 - i);
                dgate[h + k] = dc * s.c[t * h + k] * f * (1.0 - f);
                dgate[2 * h + k] = dc * i * (1.0 - gg * gg);
                dgate[3 * h + k] = dht[k] * tc * o * (1.0 - o);
                dc_next[k] = dc * f;
            }
            dh_next.iter_mut().for_each(|x| *x = 0.0);
            matvec_t_add(&self.w_hh, h, &dgate, &mut dh_next);
            matvec_t_add(&self.w_z, self.z_dim, &dgate, &mut g.dz);
        }
        g.dh = dh_next;
        g.dc = dc_next;
        (loss, g)
    }
}

/// Adam on plain slices, the same update as `optim::Adam` (β = 0.9, 0.999).
#[derive(Default)]
pub(crate) struct SliceAdam {
    steps: i32,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl SliceAdam {
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// One step on each `(value, grad)` pair, in a fixed order across calls.
    pub fn step(&mut self, lr: f32, eps: f32, params: &mut [(&mut [f32], &[f32])]) {
        self.steps += 1;
        let (b1, b2) = (0.9f32, 0.999f32);
        let (c1, c2) = (1.0 - b1.powi(self.steps), 1.0 - b2.powi(self.steps));
        if self.m.len() != params.len() {
            self.m = params.iter().map(|(x, _)| vec![0.0; x.len()]).collect();
            self.v = self.m.clone();
        }
        for ((x, g), (m, v)) in params.iter_mut().zip(self.m.iter_mut().zip(self.v.iter_mut())) {
            for k in 0..x.len() {
                m[k] = m[k] * b1 + g[k] * (1.0 - b1);
                v[k] = v[k] * b2 + g[k] * g[k] * (1.0 - b2);
                x[k] -= lr * (m[k] / c1) / ((v[k] / c2).sqrt() + eps);
            }
        }
    }
}

/// A 2-D tensor's values, row-major.
pub(crate) fn flat(t: &Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}
