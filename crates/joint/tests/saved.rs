//! Saving as a Hugging Face folder and loading back.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use common::{parameters, tiny_bert_dir, toy, toy_records};
use head::HeadConfig;
use joint::{ClassifierConfig, ClassifierMeta, ClassifierPooling, FineTuneConfig, SavedClassifier};

/// Tensor names and shapes of a safetensors file, from its JSON header.
fn safetensors_header(path: &Path) -> BTreeMap<String, Vec<usize>> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
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
            (k.clone(), shape)
        })
        .collect()
}

fn round_trip(classifier: ClassifierConfig) {
    let device = Device::flex();
    let toy = toy(&classifier, 5, &device);
    let model = toy.model.valid();
    let meta = ClassifierMeta {
        labels: toy.labels.clone(),
        classifier: classifier.clone(),
        max_len: 32,
        base_model: tiny_bert_dir(),
        fine_tune: Some(FineTuneConfig::default()),
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
    });
}

#[test]
fn a_plain_bert_is_not_a_classifier() {
    let device = Device::flex();
    let error = SavedClassifier::load(&tiny_bert_dir(), None, &device)
        .err()
        .expect("no id2label");
    assert!(error.to_string().contains("id2label"), "{error}");
}
