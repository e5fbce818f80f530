//! The fine-tuning loop on a tiny random BERT.

mod common;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::Device;
use common::{max_abs_diff, parameters, quiet, toy};
use joint::{ClassifierConfig, FineTuneConfig, Optimization, build_optimizer, clip_global_norm};

fn quick_config() -> FineTuneConfig {
    FineTuneConfig {
        optimization: Optimization {
            epochs: 12,
            batch_size: 8,
            learning_rate: 3e-3,
            warmup_ratio: 0.1,
            ..Optimization::default()
        },
        ..FineTuneConfig::default()
    }
}

#[test]
fn loss_falls_and_the_toy_task_is_learned() {
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let config = quick_config();
    let outcome = toy
        .fine_tune(&config, None, &mut quiet, &device)
        .expect("training runs");
    let history = &outcome.history;
    assert_eq!(
        history.len(),
        config.optimization.epochs,
        "one evaluation per epoch"
    );
    let (first, last) = (&history[0], history.last().unwrap());
    assert!(
        last.train_loss < 0.5 * first.train_loss,
        "train loss {} → {}",
        first.train_loss,
        last.train_loss
    );
    let report = outcome.valid_report.expect("evaluated");
    assert!(report.accuracy >= 0.9, "valid accuracy {}", report.accuracy);
    assert_eq!(outcome.steps, 12 * 8);
    assert_eq!(outcome.examples_trained, 12 * 64);
}

#[test]
fn the_weights_kept_are_those_of_the_best_evaluation() {
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let (valid, labels) = (toy.valid.clone(), toy.labels.clone());
    let pad = toy.parts.tokenizer.special_tokens().pad;
    // A high rate and an evaluation every 3 steps: validation loss moves around.
    let config = FineTuneConfig {
        optimization: Optimization {
            epochs: 4,
            learning_rate: 2e-2,
            eval_every: Some(3),
            ..quick_config().optimization
        },
        ..quick_config()
    };
    let outcome = toy
        .fine_tune(&config, None, &mut quiet, &device)
        .expect("training runs");
    let best = outcome.best.expect("evaluated");
    let kept = &outcome.history[best];
    // The best by the monitor (validation loss): no later evaluation beat it by more
    // than min_delta, and every earlier one was worse.
    for (i, record) in outcome.history.iter().enumerate() {
        assert!(
            record.valid_loss >= kept.valid_loss - config.min_delta,
            "{i}"
        );
        if i < best {
            assert!(record.valid_loss > kept.valid_loss, "{i}");
        }
    }
    // Evaluated again now, the returned model gives that evaluation's numbers.
    let again = joint::evaluate_examples(
        &outcome.model,
        &valid,
        &labels,
        pad,
        16,
        &device,
        &mut |_| {},
    );
    assert!(
        (again.loss - kept.valid_loss).abs() < 1e-6,
        "{} vs {}",
        again.loss,
        kept.valid_loss
    );
    assert_eq!(again.report.macro_f1, kept.valid_macro_f1);
    let last = outcome.history.last().unwrap();
    if best + 1 != outcome.history.len() {
        assert!(
            (again.loss - last.valid_loss).abs() > 1e-6,
            "the last weights were kept"
        );
    }
}

