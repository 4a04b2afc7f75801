//! Stride-1 2-D convolution as im2col + one GEMM, in channel-major layout.
//!
//! candle 0.11's CPU `conv2d` (tiled im2col) and especially its `conv_transpose2d`
//! (used for the input gradient) are far slower than a GEMM on these small maps, so
//! on the CPU the convolution is one custom op, [`Conv`], with its own backward:
//! the unfolded input never enters candle's graph (whose backward would allocate
//! and add a zero gradient of its size, a third of a training step in `perf`),
//! and nothing of its size is kept for the backward pass. The products are in
//! [`crate::conv_cols`]: on AVX-512 they read the input in place, elsewhere it
//! is unfolded (again in the backward pass). Other devices use candle's own
//! convolution.
//!
//! Activations inside a conv stack are kept as `(C, N, H, W)`: then a whole batch
//! is one `(CO, C·k·k+1) × (C·k·k+1, N·OH·OW)` product whose output is already the
//! next layer's input, the weight gradient is one product too (no per-sample
//! products summed by a reduction), and the bias rides along as a row of ones in
//! the unfolded input, so there is no broadcast add and no bias reduction.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use crate::conv_cols::{self, Geometry, Path};

pub(crate) fn out_hw(h: usize, w: usize, k: usize, pad: usize) -> (usize, usize) {
    (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k)
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<f32>()?[a..b]),
        None => candle_core::bail!("{what} needs a contiguous input"),
    }
}

/// `(x (C, N, H, W), w (CO, C, k, k), b (CO))` -> `(CO, N, OH, OW)`.
struct Conv {
    pad: usize,
    path: Path,
}

/// `(dy (CO, N, OH, OW), w (CO, C, k, k))` -> `dx (C, N, H, W)`.
struct ConvGradInput {
    g: Geometry,
    path: Path,
}

/// `(dy (CO, N, OH, OW), x (C, N, H, W))` -> `[dw | db] (CO, C·k·k + 1)`.
struct ConvGradWeights {
    g: Geometry,
    path: Path,
}

fn geometry(x: &Layout, w: &Layout, pad: usize) -> candle_core::Result<Geometry> {
    let (c, n, h, wd) = x.shape().dims4()?;
    let (co, ci, k, k2) = w.shape().dims4()?;
    if ci != c || k2 != k || h + 2 * pad < k || wd + 2 * pad < k {
        candle_core::bail!("conv: input {:?} does not fit weights {:?} (pad {pad})", x.shape(), w.shape());
    }
    Ok(Geometry { c, n, h, w: wd, co, k, pad })
}

impl CustomOp3 for Conv {
    fn name(&self) -> &'static str {
        "kotoba-conv"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = geometry(xl, wl, self.pad)?;
        let (x, w, b) = (contiguous(xs, xl, "conv")?, contiguous(ws, wl, "conv")?, contiguous(bs, bl, "conv")?);
        if b.len() != g.co {
            candle_core::bail!("conv: bias {:?} for {} channels", bl.shape(), g.co);
        }
        let (oh, ow) = g.out_hw();
        let y = conv_cols::forward(self.path, &g, x, w, b);
        Ok((CpuStorage::F32(y), Shape::from((g.co, g.n, oh, ow))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = geometry(x.layout(), w.layout(), self.pad)?;
        let grad = grad.contiguous()?;
        // Only what something upstream needs: the images feeding the first
        // layer and frozen weights get none.
        let dx = match x.track_op() {
            true => Some(grad.apply_op2_no_bwd(&w.contiguous()?, &ConvGradInput { g, path: self.path })?),
            false => None,
        };
        if !(w.track_op() || b.track_op()) {
            return Ok((dx, None, None));
        }
        let dwb = grad.apply_op2_no_bwd(&x.contiguous()?, &ConvGradWeights { g, path: self.path })?;
        let kt = w.elem_count() / g.co;
        let dw = w.track_op().then(|| dwb.narrow(1, 0, kt)?.reshape(w.shape())).transpose()?;
        let db = b.track_op().then(|| dwb.narrow(1, kt, 1)?.reshape(b.shape())).transpose()?;
        Ok((dx, dw, db))
    }
}

impl CustomOp2 for ConvGradInput {
    fn name(&self) -> &'static str {
        "kotoba-conv-grad-input"
    }

