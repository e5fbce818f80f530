use std::collections::BTreeMap;

/// How class weights are derived from the training set's class counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassWeights {
    /// `n / (k · n_c)`: scikit-learn's "balanced"; every class then carries the same
    /// total weight.
    Balanced,
    /// The effective number of samples (Cui et al., 2019): `(1 − β) / (1 − β^{n_c})`,
    /// scaled so the weights sum to `k`. β → 1 approaches balanced, β = 0 is uniform.
    Effective {
        /// β in [0, 1).
        beta: f64,
    },
    /// Given by label name; unnamed classes weigh 1.
    Explicit(BTreeMap<String, f64>),
}

impl ClassWeights {
    /// One weight per class, for `labels` with `counts` training examples each.
    pub fn compute(&self, labels: &[String], counts: &[usize]) -> Vec<f32> {
        let k = counts.len() as f64;
        let n: f64 = counts.iter().sum::<usize>() as f64;
        match self {
            ClassWeights::Balanced => counts
                .iter()
                .map(|&c| (n / (k * c.max(1) as f64)) as f32)
                .collect(),
            ClassWeights::Effective { beta } => {
                let raw: Vec<f64> = counts
                    .iter()
                    .map(|&c| (1.0 - beta) / (1.0 - beta.powi(c.max(1) as i32)))
                    .collect();
                let sum: f64 = raw.iter().sum();
                raw.iter().map(|w| (w * k / sum) as f32).collect()
            }
            ClassWeights::Explicit(by_name) => labels
                .iter()
                .map(|l| by_name.get(l).copied().unwrap_or(1.0) as f32)
                .collect(),
        }
    }
}

impl ClassWeights {
    /// One weight per label of a multi-label task, on its positive terms (binary
    /// cross-entropy's `pos_weight`), for `labels` each true on `positives` of
    /// `examples` training examples. Each label is its own two-class problem, and
    /// the weight is the ratio its class weights would have: balanced gives
    /// `n_negative / n_positive`, the effective number `(1 − β^{n_negative}) /
    /// (1 − β^{n_positive})`; by name, the named labels' weights (others 1).
    pub fn positive_weights(
        &self,
        labels: &[String],
        positives: &[usize],
        examples: usize,
    ) -> Vec<f32> {
        let negatives = |p: usize| examples.saturating_sub(p).max(1);
        match self {
            ClassWeights::Balanced => positives
                .iter()
                .map(|&p| (negatives(p) as f64 / p.max(1) as f64) as f32)
                .collect(),
            ClassWeights::Effective { beta } => positives
                .iter()
                .map(|&p| {
                    let effective = |n: usize| 1.0 - beta.powi(n.min(i32::MAX as usize) as i32);
                    (effective(negatives(p)) / effective(p.max(1))) as f32
                })
                .collect(),
            ClassWeights::Explicit(_) => self.compute(labels, positives),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positive_weights_are_each_labels_two_class_ratio() {
        let labels: Vec<String> = ["rare", "common"].map(String::from).to_vec();
        // 100 examples: "rare" on 10, "common" on 80.
        let w = ClassWeights::Balanced.positive_weights(&labels, &[10, 80], 100);
        assert!((w[0] - 9.0).abs() < 1e-6 && (w[1] - 0.25).abs() < 1e-6);
        let w = ClassWeights::Effective { beta: 0.9 }.positive_weights(&labels, &[10, 80], 100);
        let ratio = |pos: i32, neg: i32| (1.0 - 0.9f64.powi(neg)) / (1.0 - 0.9f64.powi(pos));
        assert!((w[0] as f64 - ratio(10, 90)).abs() < 1e-6);
        assert!((w[1] as f64 - ratio(80, 20)).abs() < 1e-6);
        let named = ClassWeights::Explicit([("rare".to_owned(), 4.0)].into());
        assert_eq!(named.positive_weights(&labels, &[10, 80], 100), [4.0, 1.0]);
    }

    #[test]
    fn balanced_and_effective_weights_by_hand() {
        let labels: Vec<String> = ["a", "b"].map(String::from).to_vec();
        // 90 / 10: balanced gives 100/(2·90) and 100/(2·10).
        let w = ClassWeights::Balanced.compute(&labels, &[90, 10]);
        assert!((w[0] - 100.0 / 180.0).abs() < 1e-6 && (w[1] - 5.0).abs() < 1e-6);
        // β = 0.9: (0.1 / (1 − 0.9^90), 0.1 / (1 − 0.9^10)), scaled to sum to 2.
        let (a, b) = (0.1 / (1.0 - 0.9f64.powi(90)), 0.1 / (1.0 - 0.9f64.powi(10)));
        let w = ClassWeights::Effective { beta: 0.9 }.compute(&labels, &[90, 10]);
        assert!((w[0] as f64 - 2.0 * a / (a + b)).abs() < 1e-6);
        assert!((w[1] as f64 - 2.0 * b / (a + b)).abs() < 1e-6);
        let uniform = ClassWeights::Effective { beta: 0.0 }.compute(&labels, &[90, 10]);
        assert_eq!(uniform, vec![1.0, 1.0]);
        let explicit =
            ClassWeights::Explicit([("b".to_owned(), 3.0)].into()).compute(&labels, &[90, 10]);
        assert_eq!(explicit, vec![1.0, 3.0]);
    }
}
