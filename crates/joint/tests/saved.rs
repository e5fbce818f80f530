//! Saving as a Hugging Face folder and loading back.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use common::{parameters, tiny_bert_dir, toy, toy_records};
use joint::{ClassifierConfig, ClassifierMeta, ClassifierPooling, FineTuneConfig, SavedClassifier};
use training::HeadConfig;

/// Every tensor of a safetensors file: name → (shape, raw bytes).
fn safetensors_tensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            let shape = v["shape"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_u64().unwrap() as usize)
                .collect();
            let offsets = &v["data_offsets"];
            let (start, end) = (
                offsets[0].as_u64().unwrap() as usize,
                offsets[1].as_u64().unwrap() as usize,
            );
            (k.clone(), (shape, data[start..end].to_vec()))
        })
        .collect()
}

/// Tensor names and shapes of a safetensors file.
fn safetensors_header(path: &Path) -> BTreeMap<String, Vec<usize>> {
    safetensors_tensors(path)
        .into_iter()
        .map(|(name, (shape, _))| (name, shape))
        .collect()
}

fn round_trip(classifier: ClassifierConfig) {
    let device = Device::flex();
    let toy = toy(&classifier, 5, &device);
    let model = toy.model.valid();
    // As built: a prompt's [MASK] id filled in.
    let classifier = toy.parts.classifier.clone();
    let meta = ClassifierMeta {
        labels: toy.labels.clone(),
        classifier: classifier.clone(),
        max_len: 32,
        base_model: tiny_bert_dir(),
        fine_tune: Some(FineTuneConfig::default()),
        decision: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    SavedClassifier::save(&model, &meta, &out).unwrap();
    let loaded = SavedClassifier::load(&out, None, &device).unwrap();
    assert_eq!(loaded.labels(), toy.labels.as_slice());
    assert_eq!(
        parameters(&loaded.model),
        parameters(&model),
        "every weight survives the round trip bit for bit"
    );
    let records = toy_records(12, 9);
    let pad = toy.parts.tokenizer.special_tokens().pad;
    let ours = joint::predict_proba(&model, &toy.valid.encodings, pad, 8, &device, &mut |_| {});
    let theirs = joint::predict_proba(
        &loaded.model,
        &toy.valid.encodings,
        pad,
        8,
        &device,
        &mut |_| {},
    );
    assert_eq!(ours, theirs);
    let probabilities = loaded
        .predict_proba(&records, 4, &device, &mut |_| {})
        .unwrap();
    assert_eq!(probabilities.len(), records.len() * 2);
    assert!(
        probabilities
            .chunks(2)
            .all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-5)
    );

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["id2label"]["0"], toy.labels[0].as_str());
    assert_eq!(config["label2id"][toy.labels[1].as_str()], 1);
    assert!(out.join("vocab.txt").exists(), "tokenizer files are copied");
    let header = safetensors_header(&out.join("model.safetensors"));
    // Hugging Face's names and PyTorch's [out, in] layout.
    assert_eq!(
        header["bert.encoder.layer.1.attention.self.query.weight"],
        vec![32, 32]
    );
    assert_eq!(
        header["bert.encoder.layer.0.intermediate.dense.weight"],
        vec![64, 32]
    );
    assert!(header.contains_key("bert.embeddings.LayerNorm.weight"));
    if classifier.is_hugging_face_compatible() {
        assert_eq!(config["architectures"][0], "BertForSequenceClassification");
        assert_eq!(header["classifier.weight"], vec![2, 32]);
        assert_eq!(header["classifier.bias"], vec![2]);
        assert!(header.contains_key("bert.pooler.dense.weight"));
    } else {
        assert_eq!(config["architectures"][0], "BertModel");
    }
}

#[test]
fn a_bert_for_sequence_classification_round_trips_exactly() {
    round_trip(ClassifierConfig::default());
}