#[test]
fn prompt_fine_tuning_learns_the_toy_task_with_and_without_an_mlm_head() {
    let device = Device::flex();
    let classifier = common::prompt_classifier(
        "{text} [SEP] the news is [MASK]",
        &[("animals", "cat"), ("markets", "market")],
    );
    for (dir, has_mlm_head) in [
        (common::tiny_bert_dir(), false),
        (common::tiny_mlm_dir(), true),
    ] {
        let toy = common::toy_with(&dir, &classifier, 7, &device);
        let prompt = toy
            .parts
            .classifier
            .prompt
            .clone()
            .expect("a prompt classifier");
        assert_eq!(prompt.mlm_head, has_mlm_head, "{}", dir.display());
        assert_eq!(
            prompt.mask_token_id,
            toy.parts.tokenizer.special_tokens().mask
        );
        assert!(toy.model.classifier.is_none() && toy.model.bert.pooler.is_none());
        // Every example holds exactly one [MASK]: the template's.
        for encoding in &toy.train.encodings {
            let masks = encoding
                .ids
                .iter()
                .filter(|&&id| id == prompt.mask_token_id);
            assert_eq!(masks.count(), 1);
        }
        let outcome = toy
            .fine_tune(&quick_config(), None, &mut quiet, &device)
            .expect("training runs");
        let report = outcome.valid_report.expect("evaluated");
        assert!(
            report.accuracy >= 0.9,
            "{}: valid accuracy {}",
            dir.display(),
            report.accuracy
        );
    }
}

