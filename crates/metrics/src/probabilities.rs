//! What both modes compute from a matrix of class probabilities.

/// The class of highest probability in each row of `examples × classes` values.
pub fn argmax_rows(probabilities: &[f32], classes: usize) -> Vec<usize> {
    probabilities
        .chunks_exact(classes)
        .map(|row| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i)
        })
        .collect()
}

/// Mean cross-entropy `−log p(true class)` of `examples × classes` probabilities;
/// probabilities are floored at 1e-12 so one confident mistake costs ~27.6, not ∞.
/// A NaN probability (a diverged model) makes the loss NaN, not 27.6.
pub fn mean_log_loss(probabilities: &[f32], classes: usize, truth: &[usize]) -> f64 {
    let total: f64 = truth
        .iter()
        .enumerate()
        .map(|(i, &t)| match probabilities[i * classes + t] {
            p if p.is_nan() => f64::NAN,
            p => -(p.max(1e-12) as f64).ln(),
        })
        .sum();
    total / truth.len().max(1) as f64
}

/// Mean binary cross-entropy of per-label probabilities against marks (both
/// `examples × labels`, row-major), over every (example, label) term: what
/// `BCEWithLogitsLoss` averages. Each term's probability of its truth is floored at
/// 1e-12 as in [`mean_log_loss`]; a NaN probability makes the loss NaN.
pub fn mean_binary_log_loss(probabilities: &[f32], truth: &[bool]) -> f64 {
    let total: f64 = probabilities
        .iter()
        .zip(truth)
        .map(|(&p, &applies)| {
            let p_truth = if applies { p } else { 1.0 - p };
            if p.is_nan() {
                f64::NAN
            } else {
                -(p_truth.max(1e-12) as f64).ln()
            }
        })
        .sum();
    total / truth.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_and_log_loss_by_hand() {
        let p = [0.2, 0.7, 0.1, 0.5, 0.25, 0.25];
        assert_eq!(argmax_rows(&p, 3), vec![1, 0]);
        let expected = -(0.7f64.ln() + 0.25f64.ln()) / 2.0;
        assert!((mean_log_loss(&p, 3, &[1, 2]) - expected).abs() < 1e-6);
        assert!(mean_log_loss(&[f32::NAN, 0.5], 2, &[0]).is_nan());
    }

    #[test]
    fn binary_log_loss_by_hand() {
        // Terms: −ln 0.8 (applies), −ln(1 − 0.25) (does not), −ln 0.5.
        let expected = -(0.8f64.ln() + 0.75f64.ln() + 0.5f64.ln()) / 3.0;
        let got = mean_binary_log_loss(&[0.8, 0.25, 0.5], &[true, false, true]);
        assert!((got - expected).abs() < 1e-7, "{got} vs {expected}");
        assert!(mean_binary_log_loss(&[f32::NAN], &[false]).is_nan());
    }
}
