//! A damaged embedding cache (any byte of any of its files flipped, any file cut) is
//! refused with an error, never read as other vectors and never a panic; a damaged
//! `.npy` likewise.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use artifacts::Overwrite;
use bert::PretrainedBert;
use bert::burn::tensor::Device;
use data::Record;
use encoder::{
    EmbedOptions, EmbeddingCache, EmbeddingSpec, FrozenEncoder, build_cache, read_npy, write_npy,
};
use proptest::prelude::*;
use testkit::tiny_model;
use testkit::{DamagedCopy, copy_dir, damage, files_in};

/// One cache of 12 records, built once for every case.
fn original() -> &'static (tempfile::TempDir, PathBuf) {
    static CACHE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    CACHE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Record> = (0..12)
            .map(|i| Record {
                id: format!("r{i}"),
                text: ["the cat sat", "oil prices rose", "a dog"][i % 3].to_owned(),
                text_b: None,
                label: Some(["a", "b"][i % 2].into()),
            })
            .collect();
        let input = dir.path().join("in.jsonl");
        data::write_jsonl(&input, &records).unwrap();
        let device = Device::flex();
        let options = EmbedOptions::default();
        let encoder = FrozenEncoder::new(
            PretrainedBert::load(tiny_model(), 16, &device).unwrap(),
            device,
            options.clone(),
        )
        .unwrap();
        let spec = EmbeddingSpec::for_run(
            &tiny_model(),
            16,
            &options,
            &input,
            data::sha256_file(&input).unwrap(),
            "text".into(),
            None,
        )
        .unwrap();
        let path = dir.path().join("x.emb");
        build_cache(
            &encoder,
            &records,
            &spec,
            &path,
            4,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap();
        (dir, path)
    })
}

fn same(a: &EmbeddingCache, b: &EmbeddingCache) -> bool {
    a.vectors() == b.vectors() && a.meta == b.meta
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_damaged_cache_is_refused(file in 0usize..3, damage in damage()) {
        let (_, path) = original();
        let copy = DamagedCopy::of(path, "x.emb", file, damage, true);
        // A change that leaves the recorded checksums and content alone (in the
        // marker's `written_by`, say) may load, but only as the original.
        if let Ok(cache) = EmbeddingCache::open(&copy.dir) {
            prop_assert!(!copy.must_be_refused(), "damaged {:?} was not refused", copy.file);
            prop_assert!(same(&cache, &EmbeddingCache::open(path).unwrap()));
        }
    }

    #[test]
    fn a_damaged_npy_is_refused_or_read_whole(damage in damage()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let values: Vec<f32> = (0..24).map(|i| i as f32 * 0.5).collect();
        write_npy(&path, &values, 4, 6).unwrap();
        damage.apply(&path);
        if let Ok((read, (rows, cols))) = read_npy(&path) {
            prop_assert_eq!(read.len(), rows * cols);
        }
    }
}

#[test]
fn the_undamaged_copy_opens_as_the_original() {
    let (_, path) = original();
    let root = tempfile::tempdir().unwrap();
    let copy: &Path = &root.path().join("x.emb");
    copy_dir(path, copy);
    let (a, b) = (
        EmbeddingCache::open(copy).unwrap(),
        EmbeddingCache::open(path).unwrap(),
    );
    assert!(same(&a, &b));
    assert_eq!(
        files_in(path),
        ["bertcls-artifact.json", "meta.json", "vectors.f32"]
    );
}
