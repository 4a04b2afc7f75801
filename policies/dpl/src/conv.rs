//! Stride-1 2-D convolution as im2col + one batched GEMM.
//!
//! candle 0.11's CPU `conv2d` (tiled im2col) and especially its `conv_transpose2d`
//! (used for the input gradient) are far slower than a GEMM on these small maps, so
//! on the CPU we unfold the input ourselves and let candle's matmul (and its
//! backward) do the arithmetic. The unfold's gradient is the matching fold
//! (col2im). Other devices use candle's own convolution.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

/// `(N, C, H, W)` -> `(N, C*k*k, OH*OW)`, zero padding `pad`, stride 1.
struct Unfold {
    k: usize,
    pad: usize,
}

/// The adjoint of [`Unfold`]: sums columns back into `(N, C, H, W)`.
struct Fold {
    k: usize,
    pad: usize,
    c: usize,
    h: usize,
    w: usize,
}

fn out_hw(h: usize, w: usize, k: usize, pad: usize) -> (usize, usize) {
    (h + 2 * pad + 1 - k, w + 2 * pad + 1 - k)
}

/// For kernel offset `kk` and padding `pad`, the output range whose input index
/// `o + kk - pad` lies inside `0..len`.
fn valid(o_len: usize, kk: usize, pad: usize, len: usize) -> (usize, usize) {
    let lo = pad.saturating_sub(kk);
    let hi = (len + pad).saturating_sub(kk).min(o_len);
    (lo, hi.max(lo))
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "kotoba-unfold"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, c, h, w) = l.shape().dims4()?;
        let x = match l.contiguous_offsets() {
            Some((a, b)) => &s.as_slice::<f32>()?[a..b],
            None => candle_core::bail!("unfold needs a contiguous input"),
        };
        let (k, p) = (self.k, self.pad);
        let (oh, ow) = out_hw(h, w, k, p);
        let (rows, l_out) = (c * k * k, oh * ow);
        let mut out = vec![0f32; n * rows * l_out];
        for (b, dst_b) in out.chunks_mut(rows * l_out).enumerate() {
            for ci in 0..c {
                let src = &x[(b * c + ci) * h * w..(b * c + ci + 1) * h * w];
                for ky in 0..k {
                    let (y0, y1) = valid(oh, ky, p, h);
                    for kx in 0..k {
                        let (x0, x1) = valid(ow, kx, p, w);
                        let row = &mut dst_b[((ci * k + ky) * k + kx) * l_out..][..l_out];
                        for oy in y0..y1 {
                            let iy = oy + ky - p;
                            let ix0 = x0 + kx - p;
                            row[oy * ow + x0..oy * ow + x1]
                                .copy_from_slice(&src[iy * w + ix0..iy * w + ix0 + (x1 - x0)]);
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, rows, l_out))))
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (_, c, h, w) = arg.dims4()?;
        let fold = Fold {
            k: self.k,
            pad: self.pad,
            c,
            h,
            w,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&fold)?))
    }
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "kotoba-fold"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, _, _) = l.shape().dims3()?;
        let g = match l.contiguous_offsets() {
            Some((a, b)) => &s.as_slice::<f32>()?[a..b],
            None => candle_core::bail!("fold needs a contiguous input"),
        };
        let (k, p, c, h, w) = (self.k, self.pad, self.c, self.h, self.w);
        let (oh, ow) = out_hw(h, w, k, p);
        let (rows, l_out) = (c * k * k, oh * ow);
        let mut out = vec![0f32; n * c * h * w];
        for (b, dst_b) in out.chunks_mut(c * h * w).enumerate() {
            let src_b = &g[b * rows * l_out..(b + 1) * rows * l_out];
            for ci in 0..c {
                let dst = &mut dst_b[ci * h * w..(ci + 1) * h * w];
                for ky in 0..k {
                    let (y0, y1) = valid(oh, ky, p, h);
                    for kx in 0..k {
                        let (x0, x1) = valid(ow, kx, p, w);
                        let row = &src_b[((ci * k + ky) * k + kx) * l_out..][..l_out];
                        for oy in y0..y1 {
                            let iy = oy + ky - p;
                            let ix0 = x0 + kx - p;
                            let d = &mut dst[iy * w + ix0..iy * w + ix0 + (x1 - x0)];
                            for (a, b) in d.iter_mut().zip(&row[oy * ow + x0..oy * ow + x1]) {
                                *a += b;
                            }
                        }
                    }
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, c, h, w))))
    }
}

/// `x (N, C, H, W)` * `w (CO, C, k, k)` with zero padding `pad`, stride 1 -> `(N, CO, OH, OW)`.
pub fn conv2d(x: &Tensor, w: &Tensor, pad: usize) -> candle_core::Result<Tensor> {
    if !x.device().is_cpu() {
        return x.conv2d(w, pad, 1, 1, 1);
    }
    let (n, _, h, wd) = x.dims4()?;
    let (co, _, k, _) = w.dims4()?;
    let (oh, ow) = out_hw(h, wd, k, pad);
    let cols = x.contiguous()?.apply_op1(Unfold { k, pad })?;
    let wm = w.reshape((co, ()))?.broadcast_left(n)?;
    wm.matmul(&cols)?.reshape((n, co, oh, ow))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn close(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn matches_candle_conv_and_its_gradients() {
        let d = Device::Cpu;
        for pad in [0, 2] {
            let x = Var::from_tensor(&Tensor::randn(0f32, 1., (2, 3, 7, 6), &d).unwrap()).unwrap();
            let w = Var::from_tensor(&Tensor::randn(0f32, 1., (4, 3, 3, 3), &d).unwrap()).unwrap();
            let ours = conv2d(&x, &w, pad).unwrap();
            let theirs = x.conv2d(&w, pad, 1, 1, 1).unwrap();
            assert_eq!(ours.dims(), theirs.dims());
            assert!(close(&ours, &theirs) < 1e-4);
            let g1 = ours.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            let g2 = theirs.sqr().unwrap().sum_all().unwrap().backward().unwrap();
            assert!(close(g1.get(&x).unwrap(), g2.get(&x).unwrap()) < 1e-3);
            assert!(close(g1.get(&w).unwrap(), g2.get(&w).unwrap()) < 1e-3);
        }
    }
}
