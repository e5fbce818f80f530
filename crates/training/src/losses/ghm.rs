use std::sync::Mutex;

use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::{Int, Tensor, TensorData};

use crate::losses::ClassificationLoss;

/// GHM-C, the gradient harmonizing mechanism for classification (Li, Liu & Wang,
/// 2019), for softmax classifiers.
///
/// The gradient norm of cross-entropy at the true logit is `g = 1 − p_t`. Examples
/// are counted in `bins` equal-width bins of g; each is weighted inversely to its
/// bin's count (the gradient density), so that the mass of easy examples (g ≈ 0) and
/// of outliers (g ≈ 1) stops dominating. As in the reference implementation
/// (mmdetection), with `n` non-empty bins and `N` examples, `w = N / (count · n)` and
/// the loss is `Σ w · CE / N`. With `momentum` > 0 the counts are an exponential moving
/// average across batches (`c ← m·c + (1 − m)·count`), which needs the loss to keep
/// state: hence the mutex. Weights are constants for the backward pass.
#[derive(Debug)]
pub struct GhmcLoss {
    /// Gradient-norm bins over [0, 1].
    pub bins: usize,
    /// Momentum of the bins' moving counts (0 counts each batch alone).
    pub momentum: f64,
    moving_counts: Mutex<Vec<f64>>,
}

impl GhmcLoss {
    /// A GHM-C loss with `bins` bins (at least 1) and `momentum` in [0, 1).
    pub fn new(bins: usize, momentum: f64) -> Self {
        assert!(bins > 0, "GHM-C needs at least one bin");
        Self {
            bins,
            momentum,
            moving_counts: Mutex::new(vec![0.0; bins]),
        }
    }

    /// The weight of each example for gradient norms `g` (in `[0, 1]`).
    pub fn weights(&self, g: &[f64]) -> Vec<f64> {
        let bin_of = |g: f64| ((g * self.bins as f64) as usize).min(self.bins - 1);
        let mut counts = vec![0usize; self.bins];
        for &v in g {
            counts[bin_of(v)] += 1;
        }
        let total = g.len() as f64;
        let non_empty = counts.iter().filter(|&&c| c > 0).count().max(1) as f64;
        let mut moving = self
            .moving_counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let density: Vec<f64> = counts
            .iter()
            .zip(moving.iter_mut())
            .map(|(&count, average)| {
                if self.momentum > 0.0 {
                    *average = self.momentum * *average + (1.0 - self.momentum) * count as f64;
                    *average
                } else {
                    count as f64
                }
            })
            .collect();
        g.iter()
            .map(|&v| total / (density[bin_of(v)] * non_empty))
            .collect()
    }
}

impl ClassificationLoss for GhmcLoss {
    fn forward(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        let [batch, _] = logits.dims();
        let device = logits.device();
        let index = targets.unsqueeze_dim::<2>(1);
        let p_target: Vec<f64> = softmax(logits.clone().detach(), 1)
            .gather(1, index.clone())
            .into_data()
            .try_into_vec_as::<f32>()
            .expect("probabilities are floats")
            .into_iter()
            .map(|p| 1.0 - p as f64)
            .collect();
        let weights: Vec<f32> = self
            .weights(&p_target)
            .into_iter()
            .map(|w| w as f32)
            .collect();
        let weights = Tensor::<1>::from_data(TensorData::new(weights, [batch]), &device);
        let ce = log_softmax(logits, 1)
            .gather(1, index)
            .reshape([batch])
            .neg();
        (ce * weights).sum().div_scalar(batch as f64)
    }
}
