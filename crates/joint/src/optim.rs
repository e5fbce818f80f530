//! The fine-tuning optimizer as BERT papers and Hugging Face's Trainer use it: AdamW
//! without weight decay on biases and LayerNorm, gradients clipped by their global
//! norm, a linear warm-up followed by a decay.

use burn::module::{Module, ModuleVisitor, Param, ParamGroup};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Tensor;
use training::Schedule;

/// Parameters that are not decayed: biases and normalisation scales and shifts.
/// Decaying a LayerNorm's gain towards zero would shrink activations, not weights.
const NO_DECAY: &str = r"(\.bias|(layer_norm|norm)\.(gamma|beta))$";

/// AdamW (β = 0.9, 0.999; ε = 1e-8 as in PyTorch) with decoupled `weight_decay` on
/// weight matrices and embeddings, none on biases and norms.
pub fn build_optimizer(weight_decay: f64) -> ModuleOptimizer {
    let adamw = |decay: f64| {
        AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(decay as f32)
    };
    let no_decay = ParamGroup::from_regex(NO_DECAY).expect("the no-decay pattern is a valid regex");
    adamw(weight_decay)
        .init()
        .with_group(no_decay, adamw(0.0).build(), None)
}

/// Scales every gradient of `model` by `max_norm / ‖g‖` when the norm of all its
/// gradients taken together exceeds `max_norm` (PyTorch's `clip_grad_norm_`; burn's
/// own clipping is per tensor). Returns the norm before clipping.
pub fn clip_global_norm<M: Module>(model: &M, grads: &mut GradientsParams, max_norm: f64) -> f64 {
    let mut squares = SquaredNorm { grads, total: None };
    model.visit(&mut squares);
    let norm = squares
        .total
        .map_or(0.0, |t| t.into_scalar::<f32>() as f64)
        .sqrt();
    if max_norm > 0.0 && norm > max_norm {
        // The same small epsilon as PyTorch, so a norm at the threshold is untouched.
        let scale = max_norm / (norm + 1e-6);
        model.visit(&mut Scale { grads, scale });
    }
    norm
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.get::<D>(param.id) {
            let sum = grad.square().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + sum,
                None => sum,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    scale: f64,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads.register(param.id, grad.mul_scalar(self.scale));
        }
    }
}

/// The learning rate at each optimizer step: linear warm-up from 0 over
/// `warmup_steps`, then `decay` from the peak to 0 over the remaining steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WarmupSchedule {
    /// The learning rate at the end of warm-up.
    pub peak: f64,
    /// Optimizer steps of linear warm-up.
    pub warmup_steps: usize,
    /// Optimizer steps in the whole run.
    pub total_steps: usize,
    /// The decay after warm-up.
    pub decay: Schedule,
}

impl WarmupSchedule {
    /// The rate for optimizer step `step` (0-based).
    pub fn rate(&self, step: usize) -> f64 {
        if step < self.warmup_steps {
            return self.peak * (step + 1) as f64 / self.warmup_steps as f64;
        }
        let decay_steps = self.total_steps.saturating_sub(self.warmup_steps);
        self.decay
            .rate(self.peak, step - self.warmup_steps, decay_steps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_linearly_then_decays_to_zero() {
        let s = WarmupSchedule {
            peak: 1.0,
            warmup_steps: 4,
            total_steps: 14,
            decay: Schedule::Linear,
        };
        let rates: Vec<f64> = (0..14).map(|i| s.rate(i)).collect();
        assert_eq!(&rates[..4], &[0.25, 0.5, 0.75, 1.0]);
        assert_eq!(rates[4], 1.0);
        assert!((rates[9] - 0.5).abs() < 1e-12);
        assert!((rates[13] - 0.1).abs() < 1e-12);
        assert!(rates.windows(2).skip(3).all(|w| w[1] <= w[0]));
    }

    #[test]
    fn no_decay_pattern_matches_biases_and_norms_only() {
        let group = ParamGroup::from_regex(NO_DECAY).unwrap();
        let id = burn::module::ParamId::new();
        for path in [
            "bert.encoder.layer.0.attention.output.dense.bias",
            "bert.embeddings.layer_norm.gamma",
            "bert.encoder.layer.3.output.layer_norm.beta",
            "classifier.hidden.0.norm.gamma",
        ] {
            assert!(group.matches(&id, Some(path)), "{path} should not decay");
        }
        for path in [
            "bert.encoder.layer.0.attention.self_attention.query.weight",
            "bert.embeddings.word_embeddings.weight",
            "classifier.output.weight",
        ] {
            assert!(!group.matches(&id, Some(path)), "{path} should decay");
        }
    }
}
