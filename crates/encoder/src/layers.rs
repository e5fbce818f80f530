use std::fmt;
use std::str::FromStr;

use bert::burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// Which encoder layers a feature vector is made of. The last layer is specialised
/// to BERT's pre-training tasks; averaging or concatenating the last few often
/// transfers better to classification (Devlin et al., 2019, §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum LayerSelection {
    /// The final layer only.
    #[default]
    Last,
    /// The element-wise mean of the last `k` layers.
    Mean(usize),
    /// The last `k` layers side by side (`k × hidden` wide).
    Concat(usize),
}

impl LayerSelection {
    /// How many times the hidden width the features are.
    pub fn width_factor(self) -> usize {
        match self {
            LayerSelection::Concat(k) => k,
            _ => 1,
        }
    }

    /// True when every layer's states must be kept.
    pub fn needs_all_layers(self) -> bool {
        self != LayerSelection::Last
    }

    /// Combines per-layer states (`hidden_states`, embeddings first) into one
    /// `[batch, seq, width]` tensor.
    pub fn combine(self, last: Tensor<3>, hidden_states: Vec<Tensor<3>>) -> Tensor<3> {
        let take_last = |k: usize| hidden_states[hidden_states.len() - k..].to_vec();
        match self {
            LayerSelection::Last => last,
            LayerSelection::Mean(k) => {
                let layers = take_last(k);
                Tensor::stack::<4>(layers, 0)
                    .mean_dim(0)
                    .squeeze_dim::<3>(0)
            }
            LayerSelection::Concat(k) => Tensor::cat(take_last(k), 2),
        }
    }

    /// Checks `k` against the model's depth.
    pub fn validate(self, num_layers: usize) -> Result<(), settings::SettingError> {
        match self {
            LayerSelection::Mean(k) | LayerSelection::Concat(k) if k == 0 || k > num_layers => {
                Err(settings::SettingError::new(
                    "layers",
                    self,
                    format!("needs 1 to {num_layers} layers (the model has {num_layers})"),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for LayerSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayerSelection::Last => f.write_str("last"),
            LayerSelection::Mean(k) => write!(f, "mean{k}"),
            LayerSelection::Concat(k) => write!(f, "concat{k}"),
        }
    }
}

impl FromStr for LayerSelection {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let count = |digits: &str| {
            digits
                .parse::<usize>()
                .map_err(|_| format!("bad layer count in {s:?}: expected e.g. mean4 or concat4"))
        };
        if s == "last" {
            Ok(LayerSelection::Last)
        } else if let Some(k) = s.strip_prefix("mean") {
            count(k).map(LayerSelection::Mean)
        } else if let Some(k) = s.strip_prefix("concat") {
            count(k).map(LayerSelection::Concat)
        } else {
            Err(format!(
                "unknown layer selection {s:?}: expected last, meanK or concatK"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_same() {
        for s in ["last", "mean4", "concat2"] {
            assert_eq!(s.parse::<LayerSelection>().unwrap().to_string(), s);
        }
        assert!("mean".parse::<LayerSelection>().is_err());
        assert!(LayerSelection::Concat(7).validate(6).is_err());
        assert!(LayerSelection::Mean(6).validate(6).is_ok());
    }
}
