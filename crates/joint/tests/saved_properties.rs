//! A damaged fine-tuned model folder (any byte of any of its files flipped, any file
//! cut) is refused with an error when bertcls sealed it, or loads as the original
//! where the damage touches nothing it reads; without a marker (a folder another
//! tool wrote) the damage may go unnoticed, but loading and predicting still never
//! panic.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::module::Module;
use burn::tensor::Device;
use common::{tiny_bert_dir, toy, toy_records};
use joint::{ClassifierConfig, ClassifierMeta, SavedClassifier};
use proptest::prelude::*;
use testkit::{DamagedCopy, damage};

/// A classifier saved once for every case, and its probabilities on the records.
fn original() -> &'static (tempfile::TempDir, PathBuf, Vec<f32>) {
    static MODEL: OnceLock<(tempfile::TempDir, PathBuf, Vec<f32>)> = OnceLock::new();
    MODEL.get_or_init(|| {
        let device = Device::flex();
        let toy = toy(&ClassifierConfig::default(), 5, &device);
        let meta = ClassifierMeta {
            labels: toy.labels.clone(),
            classifier: toy.parts.classifier.clone(),
            max_len: 32,
            base_model: tiny_bert_dir(),
            fine_tune: None,
            decision: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model");
        SavedClassifier::save(&toy.model.valid(), &meta, &path).unwrap();
        let loaded = SavedClassifier::load(&path, None, &device).unwrap();
        let probabilities = loaded
            .predict_proba(&toy_records(6, 3), 4, &device, &mut |_| {})
            .unwrap();
        (dir, path, probabilities)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn a_damaged_model_is_refused(file in 0usize..6, damage in damage(), sealed in any::<bool>()) {
        let (_, path, probabilities) = original();
        let copy = DamagedCopy::of(path, "model", file, damage, sealed);
        let device = Device::flex();
        if let Ok(model) = SavedClassifier::load(&copy.dir, None, &device) {
            let predicted = model.predict_proba(&toy_records(6, 3), 4, &device, &mut |_| {});
            prop_assert!(!copy.must_be_refused(), "damaged {:?} was not refused", copy.file);
            if copy.must_load_as_original() {
                prop_assert_eq!(&predicted.unwrap(), probabilities);
            }
        }
    }
}
