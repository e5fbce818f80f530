//! Which update rule trains a head.

use serde::{Deserialize, Serialize};

/// The update rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Adam; `l2` is added to the gradient (classic L2 regularisation).
    Adam,
    /// AdamW; `l2` is decoupled weight decay.
    #[default]
    AdamW,
    /// SGD with momentum 0.9; `l2` is added to the gradient.
    Sgd,
}

settings::serde_names!(OptimizerKind);