    fn cpu_fwd(&self, gs: &CpuStorage, gl: &Layout, ws: &CpuStorage, wl: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (dy, w) = (contiguous(gs, gl, "conv grad")?, contiguous(ws, wl, "conv grad")?);
        let g = &self.g;
        let dx = conv_cols::grad_input(self.path, g, w, dy);
        Ok((CpuStorage::F32(dx), Shape::from((g.c, g.n, g.h, g.w))))
    }
}

impl CustomOp2 for ConvGradWeights {
    fn name(&self) -> &'static str {
        "kotoba-conv-grad-weights"
    }

    fn cpu_fwd(&self, gs: &CpuStorage, gl: &Layout, xs: &CpuStorage, xl: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (dy, x) = (contiguous(gs, gl, "conv grad")?, contiguous(xs, xl, "conv grad")?);
        let g = &self.g;
        let dwb = conv_cols::grad_weights(self.path, g, x, dy);
        Ok((CpuStorage::F32(dwb), Shape::from((g.co, g.c * g.k * g.k + 1))))
    }
}

/// `x (C, N, H, W)` * `w (CO, C, k, k)` + `b (CO)`, zero padding `pad`, stride 1
/// -> `(CO, N, OH, OW)`.
pub fn conv2d_cm(x: &Tensor, w: &Tensor, b: &Tensor, pad: usize) -> candle_core::Result<Tensor> {
    conv2d_cm_on(x, w, b, pad, Path::detect())
}

/// [`conv2d_cm`] with the products on `path` (the tests compare the two paths).
fn conv2d_cm_on(x: &Tensor, w: &Tensor, b: &Tensor, pad: usize, path: Path) -> candle_core::Result<Tensor> {
    if !x.device().is_cpu() {
        let co = w.dim(0)?;
        let y = x.transpose(0, 1)?.conv2d(w, pad, 1, 1, 1)?;
        let y = y.broadcast_add(&b.reshape((1, co, 1, 1))?)?;
        return y.transpose(0, 1)?.contiguous();
    }
    x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, Conv { pad, path })
}

/// LeakyReLU with slope `a` below zero, one pass forward and one backward
/// (`maximum(x, a·x)` costs four full-size tensors and a comparison).
pub fn leaky_relu(x: &Tensor, a: f32) -> candle_core::Result<Tensor> {
    if !x.device().is_cpu() {
        return x.maximum(&(x * f64::from(a))?);
    }
    x.contiguous()?.apply_op1(Leaky(a))
}

struct Leaky(f32);
/// `(grad, x) -> grad · (x > 0 ? 1 : a)`.
struct LeakyGrad(f32);

impl CustomOp1 for Leaky {
    fn name(&self) -> &'static str {
        "kotoba-leaky-relu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "leaky_relu")?;
        let a = self.0;
        let out = x.iter().map(|&v| if v > 0.0 { v } else { a * v }).collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(arg, &LeakyGrad(self.0))?))
    }
}

impl CustomOp2 for LeakyGrad {
    fn name(&self) -> &'static str {
        "kotoba-leaky-relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (g, x) = (contiguous(s1, l1, "leaky_relu grad")?, contiguous(s2, l2, "leaky_relu grad")?);
        let a = self.0;
        let out = g.iter().zip(x).map(|(&g, &v)| if v > 0.0 { g } else { a * g }).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Both paths, against candle's conv, forward and the three gradients.
    fn paths() -> Vec<Path> {
        let mut v = vec![Path::Portable];
        if let p @ Path::Avx512(_) = Path::detect() {
            v.push(p);
        } else {
            eprintln!("no AVX-512F on this CPU: its conv path not tested");
        }
        v
    }

