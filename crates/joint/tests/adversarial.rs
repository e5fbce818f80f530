//! Adversarial training (FGM, PGD) on the word embeddings of a tiny random BERT.

mod common;

use bert::BertInput;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{Toy, max_abs_diff, parameters, quiet, toy};
use data::SplitMix64;
use joint::{Adversary, BertClassifier, ClassifierConfig, FineTuneConfig, Optimization, ascend};
use training::{ClassificationLoss, CrossEntropy};

/// The toy model without dropout, so that every forward pass is the same function,
/// and a batch of its training examples.
fn deterministic_toy(device: &Device) -> (Toy, BertInput, Tensor<1, Int>) {
    let classifier = ClassifierConfig {
        dropout: Some(0.0),
        ..ClassifierConfig::default()
    };
    let mut toy = toy(&classifier, 5, device);
    toy.model.bert.set_dropout(Some(0.0), Some(0.0));
    let batch: Vec<_> = toy.train.encodings[..6].iter().collect();
    let pad = toy.parts.tokenizer.special_tokens().pad;
    let autodiff = device.clone().autodiff();
    let input = BertInput::from_encodings(&batch, pad, &autodiff);
    let labels: Vec<i64> = toy.train.labels[..6].iter().map(|&l| l as i64).collect();
    let targets = Tensor::from_data(TensorData::new(labels, [6]), &autodiff);
    (toy, input, targets)
}

fn loss_at(
    model: &BertClassifier,
    input: &BertInput,
    targets: &Tensor<1, Int>,
    delta: Tensor<3>,
) -> Tensor<1> {
    let logits = model.forward_perturbed(input, delta, &mut SplitMix64::new(0));
    CrossEntropy::default().forward(logits, targets.clone())
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data()
        .try_into_vec_as::<f32>()
        .expect("floats")
        .into_iter()
        .map(f64::from)
        .collect()
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

fn zeros_like(input: &BertInput, hidden: usize) -> Tensor<3> {
    let [batch, seq] = input.input_ids.dims();
    Tensor::zeros([batch, seq, hidden], &input.input_ids.device())
}

#[test]
fn the_perturbations_gradient_is_the_losss_slope_along_the_word_embeddings() {
    let device = Device::flex();
    let (toy, input, targets) = deterministic_toy(&device);
    let model = &toy.model;
    let hidden = model.bert.embeddings.word_embeddings.weight.dims()[1];
    let delta = zeros_like(&input, hidden).require_grad();
    let loss = loss_at(model, &input, &targets, delta.clone());
    let gradient = delta
        .grad(&loss.backward())
        .expect("the perturbation gets a gradient");
    let g = values(gradient.clone());
    let g_norm = norm(&g);
    assert!(g_norm > 1e-6, "a gradient to check: {g_norm}");

    // Central differences along the gradient itself (slope ‖g‖) and along a random
    // direction u (slope g·u), in f32 through the whole model.
    let mut rng = SplitMix64::new(3);
    let random: Vec<f64> = (0..g.len()).map(|_| rng.unit() - 0.5).collect();
    let random_norm = norm(&random);
    let random: Vec<f64> = random.iter().map(|x| x / random_norm).collect();
    let along_gradient: Vec<f64> = g.iter().map(|x| x / g_norm).collect();
    for direction in [along_gradient, random] {
        let expected: f64 = direction.iter().zip(&g).map(|(u, g)| u * g).sum();
        let h = 1e-2;
        let dims = gradient.dims();
        let shifted = |sign: f64| {
            let delta: Vec<f32> = direction.iter().map(|u| (sign * h * u) as f32).collect();
            let delta =
                Tensor::<3>::from_data(TensorData::new(delta, dims), &input.input_ids.device());
            f64::from(loss_at(model, &input, &targets, delta).into_scalar::<f32>())
        };
        let slope = (shifted(1.0) - shifted(-1.0)) / (2.0 * h);
        assert!(
            (slope - expected).abs() < 2e-2 * g_norm + 1e-4,
            "finite difference {slope} vs gradient {expected} (‖g‖ {g_norm})"
        );
    }
}

#[test]
fn an_fgm_step_has_norm_epsilon_and_pgd_stays_inside_the_ball() {
    let device = Device::flex();
    let gradient = Tensor::<3>::from_data(
        TensorData::new(vec![3.0f32, 0.0, -4.0, 0.0, 0.0, 0.0], [1, 2, 3]),
        &device,
    );
    let zero = Tensor::<3>::zeros([1, 2, 3], &device);
    // FGM: ε · g / ‖g‖, ‖g‖ = 5.
    let fgm = values(ascend(zero.clone(), gradient.clone(), 0.5, 0.5));
    let expected = [0.3, 0.0, -0.4, 0.0, 0.0, 0.0];
    assert!(
        fgm.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-6),
        "{fgm:?}"
    );
    assert!((norm(&fgm) - 0.5).abs() < 1e-6);

    // A step that stays inside the ball is not projected...
    let inside = values(ascend(zero.clone(), gradient.clone(), 0.2, 1.0));
    assert!((norm(&inside) - 0.2).abs() < 1e-6);
    // ...one that leaves it is pulled back onto the sphere of radius ε.
    let start = Tensor::<3>::from_data(
        TensorData::new(vec![0.0f32, 0.9, 0.0, 0.0, 0.0, 0.0], [1, 2, 3]),
        &device,
    );
    let moved = values(ascend(start, gradient.clone(), 0.5, 1.0));
    // 0.9 e₂ + 0.5 (0.6, 0, -0.8) = (0.3, 0.9, -0.4), norm √1.06, scaled to 1.
    let scale = 1.0 / 1.06f64.sqrt();
    let expected = [0.3 * scale, 0.9 * scale, -0.4 * scale, 0.0, 0.0, 0.0];
    assert!(
        moved
            .iter()
            .zip(expected)
            .all(|(a, b)| (a - b).abs() < 1e-6),
        "{moved:?}"
    );
    // A zero gradient gives no direction: the perturbation stays.
    let still = values(ascend(zero.clone(), zero, 0.5, 1.0));
    assert!(still.iter().all(|&x| x == 0.0));
}