#[test]
fn a_verbalizer_must_name_every_label_with_a_known_word() {
    let device = Device::flex();
    let labels = ["animals".to_owned(), "markets".to_owned()];
    for (verbalizer, expected) in [
        (vec![("animals", "cat")], "no word for label \"markets\""),
        (
            vec![("animals", "cat"), ("markets", "zebra")],
            "reads as [UNK]",
        ),
        (
            vec![("animals", "cat"), ("markets", "oil"), ("plants", "tree")],
            "not a label",
        ),
    ] {
        let classifier = common::prompt_classifier("{text} [MASK]", &verbalizer);
        let error = joint::load_for_training(
            &common::tiny_bert_dir(),
            32,
            None,
            &classifier,
            &labels,
            0,
            &device,
        )
        .err()
        .expect("refused");
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn frozen_layers_stay_bit_identical_while_the_rest_trains() {
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let embeddings_before = parameters(&toy.model.bert.embeddings);
    let layer0_before = parameters(&toy.model.bert.encoder.layer[0]);
    let layer1_before = parameters(&toy.model.bert.encoder.layer[1]);
    let config = FineTuneConfig {
        optimization: Optimization {
            epochs: 1,
            freeze_embeddings: true,
            freeze_layers: 1,
            ..quick_config().optimization
        },
        ..quick_config()
    };
    let outcome = toy
        .fine_tune(&config, None, &mut quiet, &device)
        .expect("training runs");
    let bert = &outcome.model.bert;
    assert_eq!(parameters(&bert.embeddings), embeddings_before);
    assert_eq!(parameters(&bert.encoder.layer[0]), layer0_before);
    assert!(
        max_abs_diff(&parameters(&bert.encoder.layer[1]), &layer1_before) > 1e-5,
        "the unfrozen layer should train"
    );
}

#[test]
fn weight_decay_spares_biases_and_layer_norms() {
    // With zero gradients Adam's update is 0/(0 + ε) = 0, so only the decoupled decay
    // moves a parameter: W ← W (1 − lr·λ) exactly, and biases and norms not at all.
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let model = toy.model;
    let dense_before = parameters(&model.bert.encoder.layer[0].intermediate.dense);
    let norm_before = parameters(&model.bert.encoder.layer[0].output.layer_norm);
    let (lr, decay) = (0.1, 0.5);
    let zero_loss = model
        .classifier
        .as_ref()
        .unwrap()
        .output
        .weight
        .val()
        .sum()
        .mul_scalar(0.0)
        + model.bert.encoder.layer[0]
            .intermediate
            .dense
            .weight
            .val()
            .sum()
            .mul_scalar(0.0)
        + model.bert.encoder.layer[0]
            .intermediate
            .dense
            .bias
            .as_ref()
            .unwrap()
            .val()
            .sum()
            .mul_scalar(0.0)
        + model.bert.encoder.layer[0]
            .output
            .layer_norm
            .gamma
            .val()
            .sum()
            .mul_scalar(0.0);
    let grads = GradientsParams::from_grads(zero_loss.backward(), &model);
    let mut optimizer = build_optimizer(decay);
    let model = optimizer.step(lr, model, grads);

    let dense_after = parameters(&model.bert.encoder.layer[0].intermediate.dense);
    // Visiting order: weight, then bias.
    let factor = (1.0 - lr * decay) as f32;
    let expected: Vec<f32> = dense_before[0].iter().map(|w| w * factor).collect();
    assert!(max_abs_diff(&[dense_after[0].clone()], &[expected]) < 1e-7);
    assert_eq!(dense_after[1], dense_before[1], "biases are not decayed");
    assert_eq!(
        parameters(&model.bert.encoder.layer[0].output.layer_norm),
        norm_before,
        "LayerNorm is not decayed"
    );
}

#[test]
fn the_head_and_each_layer_train_at_their_own_rates() {
    // Adam's first step moves each weight by lr·ĝ/(|ĝ| + ε) with the bias-corrected
    // moments ĝ = g and |ĝ| = |g|: by lr·(1 − ε/|g|) to first order. The tiny model's
    // largest gradients are of order 1e-6, so the largest move in each tensor is the
    // rate its group trained at within 2% (and the groups' rates differ by 2× or more).
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let (lr, head_lr, decay) = (1e-3, 1e-2, 0.5);
    let config = FineTuneConfig {
        optimization: Optimization {
            epochs: 1,
            batch_size: toy.train.len(),
            learning_rate: lr,
            head_learning_rate: Some(head_lr),
            layer_decay: decay,
            warmup_ratio: 0.0,
            schedule: training::Schedule::Constant,
            weight_decay: 0.0,
            max_grad_norm: 0.0,
            ..Optimization::default()
        },
        ..FineTuneConfig::default()
    };
    let before = toy.model.clone();
    let trained = toy
        .fine_tune(&config, None, &mut quiet, &device)
        .expect("training runs");
    assert_eq!(trained.steps, 1, "one optimizer step");
    let after = &trained.model;
    // Over a whole group: some tensors never get a gradient (a key bias shifts every
    // attention score of a row equally, which softmax ignores).
    let largest_move = |a: Vec<Vec<f32>>, b: Vec<Vec<f32>>| -> f64 {
        a.iter()
            .flatten()
            .zip(b.iter().flatten())
            .map(|(x, y)| f64::from((x - y).abs()))
            .fold(0.0, f64::max)
    };
    let expected = [
        (
            "the head",
            head_lr,
            largest_move(
                parameters(after.classifier.as_ref().unwrap()),
                parameters(before.classifier.as_ref().unwrap()),
            ),
        ),
        (
            "the pooler",
            lr,
            largest_move(
                parameters(after.bert.pooler.as_ref().unwrap()),
                parameters(before.bert.pooler.as_ref().unwrap()),
            ),
        ),
        (
            "the top layer",
            lr,
            largest_move(
                parameters(&after.bert.encoder.layer[1]),
                parameters(&before.bert.encoder.layer[1]),
            ),
        ),
        (
            "the layer below",
            lr * decay,
            largest_move(
                parameters(&after.bert.encoder.layer[0]),
                parameters(&before.bert.encoder.layer[0]),
            ),
        ),
        (
            "the embeddings",
            lr * decay * decay,
            largest_move(
                parameters(&after.bert.embeddings),
                parameters(&before.bert.embeddings),
            ),
        ),
    ];
    for (what, rate, moved) in expected {
        assert!(
            (moved - rate).abs() < 0.02 * rate,
            "{what} moved by at most {moved}, expected {rate}"
        );
    }
}

#[test]
fn small_data_trains_for_the_least_number_of_steps() {
    // 64 examples in batches of 8: 8 steps an epoch. One epoch falls short of 20
    // steps; three (24 steps) are the fewest that reach them.
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let config = FineTuneConfig {
        optimization: Optimization {
            epochs: 1,
            min_steps: 20,
            batch_size: 8,
            ..Optimization::default()
        },
        ..FineTuneConfig::default()
    };
    assert_eq!(joint::steps_per_epoch(&config, &toy.train, 2), 8);
    let trained = toy
        .fine_tune(&config, None, &mut quiet, &device)
        .expect("training runs");
    assert_eq!(trained.steps, 24);
    assert_eq!(trained.history.len(), 3, "one evaluation an epoch");
}

#[test]
fn evaluated_starting_weights_compete_for_the_weights_kept() {
    // A gain must exceed min_delta to count: at 1e9 none does, so the first
    // evaluation stays the best. With evaluate_start that is the starting point,
    // returned bit for bit; without, the first epoch's weights.
    let device = Device::flex();
    let config = |evaluate_start| FineTuneConfig {
        optimization: Optimization {
            epochs: 2,
            batch_size: 8,
            learning_rate: 1e-3,
            ..Optimization::default()
        },
        min_delta: 1e9,
        evaluate_start,
        ..FineTuneConfig::default()
    };
    let toy_model = toy(&ClassifierConfig::default(), 7, &device);
    let start = parameters(&toy_model.model);
    let kept = toy_model
        .fine_tune(&config(true), None, &mut quiet, &device)
        .expect("training runs");
    assert_eq!(kept.history.len(), 3, "the start and two epochs");
    assert_eq!((kept.history[0].step, kept.best), (0, Some(0)));
    assert_eq!(parameters(&kept.model), start);

    let trained = toy(&ClassifierConfig::default(), 7, &device)
        .fine_tune(&config(false), None, &mut quiet, &device)
        .expect("training runs");
    assert_eq!(trained.history[0].step, 8);
    assert!(max_abs_diff(&parameters(&trained.model), &start) > 1e-5);
}

#[test]
fn global_norm_clipping_scales_all_gradients_together() {
    let device = Device::flex();
    let toy = toy(&ClassifierConfig::default(), 7, &device);
    let model = toy.model;
    let output = &model.classifier.as_ref().unwrap().output;
    let w = output.weight.val();
    let b = output.bias.as_ref().unwrap().val();
    // d/dW of 3·ΣW is 3 everywhere; d/db of 4·Σb is 4: a norm known in closed form.
    let loss = w.clone().sum().mul_scalar(3.0) + b.clone().sum().mul_scalar(4.0);
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let (nw, nb) = (w.dims()[0] * w.dims()[1], b.dims()[0]);
    let expected = ((9 * nw + 16 * nb) as f64).sqrt();
    let norm = clip_global_norm(&model, &mut grads, 1.0);
    assert!(
        (norm - expected).abs() < 1e-3 * expected,
        "{norm} vs {expected}"
    );
    let gw: Vec<f32> = grads
        .get::<2>(output.weight.id)
        .unwrap()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    let gb: Vec<f32> = grads
        .get::<1>(output.bias.as_ref().unwrap().id)
        .unwrap()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    let scale = 1.0 / expected;
    assert!(gw.iter().all(|&g| ((g as f64) - 3.0 * scale).abs() < 1e-5));
    assert!(gb.iter().all(|&g| ((g as f64) - 4.0 * scale).abs() < 1e-5));
    // Below the threshold nothing changes.
    let loss = w.sum().mul_scalar(3.0);
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    clip_global_norm(&model, &mut grads, 1e6);
    let untouched: Vec<f32> = grads
        .get::<2>(output.weight.id)
        .unwrap()
        .into_data()
        .try_into_vec_as()
        .unwrap();
    assert!(untouched.iter().all(|&g| g == 3.0));
}

#[test]
fn a_layer_count_keeps_the_bottom_layers() {
    let device = Device::flex();
    let (model, _) = joint::load_for_training(
        &common::tiny_bert_dir(),
        32,
        Some(1),
        &ClassifierConfig::default(),
        &["a".to_owned(), "b".to_owned()],
        0,
        &device,
    )
    .expect("loads");
    assert_eq!(model.bert.num_layers(), 1);
    let error = joint::load_for_training(
        &common::tiny_bert_dir(),
        32,
        Some(3),
        &ClassifierConfig::default(),
        &["a".to_owned(), "b".to_owned()],
        0,
        &device,
    )
    .err()
    .expect("3 of 2 layers is refused");
    assert!(error.to_string().contains("has 2"), "{error}");
    let _ = model.num_params();
}

#[test]
fn a_diverging_run_stops_at_the_step_and_writes_no_checkpoint() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    // An absurd rate blows the weights up after the first step; clipping off.
    let config = FineTuneConfig {
        optimization: Optimization {
            learning_rate: 1e30,
            warmup_ratio: 0.0,
            max_grad_norm: 0.0,
            eval_every: Some(1),
            ..quick_config().optimization
        },
        ..quick_config()
    };
    let run = joint::RunDir {
        path: dir.path(),
        resume: false,
    };
    let error = toy(&ClassifierConfig::default(), 7, &device)
        .fine_tune(&config, Some(run), &mut quiet, &device)
        .err()
        .expect("the run diverges");
    match &error {
        joint::JointError::NonFiniteLoss { step, .. } => assert_eq!(*step, 1, "{error}"),
        other => panic!("expected a non-finite loss, got {other}"),
    }
    assert!(error.to_string().contains("step 1"), "{error}");
    assert!(
        !joint::checkpoint_dir(dir.path()).exists(),
        "weights that give NaN are never checkpointed"
    );

    let error = toy(&ClassifierConfig::default(), 7, &device)
        .fine_tune(
            &FineTuneConfig {
                optimization: Optimization {
                    learning_rate: f64::NAN,
                    ..quick_config().optimization
                },
                ..quick_config()
            },
            None,
            &mut quiet,
            &device,
        )
        .err()
        .expect("a NaN rate is refused");
    assert!(error.to_string().contains("learning_rate NaN"), "{error}");
}

#[test]
fn sampling_decides_which_examples_each_epoch_trains_on() {
    use data::Sampling;
    let device = Device::flex();
    // The toy task with every example of class 0 and 8 of class 1: 32 against 8.
    let imbalanced_toy = || {
        let mut toy = toy(&ClassifierConfig::default(), 7, &device);
        let mut minority = 0;
        let keep: Vec<usize> = (0..toy.train.len())
            .filter(|&i| {
                let rare = toy.train.labels[i] == 1;
                minority += usize::from(rare);
                !rare || minority <= 8
            })
            .collect();
        toy.train = toy.train.subset(&keep);
        toy
    };
    for (sampling, per_epoch) in [
        (Sampling::None, 40),
        (Sampling::Undersample { ratio: 1.0 }, 16),
        (Sampling::RotatingUndersample { ratio: 1.0 }, 16),
        (Sampling::Oversample { ratio: 1.0 }, 64),
        (Sampling::ClassBalanced, 40),
    ] {
        let config = FineTuneConfig {
            optimization: Optimization {
                epochs: 2,
                ..quick_config().optimization
            },
            sampling,
            ..quick_config()
        };
        let outcome = imbalanced_toy()
            .fine_tune(&config, None, &mut quiet, &device)
            .expect("training runs");
        assert_eq!(outcome.examples_trained, 2 * per_epoch, "{sampling}");
        assert_eq!(outcome.steps, 2 * per_epoch.div_ceil(8), "{sampling}");
    }
}

#[test]
fn a_distilled_model_learns_its_teachers_rule_not_the_labels() {
    // The teacher calls every animal sentence "markets" and vice versa (0.95 sure):
    // with α = 1 the student learns that, and validation (labelled the teacher's way)
    // confirms it; the labels alone would teach the opposite.
    let device = Device::flex();
    let mut toy = toy(&ClassifierConfig::default(), 7, &device);
    let swapped: Vec<f32> = toy
        .train
        .labels
        .iter()
        .flat_map(|&y| if y == 0 { [0.05, 0.95] } else { [0.95, 0.05] })
        .collect();
    toy.train = toy
        .train
        .with_soft_targets(training::SoftTargets::from_probabilities(
            &[swapped],
            2,
            2.0,
        ));
    toy.valid.labels.iter_mut().for_each(|y| *y = 1 - *y);
    let config = FineTuneConfig {
        distillation: Some(training::DistillationLoss {
            temperature: 2.0,
            alpha: 1.0,
        }),
        ..quick_config()
    };
    let outcome = toy.fine_tune(&config, None, &mut quiet, &device).unwrap();
    let report = outcome.valid_report.expect("evaluated");
    assert!(
        report.accuracy >= 0.9,
        "agreement with the teacher {}",
        report.accuracy
    );
    // Without the teacher's targets the setting is refused, not ignored.
    let toy = common::toy(&ClassifierConfig::default(), 7, &device);
    assert!(toy.fine_tune(&config, None, &mut quiet, &device).is_err());
}

/// The mean cosine similarity of same-label pairs minus that of different-label
/// pairs, over the validation examples' embeddings.
fn label_separation(model: &joint::BertClassifier, toy: &common::Toy, device: &Device) -> f64 {
    let pad = toy.parts.tokenizer.special_tokens().pad;
    let dim = model.bert.hidden_size();
    let rows = joint::embed_rows(model, &toy.valid.encodings, pad, 16, device, &mut |_| {});
    let cosine = |i: usize, j: usize| {
        let (u, v) = (&rows[i * dim..(i + 1) * dim], &rows[j * dim..(j + 1) * dim]);
        let dot: f64 = u.iter().zip(v).map(|(a, b)| f64::from(a * b)).sum();
        let norm = |w: &[f32]| w.iter().map(|a| f64::from(a * a)).sum::<f64>().sqrt();
        dot / (norm(u) * norm(v))
    };
    let labels = &toy.valid.labels;
    let (mut same, mut other) = ((0.0, 0), (0.0, 0));
    for i in 0..labels.len() {
        for j in i + 1..labels.len() {
            let slot = if labels[i] == labels[j] {
                &mut same
            } else {
                &mut other
            };
            slot.0 += cosine(i, j);
            slot.1 += 1;
        }
    }
    same.0 / f64::from(same.1) - other.0 / f64::from(other.1)
}

#[test]
fn contrastive_tuning_pulls_a_label_together_and_pushes_labels_apart() {
    let device = Device::flex();
    let mean = ClassifierConfig {
        pooling: joint::ClassifierPooling::Mean,
        ..ClassifierConfig::default()
    };
    let toy = toy(&mean, 7, &device);
    let before = label_separation(&toy.model.valid(), &toy, &device);
    let pairs = joint::draw_pairs(&toy.train.labels, 2, 7).expect("two classes");
    let optimization = Optimization {
        epochs: 3,
        batch_size: 16,
        learning_rate: 1e-3,
        ..Optimization::default()
    };
    let pad = toy.parts.tokenizer.special_tokens().pad;
    let mut steps_told = 0;
    let tuned = joint::tune_contrastively(
        toy.model.clone(),
        &toy.train,
        &pairs,
        &optimization,
        pad,
        &device,
        &mut |event| {
            if let joint::TrainEvent::Step { .. } = event {
                steps_told += 1;
            }
            std::ops::ControlFlow::Continue(())
        },
    )
    .expect("tuning runs");
    // 64 examples, 2 iterations: 256 pairs, 16 steps per epoch.
    assert_eq!(pairs.len(), 256);
    assert_eq!((tuned.steps, steps_told), (48, 48));
    assert_eq!(tuned.pairs_trained, 3 * 256);
    let losses = &tuned.epoch_losses;
    assert!(losses[2] < 0.5 * losses[0], "epoch losses {losses:?}");
    let after = label_separation(&tuned.model, &toy, &device);
    assert!(
        after > before + 0.2,
        "same-label minus different-label cosine on validation: {before:.3} → {after:.3}"
    );
}
