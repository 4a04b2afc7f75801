//! Stride-1 2-D convolution as im2col + one GEMM, in channel-major layout.
//!
//! candle 0.11's CPU `conv2d` (tiled im2col) and especially its `conv_transpose2d`
//! (used for the input gradient) are far slower than a GEMM on these small maps, so
//! on the CPU we unfold the input ourselves and let candle's matmul (and its
//! backward) do the arithmetic. The unfold's gradient is the matching fold
//! (col2im). Other devices use candle's own convolution.
//!
//! Activations inside a conv stack are kept as `(C, N, H, W)`: then a whole batch
//! is one `(CO, C·k·k+1) × (C·k·k+1, N·OH·OW)` product whose output is already the
//! next layer's input, the weight gradient is one product too (no per-sample
//! products summed by a reduction), and the bias rides along as a row of ones in
//! the unfolded input, so there is no broadcast add and no bias reduction.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor};

/// `(C, N, H, W)` -> `(C*k*k + 1, N*OH*OW)`, zero padding `pad`, stride 1; the
/// last row is all ones (the bias input).
struct Unfold {
    k: usize,
    pad: usize,
}

/// The adjoint of [`Unfold`]: sums columns back into `(C, N, H, W)` (the ones
/// row has no input to flow to).
struct Fold {
    k: usize,
    pad: usize,
    c: usize,
    n: usize,
    h: usize,
    w: usize,
}

pub(crate) fn out_hw(h: usize, w: usize, k: usize, pad: usize) -> (usize, usize) {
    (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k)
}

/// For kernel offset `kk` and padding `pad`, the output range whose input index
/// `o + kk - pad` lies inside `0..len`.
fn valid(o_len: usize, kk: usize, pad: usize, len: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(kk);
    let hi = (len + pad).saturating_sub(kk).min(o_len);
    (lo, hi.max(lo))
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<f32>()?[a..b]),
        None => candle_core::bail!("{what} needs a contiguous input"),
    }
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "kotoba-unfold"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (c, n, h, w) = l.shape().dims4()?;
        let x = contiguous(s, l, "unfold")?;
        let (k, p) = (self.k, self.pad);
        let (oh, ow) = out_hw(h, w, k, p);
        let (rows, l_out) = (c * k * k, oh * ow);
        let cols = n * l_out;
        let mut out = vec![0f32; (rows + 1) * cols];
        for ci in 0..c {
            for ky in 0..k {
                let (y0, y1) = valid(oh, ky, p, h);
                for kx in 0..k {
                    let (x0, x1) = valid(ow, kx, p, w);
                    let row = &mut out[((ci * k + ky) * k + kx) * cols..][..cols];
                    for (b, dst) in row.chunks_mut(l_out).enumerate() {
                        let src = &x[(ci * n + b) * h * w..][..h * w];
                        for oy in y0..y1 {
                            let ix0 = x0 + kx - p;
                            let iy = oy + ky - p;
                            dst[oy * ow + x0..oy * ow + x1]
                                .copy_from_slice(&src[iy * w + ix0..iy * w + ix0 + (x1 - x0)]);
                        }
                    }
                }
            }
        }
        out[rows * cols..].fill(1.0);
        Ok((CpuStorage::F32(out), Shape::from((rows + 1, cols))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (c, n, h, w) = arg.dims4()?;
        let fold = Fold { k: self.k, pad: self.pad, c, n, h, w };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&fold)?))
    }
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "kotoba-fold"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let g = contiguous(s, l, "fold")?;
        let (k, p, c, n, h, w) = (self.k, self.pad, self.c, self.n, self.h, self.w);
        let (oh, ow) = out_hw(h, w, k, p);
        let (l_out, cols) = (oh * ow, n * oh * ow);
        let mut out = vec![0f32; c * n * h * w];
        for ci in 0..c {
            for ky in 0..k {
                let (y0, y1) = valid(oh, ky, p, h);
                for kx in 0..k {
                    let (x0, x1) = valid(ow, kx, p, w);
                    let row = &g[((ci * k + ky) * k + kx) * cols..][..cols];
                    for (b, src) in row.chunks(l_out).enumerate() {
                        let dst = &mut out[(ci * n + b) * h * w..][..h * w];
                        for oy in y0..y1 {
                            let iy = oy + ky - p;
                            let ix0 = x0 + kx - p;
                            let d = &mut dst[iy * w + ix0..iy * w + ix0 + (x1 - x0)];
                            for (a, b) in d.iter_mut().zip(&src[oy * ow + x0..oy * ow + x1]) {
                                *a += b;
                            }
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((c, n, h, w))))
    }
}

/// `x (C, N, H, W)` * `w (CO, C, k, k)` + `b (CO)`, zero padding `pad`, stride 1
/// -> `(CO, N, OH, OW)`.
pub fn conv2d_cm(x: &Tensor, w: &Tensor, b: &Tensor, pad: usize) -> candle_core::Result<Tensor> {
    let (_, n, h, wd) = x.dims4()?;
    let (co, _, k, _) = w.dims4()?;
    let (oh, ow) = out_hw(h, wd, k, pad);
    if !x.device().is_cpu() {
        let y = x.transpose(0, 1)?.conv2d(w, pad, 1, 1, 1)?;
        let y = y.broadcast_add(&b.reshape((1, co, 1, 1))?)?;
        return y.transpose(0, 1)?.contiguous();
    }
    let cols = x.contiguous()?.apply_op1(Unfold { k, pad })?;
    let wb = Tensor::cat(&[w.reshape((co, ()))?, b.reshape((co, 1))?], 1)?;
    wb.matmul(&cols)?.reshape((co, n, oh, ow))
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

    #[test]
    fn matches_candle_conv_and_its_gradients() {
        let d = Device::Cpu;
        for pad in [0, 2] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1., (2, 3, 7, 6), &d).unwrap()).unwrap();
            let w = Var::from_tensor(&Tensor::randn(0f32, 1., (4, 3, 3, 3), &d).unwrap()).unwrap();
            let b = Var::from_tensor(&Tensor::randn(0f32, 1., 4, &d).unwrap()).unwrap();
            // Ours runs channel-major; compare in candle's (N, C, H, W).
            let x_cm = x.transpose(0, 1).unwrap();
            let ours = conv2d_cm(&x_cm, &w, &b, pad).unwrap().transpose(0, 1).unwrap();
            let theirs = x.conv2d(&w, pad, 1, 1, 1).unwrap().broadcast_add(&b.reshape((1, 4, 1, 1)).unwrap()).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(close(&ours, &theirs) < 1e-4);
            let g1 = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            for v in [x.as_tensor(), w.as_tensor(), b.as_tensor()] {
                assert!(close(g1.get(v).unwrap(), g2.get(v).unwrap()) < 1e-3);
            }
        }
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
