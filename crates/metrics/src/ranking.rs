//! Threshold-free metrics of a binary scorer.

/// Area under the ROC curve: the probability that a random positive scores above a
/// random negative, ties counting one half (the Mann–Whitney U statistic).
/// `None` when either class is absent or a score is NaN.
pub fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len());
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    // Average ranks (1-based) with ties sharing the mean of their ranks.
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let mean_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_pos += order[i..=j].iter().filter(|&&k| positive[k]).count() as f64 * mean_rank;
        i = j + 1;
    }
    let u = rank_sum_pos - (n_pos * (n_pos + 1)) as f64 / 2.0;
    Some(u / (n_pos * n_neg) as f64)
}

/// Area under the precision–recall curve as average precision:
/// Σ (Rₙ − Rₙ₋₁) Pₙ over decreasing score thresholds (as scikit-learn computes it,
/// tied scores forming one threshold). `None` without positives or with a NaN score
/// (a model that diverged has no ranking).
pub fn average_precision(scores: &[f64], positive: &[bool]) -> Option<f64> {
    assert_eq!(scores.len(), positive.len());
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp, mut ap, mut last_recall) = (0usize, 0usize, 0.0, 0.0);
    let mut i = 0;
    while i < order.len() {
        let threshold = scores[order[i]];
        while i < order.len() && scores[order[i]] == threshold {
            if positive[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        let recall = tp as f64 / n_pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
    }
    Some(ap)
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of scikit-learn's documentation: roc_auc_score = 0.75,
    // average_precision_score = 0.8333…
    const SCORES: [f64; 4] = [0.1, 0.4, 0.35, 0.8];
    const LABELS: [bool; 4] = [false, false, true, true];

    #[test]
    fn roc_auc_matches_the_documented_example() {
        assert!((roc_auc(&SCORES, &LABELS).unwrap() - 0.75).abs() < 1e-12);
    }

    #[test]
    fn average_precision_matches_the_documented_example() {
        assert!((average_precision(&SCORES, &LABELS).unwrap() - 5.0 / 6.0).abs() < 1e-12);
    }

    #[test]
    fn ties_count_half_and_degenerate_inputs_have_no_auc() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(roc_auc(&[0.1, 0.9], &[true, true]), None);
        assert_eq!(average_precision(&[0.1], &[false]), None);
        // NaN scores (a diverged model) have no ranking, and do not hang the loops.
        assert_eq!(roc_auc(&[f64::NAN, 0.2], &[true, false]), None);
        assert_eq!(
            average_precision(&[f64::NAN, f64::NAN], &[true, false]),
            None
        );
        // A perfect ranking.
        assert_eq!(
            roc_auc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
        assert_eq!(
            average_precision(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]),
            Some(1.0)
        );
    }
}
