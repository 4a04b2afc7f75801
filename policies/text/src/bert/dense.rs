//! The encoder's linear layers: candle's `Linear`, or on an AVX-512 CPU the
//! packed kernel of [`super::gemm_avx512`] (timings in the crate README).

use candle_core::{Module, Tensor};
use candle_nn::Linear;

#[cfg(target_arch = "x86_64")]
use {
    super::gemm_avx512::PackedLinear,
    candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape},
};

/// One of the two, never both: the packed copy replaces candle's weights, so
/// the linear layers are held once in memory (42 MB of MiniLM's 90).
pub(crate) enum Dense {
    Candle(Linear),
    /// Only on a CPU device with AVX-512F, and only when asked for.
    #[cfg(target_arch = "x86_64")]
    Packed(PackedLinear),
}

impl Dense {
    /// Wraps `linear`; with `pack`, packs its weights for the AVX-512 kernel where
    /// they lie on the CPU in f32 and the CPU has AVX-512F.
    pub(crate) fn new(linear: Linear, pack: bool) -> candle_core::Result<Self> {
        #[cfg(target_arch = "x86_64")]
        {
            let w = linear.weight();
            if pack && w.device().is_cpu() && w.dtype() == DType::F32 {
                let (n, k) = w.dims2()?;
                let bias = linear.bias().map(|b| b.to_vec1::<f32>()).transpose()?;
                if let Some(p) = PackedLinear::new(&w.flatten_all()?.to_vec1::<f32>()?, bias.as_deref(), n, k) {
                    return Ok(Self::Packed(p));
                }
            }
        }
        let _ = pack;
        Ok(Self::Candle(linear))
    }

    /// `x W^T + b` for `x (rows, in)`.
    pub(crate) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.run(x, None, false)
    }

    /// `x W^T + b + residual`: the sum BERT's output blocks normalise.
    pub(crate) fn forward_add(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        self.run(x, Some(residual), false)
    }

    /// `gelu(x W^T + b)`, the exact (erf) GELU.
    pub(crate) fn forward_gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.run(x, None, true)
    }

    fn run(&self, x: &Tensor, residual: Option<&Tensor>, gelu: bool) -> candle_core::Result<Tensor> {
        match self {
            Self::Candle(linear) => {
                let mut y = linear.forward(x)?;
                if let Some(r) = residual {
                    y = (y + r)?;
                }
                if gelu { super::model::gelu_erf(&y) } else { Ok(y) }
            }
            #[cfg(target_arch = "x86_64")]
            Self::Packed(p) => {
                // The weights were packed because they lie on the CPU, where
                // the model's activations are too.
                let x = x.contiguous()?;
                match residual {
                    // Added in the kernel: no separate pass, and none of candle's
                    // elementwise ops, whose spinning thread pool competes with rayon's.
                    Some(r) => x.apply_op2_no_bwd(&r.contiguous()?, &PackedOp { p, gelu }),
                    None => x.apply_op1_no_bwd(&PackedOp { p, gelu }),
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
struct PackedOp<'a> {
    p: &'a PackedLinear,
    gelu: bool,
}

#[cfg(target_arch = "x86_64")]
impl PackedOp<'_> {
    fn run(&self, s: &CpuStorage, l: &Layout, residual: Option<&[f32]>) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("packed linear needs a contiguous input");
        };
        let (m, k) = l.shape().dims2()?;
        if k != self.p.in_dim() {
            candle_core::bail!("packed linear: input {:?} does not have {} columns", l.shape(), self.p.in_dim());
        }
        let y = self.p.forward(&s.as_slice::<f32>()?[a..b], m, residual, self.gelu);
        Ok((CpuStorage::F32(y), (m, self.p.out_dim()).into()))
    }
}

#[cfg(target_arch = "x86_64")]
impl CustomOp1 for PackedOp<'_> {
    fn name(&self) -> &'static str {
        "kotoba-packed-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.run(s, l, None)
    }
}

/// The same with the residual `(m, out)` as second operand.
#[cfg(target_arch = "x86_64")]
impl CustomOp2 for PackedOp<'_> {
    fn name(&self) -> &'static str {
        "kotoba-packed-linear-add"
    }

    fn cpu_fwd(
        &self,
        s: &CpuStorage,
        l: &Layout,
        rs: &CpuStorage,
        rl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let Some((a, b)) = rl.contiguous_offsets() else {
            candle_core::bail!("packed linear needs a contiguous residual");
        };
        let (m, n) = (l.shape().dims2()?.0, self.p.out_dim());
        if rl.shape().dims2()? != (m, n) {
            candle_core::bail!("packed linear: residual {:?} is not {m} x {n}", rl.shape());
        }
        self.run(s, l, Some(&rs.as_slice::<f32>()?[a..b]))
    }
}
