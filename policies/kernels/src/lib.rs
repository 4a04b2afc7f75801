//! CPU f32 matrix-product kernels shared by kotoba's models.
//!
//! candle's CPU matmul is the `gemm` crate's AVX2 kernel; on a CPU with
//! AVX-512F these run two to five times faster on the products kotoba's models
//! spend their time in (the text encoder's linear layers, the SARNN's
//! convolutions and their gradients). Everything here is only reachable through
//! an [`avx512::Avx512`] token, which exists only where the CPU has AVX-512F, so
//! callers keep their own portable path for other CPUs.

#[cfg(target_arch = "x86_64")]
pub mod avx512;
#[cfg(target_arch = "x86_64")]
pub mod avx512_dot;
