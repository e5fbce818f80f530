//! What `--loss` and its companion flags describe, as saved in configs: a loss kind and
//! its settings, built into a [`ClassificationLoss`] once the class counts are known.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use settings::SettingError;

use crate::losses::{
    BinaryCrossEntropy, ClassWeights, ClassificationLoss, CrossEntropy, FocalBinaryCrossEntropy,
    FocalLoss, GhmcLoss, MultiLabelLoss,
};

/// The losses `--loss` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// Cross-entropy, optionally class-weighted and label-smoothed.
    #[default]
    CrossEntropy,
    /// Focal loss (Lin et al., 2017).
    Focal,
    /// Gradient harmonizing loss, GHM-C (Li et al., 2019).
    Ghm,
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LossKind::CrossEntropy => "ce",
            LossKind::Focal => "focal",
            LossKind::Ghm => "ghm",
        })
    }
}

impl FromStr for LossKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ce" | "cross-entropy" => Ok(LossKind::CrossEntropy),
            "focal" => Ok(LossKind::Focal),
            "ghm" | "ghm-c" => Ok(LossKind::Ghm),
            _ => Err(format!("unknown loss {s:?}: expected ce, focal or ghm")),
        }
    }
}

/// A loss and its settings. Settings a loss does not use must keep their defaults
/// ([`LossSpec::validate`]), so a config never claims an effect it did not have.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossSpec {
    /// Which loss.
    pub kind: LossKind,
    /// Per-class weights: cross-entropy's class weights, or focal loss's α.
    pub class_weights: Option<ClassWeights>,
    /// Cross-entropy only: ε of label smoothing, in `[0, 1)`.
    pub label_smoothing: f64,
    /// Focal loss only: γ ≥ 0 (0 with no α is cross-entropy).
    pub focal_gamma: f64,
    /// GHM-C only: equal-width bins of the gradient norm over [0, 1].
    pub ghm_bins: usize,
    /// GHM-C only: EMA momentum of the bin counts across batches, in `[0, 1)`.
    pub ghm_momentum: f64,
}

impl Default for LossSpec {
    fn default() -> Self {
        Self {
            kind: LossKind::CrossEntropy,
            class_weights: None,
            label_smoothing: 0.0,
            focal_gamma: 2.0,
            ghm_bins: 10,
            ghm_momentum: 0.75,
        }
    }
}

