//! Fine-tuning only the top layers: from stored states below them, it reaches the
//! weights that training through the frozen layers reaches.

mod common;

use std::sync::Arc;

use bert::{BertInput, InMemoryStates};
use burn::module::Module;
use burn::tensor::Device;
use common::{Toy, max_abs_diff, parameters, quiet, toy};
use joint::{Adversary, ClassifierConfig, Examples, FineTuneConfig, JointError, Optimization};

fn config() -> FineTuneConfig {
    FineTuneConfig {
        optimization: Optimization {
            epochs: 3,
            batch_size: 8,
            learning_rate: 3e-3,
            // Dropout stays on in the trained layer and the head: the masks must agree too.
            train_layers: Some(1),
            ..Optimization::default()
        },
        ..FineTuneConfig::default()
    }
}

/// The states after layer `layer` of every example, each sequence run alone through
/// the model's bottom layers on the inference device.
fn states_of(toy: &Toy, examples: &Examples, layer: usize) -> Arc<InMemoryStates> {
    let model = toy.model.bert.valid();
    let pad = toy.parts.tokenizer.special_tokens().pad;
    let device = Device::flex();
    let values: Vec<f32> = examples
        .encodings
        .iter()
        .flat_map(|encoding| {
            let input = BertInput::from_encodings(&[encoding], pad, &device);
            model.bottom_states(&input, layer)[layer]
                .clone()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()
        })
        .collect();
    Arc::new(InMemoryStates::new(layer, 32, examples.lengths(), values))
}

#[test]
fn training_the_top_layer_from_stored_states_equals_training_through_the_frozen_one() {
    let device = Device::flex();
    let through = toy(&ClassifierConfig::default(), 7, &device);
    let start = parameters(&through.model);
    let embeddings = parameters(&through.model.bert.embeddings);
    let bottom = parameters(&through.model.bert.encoder.layer[0]);
    let top = parameters(&through.model.bert.encoder.layer[1]);
    let plain = through
        .fine_tune(&config(), None, &mut quiet, &device)
        .expect("training runs");

    let mut from_states = toy(&ClassifierConfig::default(), 7, &device);
    assert_eq!(
        parameters(&from_states.model),
        start,
        "the same starting point"
    );
    let (train, valid) = (from_states.train.clone(), from_states.valid.clone());
    from_states.train = train
        .with_states(states_of(&from_states, &from_states.train, 1))
        .unwrap();
    from_states.valid = valid
        .with_states(states_of(&from_states, &from_states.valid, 1))
        .unwrap();
    let cached = from_states
        .fine_tune(&config(), None, &mut quiet, &device)
        .expect("training runs");

    let difference = max_abs_diff(&parameters(&cached.model), &parameters(&plain.model));
    assert!(difference < 1e-5, "weights differ by {difference}");
    for (a, b) in cached.history.iter().zip(&plain.history) {
        assert!((a.valid_loss - b.valid_loss).abs() < 1e-5, "{a:?} vs {b:?}");
        assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{a:?} vs {b:?}");
    }
    // Frozen below, trained above, in both.
    let bert = &cached.model.bert;
    assert_eq!(parameters(&bert.embeddings), embeddings);
    assert_eq!(parameters(&bert.encoder.layer[0]), bottom);
    assert!(max_abs_diff(&parameters(&bert.encoder.layer[1]), &top) > 1e-4);
}

#[test]
fn the_top_layers_setting_is_checked_against_the_model_and_the_other_settings() {
    let labels = ["a".to_owned(), "b".to_owned()];
    let with = |config: FineTuneConfig| config.validate_for(&labels, 2);
    let refused = |config: FineTuneConfig, needle: &str| {
        let err = with(config).unwrap_err().to_string();
        assert!(err.contains(needle), "{err}");
    };
    refused(
        FineTuneConfig {
            optimization: Optimization {
                train_layers: Some(0),
                ..config().optimization
            },
            ..config()
        },
        "train_layers",
    );
    refused(
        FineTuneConfig {
            optimization: Optimization {
                train_layers: Some(3),
                ..config().optimization
            },
            ..config()
        },
        "2 encoder layers",
    );
    refused(
        FineTuneConfig {
            optimization: Optimization {
                freeze_layers: 1,
                ..config().optimization
            },
            ..config()
        },
        "leave freeze_layers and freeze_embeddings out",
    );
    let fgm = Adversary::Fgm { epsilon: 1.0 };
    refused(
        FineTuneConfig {
            adversary: fgm,
            ..config()
        },
        "perturbs the word embeddings",
    );
    // All the layers is ordinary fine-tuning, adversary included.
    with(FineTuneConfig {
        optimization: Optimization {
            train_layers: Some(2),
            ..config().optimization
        },
        adversary: fgm,
        ..config()
    })
    .unwrap();
    assert_eq!(config().optimization.frozen_bottom(2), Some(1));
    assert_eq!(
        Optimization {
            train_layers: Some(2),
            ..config().optimization
        }
        .frozen_bottom(2),
        None
    );
}

#[test]
fn states_of_other_sequences_or_another_layer_are_refused() {
    let device = Device::flex();
    let mut toy = toy(&ClassifierConfig::default(), 7, &device);
    let valid_states = states_of(&toy, &toy.valid, 1);
    let err = toy.train.clone().with_states(valid_states).unwrap_err();
    assert!(matches!(err, JointError::Data(_)), "{err}");

    toy.train = toy
        .train
        .clone()
        .with_states(states_of(&toy, &toy.train, 0))
        .unwrap();
    let err = toy
        .fine_tune(&config(), None, &mut quiet, &device)
        .err()
        .unwrap();
    assert!(err.to_string().contains("after layer 0"), "{err}");
}