/// `adversary`'s accumulated gradients against the recipe computed by hand: the
/// clean gradients, `steps` ascent steps r ← proj_ε(r + α g/‖g‖) from r = 0 (g the
/// loss's gradient at the current r), then the gradients at the final r, summed.
fn assert_matches_the_recipe_by_hand(adversary: Adversary, alpha: f64, epsilon: f64) {
    let device = Device::flex();
    let (toy, input, targets) = deterministic_toy(&device);
    let model = &toy.model;
    let before = parameters(&model.bert.embeddings);
    let objective = |logits: Tensor<2>| CrossEntropy::default().forward(logits, targets.clone());
    let mut accumulator = GradientsAccumulator::new();
    let (clean_loss, passes) = adversary.accumulate_gradients(
        model,
        &input,
        &objective,
        1.0,
        &mut SplitMix64::new(0),
        &mut accumulator,
    );
    assert_eq!(passes, 1 + adversary.steps());
    let accumulated = accumulator.grads();

    let hidden = model.bert.embeddings.word_embeddings.weight.dims()[1];
    let delta = zeros_like(&input, hidden).require_grad();
    let loss = loss_at(model, &input, &targets, delta.clone());
    assert!((f64::from(loss.clone().into_scalar::<f32>()) - f64::from(clean_loss)).abs() < 1e-6);
    let grads = loss.backward();
    let mut g = delta.grad(&grads).unwrap();
    let clean = GradientsParams::from_grads(grads, model);
    let mut r = zeros_like(&input, hidden);
    for step in 0..adversary.steps() {
        r = ascend(r, g.clone(), alpha, epsilon);
        assert!(
            norm(&values(r.clone())) <= epsilon + 1e-5,
            "step {step} left the ball"
        );
        if step + 1 < adversary.steps() {
            let at = r.clone().autodiff().require_grad();
            let loss = loss_at(model, &input, &targets, at.clone());
            g = at.grad(&loss.backward()).unwrap();
        }
    }
    let adversarial_loss = loss_at(model, &input, &targets, r.autodiff());
    assert!(
        adversarial_loss.clone().into_scalar::<f32>() > clean_loss,
        "the steps along the gradient raise the loss"
    );
    let perturbed = GradientsParams::from_grads(adversarial_loss.backward(), model);

    let head = model.classifier.as_ref().unwrap();
    let layer = &model.bert.encoder.layer[0].attention.self_attention.query;
    for id in [head.output.weight.id, layer.weight.id] {
        let got = values(accumulated.get::<2>(id).unwrap());
        let want: Vec<f64> = values(clean.get::<2>(id).unwrap())
            .iter()
            .zip(values(perturbed.get::<2>(id).unwrap()))
            .map(|(a, b)| a + b)
            .collect();
        let scale = norm(&want).max(1e-12);
        let error = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            error < 1e-4 * scale + 1e-7,
            "{adversary}: {error} (scale {scale})"
        );
    }
    // The perturbation never touches the embedding table.
    assert_eq!(
        max_abs_diff(&before, &parameters(&model.bert.embeddings)),
        0.0
    );
}

