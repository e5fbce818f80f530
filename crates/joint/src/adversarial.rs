//! Adversarial training on the word embeddings: text is discrete, so the worst-case
//! perturbation is sought where the input first becomes continuous (Miyato et al.,
//! 2017, FGM; Madry et al., 2018, PGD).
//!
//! The perturbation is a tensor added to the batch's looked-up word embeddings
//! ([`BertClassifier::forward_perturbed`]), never written into the embedding table:
//! nothing needs restoring after a step, and a frozen embedding layer (no gradient of
//! its own) is perturbed the same way as a trained one.

use std::fmt;

use bert::BertInput;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::Tensor;
use data::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::BertClassifier;

/// How (and whether) a training step adds an adversarial pass.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Adversary {
    /// Plain training: one forward/backward pass per batch.
    #[default]
    None,
    /// Fast gradient method: one step of norm `epsilon` along the normalised
    /// gradient, `r = ε · g / ‖g‖`; one extra pass per batch.
    Fgm {
        /// The perturbation's L2 norm over the batch.
        epsilon: f64,
    },
    /// Projected gradient descent (ascent, here): `steps` steps of size `alpha`, each
    /// projected back onto the ball of radius `epsilon`; `steps` extra passes.
    Pgd {
        /// The radius of the ball the perturbation is projected onto.
        epsilon: f64,
        /// The size of each ascent step.
        alpha: f64,
        /// How many ascent steps.
        steps: usize,
    },
}

impl Adversary {
    /// The ε used by `--adv fgm|pgd` when none is given. With the norm taken over the
    /// whole batch (as in the common FGM recipe), 1.0 moves each token's embedding
    /// by a small fraction of its own norm.
    pub const DEFAULT_EPSILON: f64 = 1.0;
    /// PGD's default number of ascent steps.
    pub const DEFAULT_STEPS: usize = 3;

    /// Ascent steps per batch, each an extra forward/backward pass.
    pub fn steps(&self) -> usize {
        match *self {
            Adversary::None => 0,
            Adversary::Fgm { .. } => 1,
            Adversary::Pgd { steps, .. } => steps,
        }
    }

    /// Radius and step size of the ascent.
    fn radius_and_step(&self) -> (f64, f64) {
        match *self {
            Adversary::None => (0.0, 0.0),
            Adversary::Fgm { epsilon } => (epsilon, epsilon),
            Adversary::Pgd { epsilon, alpha, .. } => (epsilon, alpha),
        }
    }

    /// Checks ε > 0, α > 0 and at least one step.
    pub fn validate(&self) -> Result<(), settings::SettingError> {
        if *self == Adversary::None {
            return Ok(());
        }
        let (epsilon, alpha) = self.radius_and_step();
        settings::positive("adv_epsilon", epsilon)?;
        settings::positive("adv_alpha", alpha)?;
        settings::at_least_one("adv_steps", self.steps())
    }

    /// The gradients of one batch (`objective` maps its logits to the training loss):
    /// those of the clean loss plus those of the loss at
    /// the final adversarial perturbation (both scaled by `share`, the batch's share of
    /// the optimizer step), accumulated into `accumulator`. PGD's intermediate steps
    /// only move the perturbation, as in the common recipe. Returns the clean loss's
    /// value and the forward/backward passes run.
    pub fn accumulate_gradients(
        &self,
        model: &BertClassifier,
        input: &BertInput,
        objective: &dyn Fn(Tensor<2>) -> Tensor<1>,
        share: f64,
        rng: &mut SplitMix64,
        accumulator: &mut GradientsAccumulator<BertClassifier>,
    ) -> (f32, usize) {
        if *self == Adversary::None {
            let loss = objective(model.forward_train(input, rng));
            let value = loss.clone().into_scalar::<f32>();
            let grads = loss.mul_scalar(share).backward();
            accumulator.accumulate(model, GradientsParams::from_grads(grads, model));
            return (value, 1);
        }
        let (epsilon, alpha) = self.radius_and_step();
        let [batch, seq] = input.input_ids.dims();
        let hidden = model.bert.embeddings.word_embeddings.weight.dims()[1];
        let device = input.input_ids.device();
        let mut delta = Tensor::<3>::zeros([batch, seq, hidden], &device).require_grad();
        let loss = objective(model.forward_perturbed(input, delta.clone(), rng));
        let value = loss.clone().into_scalar::<f32>();
        let grads = loss.mul_scalar(share).backward();
        let mut direction = delta.grad(&grads);
        accumulator.accumulate(model, GradientsParams::from_grads(grads, model));
        let mut passes = 1;
        for step in 0..self.steps() {
            let Some(gradient) = direction.take() else {
                // The loss does not depend on the embeddings (all frozen and detached):
                // there is no adversarial direction, hence nothing to add.
                break;
            };
            delta = ascend(delta.inner(), gradient, alpha, epsilon)
                .autodiff()
                .require_grad();
            let loss = objective(model.forward_perturbed(input, delta.clone(), rng));
            let grads = loss.mul_scalar(share).backward();
            passes += 1;
            if step + 1 == self.steps() {
                accumulator.accumulate(model, GradientsParams::from_grads(grads, model));
            } else {
                direction = delta.grad(&grads);
            }
        }
        (value, passes)
    }
}

/// One ascent step from `delta` along `gradient`: `delta + α · g / ‖g‖`, projected
/// onto the ball `‖delta‖ ≤ ε` (norms over the whole batch). A zero gradient leaves
/// `delta` where it is.
pub fn ascend(delta: Tensor<3>, gradient: Tensor<3>, alpha: f64, epsilon: f64) -> Tensor<3> {
    let norm =
        |t: &Tensor<3>| f64::from(t.clone().powi_scalar(2).sum().sqrt().into_scalar::<f32>());
    let gradient_norm = norm(&gradient);
    if gradient_norm == 0.0 || !gradient_norm.is_finite() {
        return delta;
    }
    let moved = delta + gradient.mul_scalar(alpha / gradient_norm);
    let moved_norm = norm(&moved);
    if moved_norm > epsilon {
        moved.mul_scalar(epsilon / moved_norm)
    } else {
        moved
    }
}

impl fmt::Display for Adversary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Adversary::None => f.write_str("none"),
            Adversary::Fgm { epsilon } => write!(f, "FGM (ε {epsilon})"),
            Adversary::Pgd {
                epsilon,
                alpha,
                steps,
            } => write!(f, "PGD (ε {epsilon}, α {alpha}, {steps} steps)"),
        }
    }
}

/// `--adv`'s method, before ε, α and K are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdversaryKind {
    /// No adversarial training.
    None,
    /// The fast gradient method: one step.
    Fgm,
    /// Projected gradient descent: several projected steps.
    Pgd,
}

settings::serde_names!(AdversaryKind);

impl AdversaryKind {
    /// The adversary with these settings; PGD's step size defaults to ε / K · 2.5 so
    /// that K steps can reach the boundary and move along it (Madry et al.'s rule).
    pub fn with(self, epsilon: Option<f64>, alpha: Option<f64>, steps: Option<usize>) -> Adversary {
        let epsilon = epsilon.unwrap_or(Adversary::DEFAULT_EPSILON);
        match self {
            AdversaryKind::None => Adversary::None,
            AdversaryKind::Fgm => Adversary::Fgm { epsilon },
            AdversaryKind::Pgd => {
                let steps = steps.unwrap_or(Adversary::DEFAULT_STEPS);
                Adversary::Pgd {
                    epsilon,
                    alpha: alpha.unwrap_or(2.5 * epsilon / steps.max(1) as f64),
                    steps,
                }
            }
        }
    }
}