    /// Ours (channel-major, on `path`) and candle's conv of the same `(n, c, h, w)`
    /// input, and the gradients of the sum of squares of each, for x, w and b.
    fn compare(path: Path, (n, c, h, w): (usize, usize, usize, usize), co: usize, pad: usize) {
        let d = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (n, c, h, w), &d).unwrap()).unwrap();
        let wt = Var::from_tensor(&Tensor::randn(0f32, 1., (co, c, 3, 3), &d).unwrap()).unwrap();
        let b = Var::from_tensor(&Tensor::randn(0f32, 1., co, &d).unwrap()).unwrap();
        // Ours runs channel-major; compare in candle's (N, C, H, W).
        let x_cm = x.transpose(0, 1).unwrap();
        let ours = conv2d_cm_on(&x_cm, &wt, &b, pad, path).unwrap().transpose(0, 1).unwrap();
        let theirs = x.conv2d(&wt, pad, 1, 1, 1).unwrap().broadcast_add(&b.reshape((1, co, 1, 1)).unwrap()).unwrap();
        assert_eq!(ours.dims(), theirs.dims());
        // Sums of 9c products of N(0, 1) values, in another order.
        let scale = (9.0 * c as f32).sqrt();
        let what = format!("{path:?} {n}x{c}x{h}x{w} -> {co}, pad {pad}");
        assert!(close(&ours, &theirs) < 1e-5 * scale, "{what}: output");
        let g1 = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        for (v, name) in [(x.as_tensor(), "x"), (wt.as_tensor(), "w"), (b.as_tensor(), "b")] {
            let (a, r) = (g1.get(v).unwrap(), g2.get(v).unwrap());
            // Relative to the gradient's size: the weight gradients sum over every output pixel.
            let size = r.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
            assert!(close(a, r) < 1e-5 * size.max(1.0), "{what}: gradient of {name}");
        }
    }

    #[test]
    fn matches_candle_conv_and_its_gradients() {
        for path in paths() {
            for pad in [0, 2] {
                compare(path, (2, 3, 7, 6), 4, pad);
            }
        }
    }

    /// Shapes off the kernels' tiles: output channels off 14 rows (and 6 x 4
    /// dot tiles), pixel counts off the 32-column panels and the 2048-column
    /// chunk, a single image, a single output pixel, the SARNN's layers.
    #[test]
    fn both_paths_match_candle_on_odd_shapes() {
        let cases = [
            ((1, 1, 3, 3), 1, 0),
            ((3, 5, 9, 11), 15, 0),
            ((1, 16, 12, 10), 33, 1),
            ((2, 32, 13, 17), 5, 2),
            ((4, 3, 31, 29), 16, 0),
            ((2, 5, 20, 21), 32, 2),
        ];
        for path in paths() {
            for (shape, co, pad) in cases {
                compare(path, shape, co, pad);
            }
        }
    }

    /// The first layer reads the images, which need no gradient, and frozen
    /// weights need none either: the op gives none for them.
    #[test]
    fn no_gradient_where_none_is_tracked() {
        let d = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (3, 2, 6, 6), &d).unwrap();
        let w = Var::from_tensor(&Tensor::randn(0f32, 1., (4, 3, 3, 3), &d).unwrap()).unwrap();
        let b = Tensor::zeros(4, candle_core::DType::F32, &d).unwrap();
        let g = conv2d_cm(&x, &w, &b, 0).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(g.get(&x).is_none() && g.get(&b).is_none());
        assert!(g.get(&w).is_some());
    }

    #[test]
    fn leaky_relu_and_its_gradient_match_the_reference() {
        let d = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1., (3, 5), &d).unwrap()).unwrap();
        let ours = leaky_relu(&x, 0.3).unwrap();
        let theirs = x.maximum(&(x.as_tensor() * 0.3).unwrap()).unwrap();
        assert!(close(&ours, &theirs) < 1e-7);
        let w = Tensor::randn(0f32, 1., (3, 5), &d).unwrap();
        let g1 = (&ours * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = (&theirs * &w).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(close(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-6);
    }
}
