//! A damaged saved head (any byte of any of its files flipped, any file cut) is
//! refused with an error, or (where the damage touches nothing it reads) loads as
//! the original; never a panic. Without its marker (an older version's head) the
//! damage may go unnoticed, but loading and predicting still never panic.

use std::path::PathBuf;
use std::sync::OnceLock;

use artifacts::Overwrite;
use burn::tensor::Device;
use head::{FeatureOrigin, Features, SavedHead, TrainConfig, train_head};
use proptest::prelude::*;
use testkit::{DamagedCopy, damage};
use training::HeadConfig;

/// Four features, two classes that differ in the first.
fn features(rows: usize) -> Features {
    let values = (0..rows * 4)
        .map(|i| ((i * 7919) % 13) as f32 / 13.0 + if i % 8 == 0 { 1.0 } else { 0.0 })
        .collect();
    Features::new(values, 4, (0..rows).map(|i| i % 2).collect())
}

/// An MLP head saved once for every case, and its predictions.
fn original() -> &'static (tempfile::TempDir, PathBuf, Vec<f32>) {
    static HEAD: OnceLock<(tempfile::TempDir, PathBuf, Vec<f32>)> = OnceLock::new();
    HEAD.get_or_init(|| {
        let device = Device::flex();
        let labels = vec!["a".to_owned(), "b".to_owned()];
        let config = TrainConfig {
            head: HeadConfig {
                hidden: vec![3],
                batch_norm: true,
                ..HeadConfig::default()
            },
            epochs: 2,
            ..TrainConfig::default()
        };
        let head = train_head(&features(20), &features(6), &labels, &config, &device).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.head");
        let origin = FeatureOrigin {
            fingerprint: "f".into(),
            description: "d".into(),
            spec: serde_json::Value::Null,
        };
        SavedHead::save(&head, &labels, &origin, &path, Overwrite::SameKind).unwrap();
        let predictions = head.predict_proba(&features(6), &device);
        (dir, path, predictions)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_damaged_head_is_refused(file in 0usize..3, damage in damage(), sealed in any::<bool>()) {
        let (_, path, predictions) = original();
        let copy = DamagedCopy::of(path, "x.head", file, damage, sealed);
        let device = Device::flex();
        if let Ok(head) = SavedHead::load(&copy.dir, &device) {
            let (loaded, _) = head.predict(&features(6), &device);
            prop_assert!(!copy.must_be_refused(), "damaged {:?} was not refused", copy.file);
            if copy.must_load_as_original() {
                prop_assert_eq!(&loaded, predictions);
            }
        }
    }
}
