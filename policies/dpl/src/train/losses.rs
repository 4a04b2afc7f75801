//! The loss terms of one batch or epoch.

use serde::{Deserialize, Serialize};

/// Per-term losses, unweighted, plus the weighted total that is optimised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Losses {
    pub image: f64,
    pub joint: f64,
    pub point: f64,
    pub label: f64,
    /// The subgoal loss (0 for a model without the head).
    #[serde(default)]
    pub goal: f64,
    pub total: f64,
}

impl Losses {
    pub(crate) fn add_scaled(&mut self, o: &Losses, s: f64) {
        self.image += o.image * s;
        self.joint += o.joint * s;
        self.point += o.point * s;
        self.label += o.label * s;
        self.goal += o.goal * s;
        self.total += o.total * s;
    }
}