#[test]
fn fgm_adds_the_gradients_at_the_perturbed_embeddings_and_raises_the_loss() {
    // FGM is one step of size ε, so r = ε g/‖g‖ exactly.
    let epsilon = 0.5;
    assert_matches_the_recipe_by_hand(Adversary::Fgm { epsilon }, epsilon, epsilon);
}

#[test]
fn pgd_adds_the_gradients_at_its_last_projected_step() {
    // Two steps of 0.4 on a ball of 0.5: the second leaves the ball and is projected.
    let (epsilon, alpha) = (0.5, 0.4);
    let pgd = Adversary::Pgd {
        epsilon,
        alpha,
        steps: 2,
    };
    assert_matches_the_recipe_by_hand(pgd, alpha, epsilon);
}

#[test]
fn each_ascent_step_costs_one_forward_and_backward_pass() {
    let device = Device::flex();
    let mut passes_per_batch = Vec::new();
    for adversary in [
        Adversary::None,
        Adversary::Fgm { epsilon: 1.0 },
        Adversary::Pgd {
            epsilon: 1.0,
            alpha: 0.4,
            steps: 3,
        },
    ] {
        let config = FineTuneConfig {
            optimization: Optimization {
                epochs: 1,
                batch_size: 16,
                learning_rate: 1e-3,
                ..Optimization::default()
            },
            adversary,
            ..FineTuneConfig::default()
        };
        let toy = toy(&ClassifierConfig::default(), 9, &device);
        let embeddings_before = parameters(&toy.model.bert.embeddings);
        let frozen = FineTuneConfig {
            optimization: Optimization {
                freeze_embeddings: true,
                ..config.optimization
            },
            ..config
        };
        let tuned = toy.fine_tune(&frozen, None, &mut quiet, &device).unwrap();
        assert_eq!(tuned.batches, 4, "64 examples in batches of 16");
        assert!(tuned.model.classes() == 2);
        // Frozen embeddings come out bit-identical although every batch perturbed them.
        assert_eq!(
            max_abs_diff(
                &embeddings_before,
                &parameters(&tuned.model.bert.embeddings)
            ),
            0.0
        );
        passes_per_batch.push(tuned.passes / tuned.batches);
    }
    assert_eq!(passes_per_batch, [1, 2, 4]);
}

#[test]
fn bad_adversary_settings_are_refused_before_training() {
    for adversary in [
        Adversary::Fgm { epsilon: 0.0 },
        Adversary::Pgd {
            epsilon: 1.0,
            alpha: -1.0,
            steps: 3,
        },
        Adversary::Pgd {
            epsilon: 1.0,
            alpha: 0.5,
            steps: 0,
        },
    ] {
        assert!(adversary.validate().is_err(), "{adversary} accepted");
    }
    assert!(Adversary::Fgm { epsilon: 1.0 }.validate().is_ok());
}
