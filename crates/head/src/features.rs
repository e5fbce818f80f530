use serde::{Deserialize, Serialize};
use training::SoftTargets;

use training::Targets;

/// A dense `rows × dim` matrix of features, row-major, with each row's target.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// The features, `rows × dim`, row-major.
    pub values: Vec<f32>,
    /// How many examples.
    pub rows: usize,
    /// Features per example.
    pub dim: usize,
    /// What each row is labelled: a class, a set of labels or a value.
    pub targets: Targets,
    /// How many of the last rows are augmented variants of training examples
    /// ([`Features::with_variants`]): over-sampling draws its top-ups from them.
    pub variants: usize,
    /// A teacher's soft targets for every row, for distillation
    /// ([`TrainConfig::distillation`](crate::TrainConfig::distillation)).
    pub soft_targets: Option<SoftTargets>,
    /// A weight per row in the loss (boosting's), mean 1; `None` weighs all rows 1.
    pub example_weights: Option<Vec<f32>>,
}

impl Features {
    /// Features from a `rows × dim` matrix (`values.len()` a multiple of `dim > 0`) and one class index per row.
    pub fn new(values: Vec<f32>, dim: usize, classes: Vec<usize>) -> Self {
        Self::with_targets(values, dim, Targets::Classes(classes))
    }

    /// Features from a `rows × dim` matrix (`values.len()` a multiple of `dim > 0`)
    /// and one target per row, of any task.
    pub fn with_targets(values: Vec<f32>, dim: usize, targets: Targets) -> Self {
        assert!(
            dim > 0 && values.len().is_multiple_of(dim),
            "values must be rows × dim"
        );
        let rows = values.len() / dim;
        assert_eq!(targets.rows(), rows, "one target per row");
        Self {
            values,
            rows,
            dim,
            targets,
            variants: 0,
            soft_targets: None,
            example_weights: None,
        }
    }

    /// These rows, each weighing `weights[i]` in the loss.
    pub fn with_example_weights(mut self, weights: Vec<f32>) -> Self {
        assert_eq!(weights.len(), self.rows, "one weight per row");
        self.example_weights = Some(weights);
        self
    }

    /// Each row's class index.
    ///
    /// # Panics
    /// For features of another task: the paths that read classes (sampling,
    /// decision rules, ensembles, distillation) are reached only after the task was
    /// checked to be single-label.
    pub fn classes(&self) -> &[usize] {
        match &self.targets {
            Targets::Classes(classes) => classes,
            other => panic!(
                "class indices asked of {} features: the caller checks the task first",
                other.task()
            ),
        }
    }

    /// These rows with a teacher's soft target for each.
    pub fn with_soft_targets(mut self, targets: SoftTargets) -> Self {
        assert_eq!(targets.rows(), self.rows, "one soft target per row");
        self.soft_targets = Some(targets);
        self
    }

    /// These rows followed by `variants`' rows, marked as augmented variants.
    pub fn with_variants(mut self, variants: &Features) -> Self {
        assert_eq!(self.dim, variants.dim, "variants have the features' width");
        assert!(
            self.soft_targets.is_none(),
            "augmented variants have no teacher targets"
        );
        self.values.extend_from_slice(&variants.values);
        self.targets = self
            .targets
            .extended(&variants.targets)
            .expect("variants have the targets of the examples they vary");
        self.rows += variants.rows;
        self.variants += variants.rows;
        self
    }

    /// Rows that are not variants: the training examples themselves.
    pub fn originals(&self) -> usize {
        self.rows - self.variants
    }

    /// The features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.dim..(i + 1) * self.dim]
    }

    /// The rows at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Self {
        let values = indices
            .iter()
            .flat_map(|&i| self.row(i).iter().copied())
            .collect();
        Self {
            soft_targets: self.soft_targets.as_ref().map(|t| t.subset(indices)),
            example_weights: self
                .example_weights
                .as_ref()
                .map(|w| indices.iter().map(|&i| w[i]).collect()),
            ..Self::with_targets(values, self.dim, self.targets.subset(indices))
        }
    }
}

