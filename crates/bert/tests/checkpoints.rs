//! Loading every checkpoint layout a Hugging Face BERT folder may have, and refusing
//! the ones that do not fit, against tiny random models saved by PyTorch.

mod common;

use std::path::Path;

use bert::burn::tensor::Device;
use bert::{BertError, BertInput, PretrainedBert};
use common::{fixture, max_abs_diff, to_vec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    text_b: Option<String>,
    input_ids: Vec<u32>,
    token_type_ids: Vec<u32>,
    last_hidden_state: Vec<Vec<f32>>,
    pooler: Vec<f32>,
}

const TINY: [&str; 3] = [
    "tiny-safetensors-gelu",
    "tiny-classifier-bin-gelu-new",
    "tiny-gamma-beta-bin-relu",
];

fn check_against_reference(dir: &Path, device: &Device) {
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let bert = PretrainedBert::load(dir, 64, device).unwrap();
    for case in &reference.cases {
        // No tokenizer.json in these folders: this is the vocab.txt path.
        let encoding = bert
            .tokenizer
            .encode(&case.text, case.text_b.as_deref())
            .unwrap();
        assert_eq!(
            encoding.ids,
            case.input_ids,
            "{}: ids of {:?}",
            dir.display(),
            case.text
        );
        assert_eq!(encoding.type_ids, case.token_type_ids);
        let input =
            BertInput::from_encodings(&[&encoding], bert.tokenizer.special_tokens().pad, device);
        let output = bert.model.forward(&input);
        let expected: Vec<f32> = case.last_hidden_state.concat();
        let hidden_diff = max_abs_diff(&to_vec(output.last_hidden_state), &expected);
        let pooler_diff = max_abs_diff(&to_vec(output.pooler_output.unwrap()), &case.pooler);
        assert!(
            hidden_diff < 1e-5 && pooler_diff < 1e-5,
            "{}: {hidden_diff} {pooler_diff}",
            dir.display()
        );
    }
}

#[test]
fn every_checkpoint_layout_reproduces_pytorch() {
    for name in TINY {
        check_against_reference(&fixture(name), &Device::flex());
    }
}

#[test]
fn task_heads_in_a_checkpoint_are_reported_not_loaded() {
    let bert =
        PretrainedBert::load(fixture("tiny-classifier-bin-gelu-new"), 64, &Device::flex()).unwrap();
    assert_eq!(
        bert.report.unexpected,
        ["classifier.bias", "classifier.weight"],
        "{}",
        bert.report
    );
}

/// Copies a fixture folder so a test can break it, setting `key` in its config.json.
fn copy_fixture_with(name: &str, key: &str, value: serde_json::Value) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, tmp.path().join(path.file_name().unwrap())).unwrap();
    }
    let config_path = tmp.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(&config_path, config.to_string()).unwrap();
    tmp
}

#[test]
fn a_checkpoint_missing_encoder_weights_is_refused_by_name() {
    // Claim a third layer the checkpoint does not have.
    let dir = copy_fixture_with("tiny-safetensors-gelu", "num_hidden_layers", 3.into());

    let err = PretrainedBert::load(dir.path(), 64, &Device::flex())
        .err()
        .expect("must fail");
    let message = err.to_string();
    assert!(
        matches!(err, BertError::WeightsMismatch { .. }),
        "{message}"
    );
    assert!(message.contains("model.safetensors"), "{message}");
    assert!(
        message.contains("encoder.layer.2.attention.self_attention.query.weight"),
        "{message}"
    );
}

#[test]
fn wrong_shapes_are_refused_by_name() {
    let dir = copy_fixture_with("tiny-gamma-beta-bin-relu", "intermediate_size", 48.into());

    let message = PretrainedBert::load(dir.path(), 64, &Device::flex())
        .err()
        .expect("must fail")
        .to_string();
    assert!(
        message.contains("pytorch_model.bin") && message.contains("intermediate.dense"),
        "{message}"
    );
}

#[test]
fn a_folder_without_weights_or_config_says_what_is_missing() {
    let dir = copy_fixture_with("tiny-safetensors-gelu", "model_type", "bert".into());
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let message = PretrainedBert::load(dir.path(), 64, &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(
        message.contains("model.safetensors or pytorch_model.bin"),
        "{message}"
    );

    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    let message = PretrainedBert::load(dir.path(), 64, &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("config.json"), "{message}");
}

#[test]
fn max_len_beyond_the_position_table_is_refused() {
    let message = PretrainedBert::load(fixture("tiny-safetensors-gelu"), 65, &Device::flex())
        .err()
        .unwrap()
        .to_string();
    assert!(message.contains("max_position_embeddings 64"), "{message}");
}