impl LossSpec {
    /// Explains what is wrong with settings that do not fit together.
    pub fn validate(&self) -> Result<(), SettingError> {
        let default = Self::default();
        let not_of = |setting, value: String, of: &str| {
            SettingError::new(
                setting,
                value,
                format!("is a setting of {of}, not of the {} loss", self.kind),
            )
        };
        settings::rate("label_smoothing", self.label_smoothing)?;
        if self.label_smoothing != 0.0 && self.kind != LossKind::CrossEntropy {
            return Err(not_of(
                "label_smoothing",
                self.label_smoothing.to_string(),
                "ce",
            ));
        }
        settings::non_negative("focal_gamma", self.focal_gamma)?;
        if self.focal_gamma != default.focal_gamma && self.kind != LossKind::Focal {
            return Err(not_of("focal_gamma", self.focal_gamma.to_string(), "focal"));
        }
        settings::at_least_one("ghm_bins", self.ghm_bins)?;
        settings::rate("ghm_momentum", self.ghm_momentum)?;
        if self.ghm_bins != default.ghm_bins && self.kind != LossKind::Ghm {
            return Err(not_of("ghm_bins", self.ghm_bins.to_string(), "ghm"));
        }
        if self.ghm_momentum != default.ghm_momentum && self.kind != LossKind::Ghm {
            return Err(not_of("ghm_momentum", self.ghm_momentum.to_string(), "ghm"));
        }
        match &self.class_weights {
            Some(weights) if self.kind == LossKind::Ghm => Err(SettingError::new(
                "class_weights",
                weights,
                "GHM-C weighs examples by gradient density; it takes no class weights",
            )),
            Some(ClassWeights::Effective { beta }) => settings::rate("effective_beta", *beta),
            Some(weights @ ClassWeights::Explicit(by_name)) => {
                if by_name.values().any(|w| !(w.is_finite() && *w >= 0.0))
                    || by_name.values().all(|&w| w == 0.0)
                {
                    return Err(SettingError::new(
                        "class_weights",
                        weights,
                        "weights must be ≥ 0 and not all 0",
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// [`validate`](Self::validate), and checks that class weights given by name
    /// name classes of `labels` (a typo would otherwise weigh nothing).
    pub fn validate_for(&self, labels: &[String]) -> Result<(), SettingError> {
        self.validate()?;
        if let Some(weights @ ClassWeights::Explicit(by_name)) = &self.class_weights {
            let unknown: Vec<&str> = by_name
                .keys()
                .filter(|name| !labels.contains(name))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(SettingError::new(
                    "class_weights",
                    weights,
                    format!(
                        "names {} that the training data does not have (its classes: {})",
                        unknown.join(", "),
                        labels.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The loss for training on `targets` (class indices into `labels`): class
    /// weights come from how often each class occurs there.
    pub fn build(&self, labels: &[String], targets: &[usize]) -> Box<dyn ClassificationLoss> {
        let mut counts = vec![0; labels.len()];
        for &t in targets {
            counts[t] += 1;
        }
        let weights = self
            .class_weights
            .as_ref()
            .map(|w| w.compute(labels, &counts));
        match self.kind {
            LossKind::CrossEntropy => Box::new(CrossEntropy {
                class_weights: weights,
                label_smoothing: self.label_smoothing,
            }),
            LossKind::Focal => Box::new(FocalLoss {
                gamma: self.focal_gamma,
                alpha: weights,
            }),
            LossKind::Ghm => Box::new(GhmcLoss::new(self.ghm_bins, self.ghm_momentum)),
        }
    }

    /// [`validate_for`](Self::validate_for) a multi-label task over `labels`, and
    /// refuses what has no multi-label form here, saying why: each label is a
    /// sigmoid of its own, so `ce` is binary cross-entropy (class weights weigh
    /// each label's positive terms) and `focal` the sigmoid focal loss.
    pub fn validate_for_multi_label(&self, labels: &[String]) -> Result<(), SettingError> {
        self.validate_for(labels)?;
        if self.kind == LossKind::Ghm {
            return Err(SettingError::new(
                "loss",
                self.kind,
                "GHM-C bins the gradient norms of a softmax over classes; it has no \
                 multi-label form here (use ce or focal)",
            ));
        }
        if self.label_smoothing != 0.0 {
            return Err(SettingError::new(
                "label_smoothing",
                self.label_smoothing,
                "smooths a softmax's one-hot target; a multi-label target is a set of \
                 yes-or-no decisions (leave it out)",
            ));
        }
        if let (LossKind::Focal, Some(weights)) = (self.kind, &self.class_weights) {
            return Err(SettingError::new(
                "class_weights",
                weights,
                "the sigmoid focal loss takes no per-label α here; class weights weigh \
                 positive terms with ce",
            ));
        }
        Ok(())
    }

    /// The multi-label loss for training on `targets` (`examples × labels`, true
    /// where a label applies): positive weights come from how often each label
    /// applies there. Checked first by
    /// [`validate_for_multi_label`](Self::validate_for_multi_label).
    pub fn build_multi_label(
        &self,
        labels: &[String],
        targets: &[bool],
    ) -> Box<dyn MultiLabelLoss> {
        let width = labels.len().max(1);
        let mut positives = vec![0; labels.len()];
        for row in targets.chunks_exact(width) {
            for (count, &applies) in positives.iter_mut().zip(row) {
                *count += usize::from(applies);
            }
        }
        let examples = targets.len() / width;
        match self.kind {
            LossKind::Focal => Box::new(FocalBinaryCrossEntropy {
                gamma: self.focal_gamma,
                alpha: None,
            }),
            LossKind::CrossEntropy | LossKind::Ghm => Box::new(BinaryCrossEntropy {
                positive_weights: self
                    .class_weights
                    .as_ref()
                    .map(|w| w.positive_weights(labels, &positives, examples)),
            }),
        }
    }

    /// In words, for logs and leaderboards: `ce`, `focal γ=2 α=balanced`, ….
    pub fn describe(&self) -> String {
        let mut text = self.kind.to_string();
        match self.kind {
            LossKind::CrossEntropy if self.label_smoothing > 0.0 => {
                text.push_str(&format!(" ε={}", self.label_smoothing));
            }
            LossKind::Focal => text.push_str(&format!(" γ={}", self.focal_gamma)),
            LossKind::Ghm => text.push_str(&format!(
                " bins={} momentum={}",
                self.ghm_bins, self.ghm_momentum
            )),
            LossKind::CrossEntropy => {}
        }
        if let Some(weights) = &self.class_weights {
            text.push_str(&format!(" weights={weights}"));
        }
        text
    }
}

/// Reads a config's `loss`: a table of [`LossSpec`] settings, or just a kind such as
/// `"cross-entropy"` (how configs saved before the settings existed spell it).
pub fn spec_or_kind<'de, D: Deserializer<'de>>(deserializer: D) -> Result<LossSpec, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Kind(LossKind),
        Spec(LossSpec),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::Kind(kind) => LossSpec {
            kind,
            ..LossSpec::default()
        },
        Form::Spec(spec) => spec,
    })
}

/// The effective number's β when `--class-weights effective` gives none.
const DEFAULT_BETA: f64 = 0.999;

impl FromStr for ClassWeights {
    type Err = String;

    /// `balanced`, `effective` (β 0.999), `effective:0.99`, or `label=weight,…`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad_number = |v: &str| format!("{v:?} in {s:?} is not a number");
        match s {
            "balanced" => Ok(ClassWeights::Balanced),
            "effective" => Ok(ClassWeights::Effective { beta: DEFAULT_BETA }),
            _ if s.starts_with("effective:") => {
                let beta = &s["effective:".len()..];
                Ok(ClassWeights::Effective {
                    beta: beta.parse().map_err(|_| bad_number(beta))?,
                })
            }
            _ if s.contains('=') => {
                let mut weights = BTreeMap::new();
                for pair in s.split(',') {
                    let (label, weight) = pair
                        .rsplit_once('=')
                        .ok_or_else(|| format!("{pair:?} is not label=weight"))?;
                    let weight: f64 = weight.parse().map_err(|_| bad_number(weight))?;
                    if !(weight.is_finite() && weight >= 0.0) {
                        return Err(format!("class weight {weight} of {label:?} must be ≥ 0"));
                    }
                    weights.insert(label.to_owned(), weight);
                }
                Ok(ClassWeights::Explicit(weights))
            }
            _ => Err(format!(
                "{s:?}: expected balanced, effective, effective:BETA or label=weight,…"
            )),
        }
    }
}

impl fmt::Display for ClassWeights {
    /// The form [`FromStr`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClassWeights::Balanced => f.write_str("balanced"),
            ClassWeights::Effective { beta } => write!(f, "effective:{beta}"),
            ClassWeights::Explicit(weights) => {
                let pairs: Vec<String> = weights.iter().map(|(l, w)| format!("{l}={w}")).collect();
                f.write_str(&pairs.join(","))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_weights_read_back_what_they_print() {
        for text in ["balanced", "effective:0.99", "earn=0.5,grain=4"] {
            let weights: ClassWeights = text.parse().unwrap();
            assert_eq!(weights.to_string(), text);
        }
        assert_eq!(
            "effective".parse::<ClassWeights>(),
            Ok(ClassWeights::Effective { beta: 0.999 })
        );
        for bad in ["balance", "effective:x", "grain=-1", "grain:2"] {
            assert!(bad.parse::<ClassWeights>().is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_of_another_loss_are_refused() {
        let focal = |f: fn(&mut LossSpec)| {
            let mut spec = LossSpec {
                kind: LossKind::Focal,
                ..LossSpec::default()
            };
            f(&mut spec);
            spec.validate()
        };
        assert!(focal(|_| {}).is_ok());
        assert!(focal(|s| s.class_weights = Some(ClassWeights::Balanced)).is_ok());
        assert!(focal(|s| s.label_smoothing = 0.1).is_err());
        assert!(focal(|s| s.ghm_bins = 30).is_err());
        let ghm = LossSpec {
            kind: LossKind::Ghm,
            class_weights: Some(ClassWeights::Balanced),
            ..LossSpec::default()
        };
        assert!(
            ghm.validate()
                .unwrap_err()
                .to_string()
                .contains("no class weights")
        );
        let ce = LossSpec {
            focal_gamma: 1.0,
            ..LossSpec::default()
        };
        assert!(ce.validate().is_err());
    }

    #[test]
    fn what_has_no_multi_label_form_is_refused_by_name() {
        let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let refused = |spec: LossSpec| spec.validate_for_multi_label(&labels).unwrap_err().setting;
        let ghm = LossSpec {
            kind: LossKind::Ghm,
            ..LossSpec::default()
        };
        assert_eq!(refused(ghm), "loss");
        let smoothed = LossSpec {
            label_smoothing: 0.1,
            ..LossSpec::default()
        };
        assert_eq!(refused(smoothed), "label_smoothing");
        let weighted_focal = LossSpec {
            kind: LossKind::Focal,
            class_weights: Some(ClassWeights::Balanced),
            ..LossSpec::default()
        };
        assert_eq!(refused(weighted_focal), "class_weights");
        let weighted = LossSpec {
            class_weights: Some(ClassWeights::Balanced),
            ..LossSpec::default()
        };
        assert!(weighted.validate_for_multi_label(&labels).is_ok());
    }

    #[test]
    fn class_weights_must_name_the_classes() {
        let labels: Vec<String> = ["ham", "spam"].map(String::from).to_vec();
        let spec = |weights: &str| LossSpec {
            class_weights: Some(weights.parse().unwrap()),
            ..LossSpec::default()
        };
        assert!(spec("spam=3").validate_for(&labels).is_ok());
        let error = spec("spma=3").validate_for(&labels).unwrap_err();
        assert_eq!(error.setting, "class_weights");
        assert!(error.requirement.to_string().contains("spma"), "{error}");
        assert!(spec("spam=0").validate().is_err());
        assert!(spec("balanced").validate_for(&labels).is_ok());
    }

    #[test]
    fn configs_saved_with_a_bare_kind_still_load() {
        #[derive(Deserialize)]
        struct Config {
            #[serde(deserialize_with = "spec_or_kind")]
            loss: LossSpec,
        }
        let old: Config = serde_json::from_str(r#"{"loss": "cross-entropy"}"#).unwrap();
        assert_eq!(old.loss, LossSpec::default());
        let new: Config =
            serde_json::from_str(r#"{"loss": {"kind": "focal", "focal_gamma": 1.5}}"#).unwrap();
        assert_eq!(
            (new.loss.kind, new.loss.focal_gamma),
            (LossKind::Focal, 1.5)
        );
        let round_trip = serde_json::to_string(&new.loss).unwrap();
        assert_eq!(
            serde_json::from_str::<LossSpec>(&round_trip).unwrap(),
            new.loss
        );
    }
}
