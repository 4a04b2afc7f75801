//! The two joint controllers `kotoba run`, `demo` and `eval` can close the loop
//! with, built from the robot description in one place.

use anyhow::Result;
use kotoba_controller::{ARM_JOINTS, ActiveInference, AicGains, ChainGravity, PdGains, PdGravity};
use serde::{Deserialize, Serialize};

/// Which joint controller closes the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ControllerKind {
    /// Active inference (Pezzato et al.) with gravity feed-forward from the URDF.
    Aic,
    /// PD + gravity compensation, the baseline.
    Pd,
}

/// Gravity of the six arm joints of `urdf`.
pub fn gravity(urdf: &str) -> Result<ChainGravity<6>> {
    Ok(ChainGravity::from_urdf_str(urdf, Some(&ARM_JOINTS))?)
}

/// Active inference with the tracking gains: the paper's (τ = 1 s) follow a
/// policy's moving targets about a second late, too late to grasp anything.
pub fn aic(urdf: &str) -> Result<ActiveInference<6, ChainGravity<6>>> {
    Ok(ActiveInference::new(&AicGains::arm_tracking(), gravity(urdf)?)?)
}

/// PD + gravity with the arm's gains (the controller's MuJoCo tests use the same).
pub fn pd(urdf: &str) -> Result<PdGravity<6, ChainGravity<6>>> {
    Ok(PdGravity::new(&PdGains::arm_tracking(), gravity(urdf)?)?)
}
