//! What early stopping watches, in both modes.

use serde::{Deserialize, Serialize};

/// The validation quantity early stopping watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// Cross-entropy of the validation set: smooth, so the kept epoch is stable even
    /// when rare classes have a handful of validation examples.
    #[default]
    Loss,
    /// Macro-F1: what the sweep ranks by, but noisy on small validation sets.
    MacroF1,
    /// The share of validation examples classified right.
    Accuracy,
}

settings::serde_names!(Monitor);

impl Monitor {
    /// The watched quantity as a score where higher is better.
    pub fn score_of(self, loss: f64, macro_f1: f64, accuracy: f64) -> f64 {
        match self {
            Monitor::Loss => -loss,
            Monitor::MacroF1 => macro_f1,
            Monitor::Accuracy => accuracy,
        }
    }
}