/// Per-feature centring and scaling, fitted on training data only so that nothing
/// of validation or test leaks into training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Each feature's training mean.
    pub mean: Vec<f32>,
    /// Each feature's training standard deviation (1 where it is 0).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fitted on the training examples themselves, not on augmented variants.
    pub fn fit(features: &Features) -> Self {
        let originals = features.originals();
        let (rows, dim) = (originals as f64, features.dim);
        let mut mean = vec![0f64; dim];
        for i in 0..originals {
            for (m, &v) in mean.iter_mut().zip(features.row(i)) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= rows);
        let mut var = vec![0f64; dim];
        for i in 0..originals {
            for ((s, &v), m) in var.iter_mut().zip(features.row(i)).zip(&mean) {
                *s += (v as f64 - m).powi(2);
            }
        }
        let spread: Vec<f64> = var.iter().map(|&s| (s / rows).sqrt()).collect();
        let mut sorted = spread.clone();
        sorted.sort_by(f64::total_cmp);
        let typical = sorted.get(sorted.len() / 2).copied().unwrap_or(0.0);
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            // A feature that does not vary keeps scale 1 rather than dividing by zero.
            // Nor does one whose spread is float rounding (under 1e-4 of the median
            // feature's: MiniLM has a mean-pooled dimension of std 1e-9 against 0.14):
            // scaled to unit variance, its noise would become a feature, and a head
            // folded over raw features would multiply it by 1e8.
            std: spread
                .iter()
                .map(|&sd| {
                    if sd > 1e-12 && sd > 1e-4 * typical {
                        sd as f32
                    } else {
                        1.0
                    }
                })
                .collect(),
        }
    }

    /// The affine map `z W + b` of standardised features `z`, as one map of the raw
    /// features `x`: with `z = (x − μ) / σ`, `W'ᵢⱼ = Wᵢⱼ / σᵢ` and
    /// `b'ⱼ = bⱼ − Σᵢ μᵢ Wᵢⱼ / σᵢ`. `weight` is `dim × outputs`, row-major.
    pub fn fold(&self, weight: &[f32], bias: &[f32]) -> Affine {
        let mut weight = weight.to_vec();
        // The offsets sum over every feature: accumulated in f64.
        let mut offsets: Vec<f64> = bias.iter().map(|&b| f64::from(b)).collect();
        for ((row, &mean), &std) in weight
            .chunks_exact_mut(bias.len())
            .zip(&self.mean)
            .zip(&self.std)
        {
            for (w, offset) in row.iter_mut().zip(&mut offsets) {
                *w /= std;
                *offset -= f64::from(mean) * f64::from(*w);
            }
        }
        Affine {
            weight,
            bias: offsets.into_iter().map(|b| b as f32).collect(),
        }
    }

    /// A linear `head` over features standardised this way, as one affine map of the
    /// raw features ([`fold`](Self::fold)); `None` for a head with hidden layers,
    /// which no affine map computes.
    pub fn fold_head(&self, head: &training::Head) -> Option<Affine> {
        if !head.hidden.is_empty() {
            return None;
        }
        let values = |t: burn::tensor::TensorData| {
            t.try_into_vec_as::<f32>()
                .expect("a linear layer's weights are floats")
        };
        let output = &head.output;
        let weight = values(output.weight.val().into_data());
        let bias = match &output.bias {
            Some(bias) => values(bias.val().into_data()),
            None => vec![0.0; output.weight.dims()[1]],
        };
        Some(self.fold(&weight, &bias))
    }

    /// The features centred and scaled as the training data was.
    pub fn apply(&self, features: &Features) -> Features {
        let values = features
            .values
            .chunks_exact(features.dim)
            .flat_map(|row| {
                row.iter()
                    .zip(&self.mean)
                    .zip(&self.std)
                    .map(|((v, m), s)| (v - m) / s)
            })
            .collect();
        Features {
            variants: features.variants,
            ..Features::with_targets(values, features.dim, features.targets.clone())
        }
    }
}

/// An affine map `x W + b` of raw features.
#[derive(Debug, Clone, PartialEq)]
pub struct Affine {
    /// `dim × outputs`, row-major (burn's `Linear` layout).
    pub weight: Vec<f32>,
    /// One offset per output.
    pub bias: Vec<f32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feature_that_varies_by_rounding_alone_is_not_scaled_up() {
        // Column 1 varies by 1e-9 around 1e-7 (rounding noise, as MiniLM's dimension
        // 319), the others by 1 and 2: its scale stays 1, theirs is their spread.
        let raw = Features::new(
            vec![
                1.0, 1e-7, 2.0, 3.0, 1.01e-7, -2.0, 1.0, 1e-7, 2.0, 3.0, 1.01e-7, -2.0,
            ],
            3,
            vec![0, 1, 0, 1],
        );
        let standardizer = Standardizer::fit(&raw);
        assert_eq!(standardizer.std, vec![1.0, 1.0, 2.0]);
    }

    #[test]
    fn a_folded_map_of_raw_features_equals_the_map_of_standardised_ones() {
        // Integer-valued data and powers of two: every value below is exact in f32,
        // so the two sides must agree to rounding of the final sums.
        let raw = Features::new(
            vec![1.0, 4.0, -2.0, 3.0, 0.0, 6.0, 5.0, 2.0, -4.0, 7.0, 8.0, 0.0],
            3,
            vec![0, 1, 0, 1],
        );
        let standardizer = Standardizer {
            mean: vec![2.0, -1.0, 3.0],
            std: vec![0.5, 2.0, 4.0],
        };
        let (weight, bias) = (vec![1.0, -2.0, 0.5, 3.0, -1.5, 0.25], vec![0.5, -1.0]);
        let folded = standardizer.fold(&weight, &bias);
        let z = standardizer.apply(&raw);
        for row in 0..raw.rows {
            for out in 0..2 {
                let map = |x: &[f32], w: &[f32], b: &[f32]| {
                    b[out] + (0..3).map(|i| x[i] * w[i * 2 + out]).sum::<f32>()
                };
                let expected = map(z.row(row), &weight, &bias);
                let got = map(raw.row(row), &folded.weight, &folded.bias);
                assert!(
                    (got - expected).abs() < 1e-5,
                    "row {row}, output {out}: {got} vs {expected}"
                );
            }
        }
    }
}