#[test]
fn mean_pooling_with_an_mlp_head_round_trips_exactly() {
    round_trip(ClassifierConfig {
        pooling: ClassifierPooling::Mean,
        head: HeadConfig {
            hidden: vec![16],
            batch_norm: true,
            ..HeadConfig::default()
        },
        dropout: Some(0.2),
        ..ClassifierConfig::default()
    });
}

#[test]
fn a_prompt_classifier_round_trips_exactly() {
    round_trip(common::prompt_classifier(
        "{text} [SEP] the news is [MASK]",
        &[("animals", "cat"), ("markets", "market")],
    ));
}

#[test]
fn a_plain_bert_is_not_a_classifier() {
    let device = Device::flex();
    let error = SavedClassifier::load(&tiny_bert_dir(), None, &device)
        .err()
        .expect("no classifier in a base BERT");
    assert!(
        error.to_string().contains("no classifier.weight"),
        "{error}"
    );
}

/// A classifier exported by `bertcls finetune`, and the probabilities Hugging Face
/// transformers computed from that folder (scripts/reference/check_export.py).
#[test]
fn transformers_reads_our_export() {
    let device = Device::flex();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-classifier");
    let read_json = |name: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(fixture.join(name)).unwrap()).unwrap()
    };
    let loaded = SavedClassifier::load(&fixture, None, &device).unwrap();
    let records: Vec<data::Record> = read_json("transformers-inputs.json")
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, pair)| data::Record {
            id: i.to_string(),
            text: pair[0].as_str().unwrap().to_owned(),
            text_b: pair[1].as_str().map(str::to_owned),
            label: None,
        })
        .collect();
    let ours = loaded
        .predict_proba(&records, 4, &device, &mut |_| {})
        .unwrap();
    let expected = read_json("transformers-probabilities.json");
    assert_eq!(expected["labels"][1], loaded.labels()[1].as_str());
    let theirs: Vec<f32> = expected["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_f64().unwrap() as f32)
        })
        .collect();
    assert_eq!(ours.len(), theirs.len());
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "transformers and we differ by {worst}");

    // Our exporter still writes exactly what transformers read.
    let meta = ClassifierMeta {
        base_model: fixture.clone(),
        ..loaded.meta.clone()
    };
    let dir = tempfile::tempdir().unwrap();
    SavedClassifier::save(&loaded.model, &meta, &dir.path().join("again")).unwrap();
    let written = safetensors_tensors(&dir.path().join("again/model.safetensors"));
    let original = safetensors_tensors(&fixture.join("model.safetensors"));
    assert_eq!(
        written.keys().collect::<Vec<_>>(),
        original.keys().collect::<Vec<_>>()
    );
    for (name, tensor) in &original {
        assert!(written[name] == *tensor, "{name} differs from the fixture");
    }
}

/// A BertForSequenceClassification that PyTorch saved as pytorch_model.bin (no
/// id2label in its config): its encoder and classifier load, and the encoder computes
/// the pooled vectors PyTorch recorded.
#[test]
fn a_pytorch_sequence_classifier_folder_loads() {
    let device = Device::flex();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../bert/tests/fixtures/tiny-classifier-bin-gelu-new");
    let loaded = SavedClassifier::load(&dir, Some(32), &device).unwrap();
    assert_eq!(loaded.labels(), ["LABEL_0", "LABEL_1"]);
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let pad = loaded.tokenizer.special_tokens().pad;
    for case in reference["cases"].as_array().unwrap() {
        let encoding = loaded
            .tokenizer
            .encode(case["text"].as_str().unwrap(), case["text_b"].as_str())
            .unwrap();
        let input = bert::BertInput::from_encodings(&[&encoding], pad, &device);
        let pooled: Vec<f32> = loaded
            .model
            .bert
            .forward(&input)
            .pooler_output
            .unwrap()
            .into_data()
            .try_into_vec_as()
            .unwrap();
        let expected: Vec<f32> = case["pooler"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let worst = pooled
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-4, "pooler differs by {worst}");
    }
}
