//! The embedding cache on the tiny model: hits and misses, integrity checks, shards,
//! and resuming an interrupted build.

use std::path::{Path, PathBuf};

use artifacts::Overwrite;
use bert::burn::tensor::Device;
use bert::{Pooling, PretrainedBert};
use data::Record;
use encoder::{
    BuildOutcome, CacheError, EmbedOptions, EmbeddingCache, EmbeddingSpec, FrozenEncoder, Shard,
    build_cache, partial_dir,
};
use testkit::tiny_model;

const WORDS: [&str; 12] = [
    "the", "cat", "dog", "sat", "on", "mat", "big", "red", "bird", "runs", "oil", "price",
];

/// `n` records of varied lengths, written to `dir/input.jsonl` as a spec needs a file.
fn records(dir: &Path, n: usize) -> (Vec<Record>, PathBuf) {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            id: format!("r{i}"),
            text: (0..1 + (i * 7) % 11)
                .map(|j| WORDS[(i + j) % WORDS.len()])
                .collect::<Vec<_>>()
                .join(" "),
            text_b: None,
            label: Some(if i % 3 == 0 { "a" } else { "b" }.into()),
        })
        .collect();
    let path = dir.join("input.jsonl");
    data::write_jsonl(&path, &records).unwrap();
    (records, path)
}

fn options(pooling: Pooling) -> EmbedOptions {
    EmbedOptions {
        batch_size: 3,
        pooling,
        ..EmbedOptions::default()
    }
}

fn encoder(options: EmbedOptions) -> FrozenEncoder {
    let device = Device::flex();
    FrozenEncoder::new(
        PretrainedBert::load(tiny_model(), 32, &device).unwrap(),
        device,
        options,
    )
    .unwrap()
}

fn spec(input: &Path, options: &EmbedOptions, shard: Option<Shard>) -> EmbeddingSpec {
    let sha256 = data::sha256_file(input).unwrap();
    EmbeddingSpec::for_run(
        &tiny_model(),
        32,
        options,
        input,
        sha256,
        "text".into(),
        shard,
    )
    .unwrap()
}

/// A temporary folder with `n` records, their input file and an encoder.
struct Setup {
    dir: tempfile::TempDir,
    records: Vec<Record>,
    input: PathBuf,
    options: EmbedOptions,
    encoder: FrozenEncoder,
}

impl Setup {
    fn new(n: usize, pooling: Pooling) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (records, input) = records(dir.path(), n);
        let options = options(pooling);
        let encoder = encoder(options.clone());
        Self {
            dir,
            records,
            input,
            options,
            encoder,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spec(&self, shard: Option<Shard>) -> EmbeddingSpec {
        spec(&self.input, &self.options, shard)
    }

    /// Builds (or finds) the cache `name` in chunks of 4 rows.
    fn build(&self, name: &str, shard: Option<Shard>) -> (EmbeddingCache, BuildOutcome) {
        build_cache(
            &self.encoder,
            &self.records,
            &self.spec(shard),
            &self.path(name),
            4,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap()
    }
}

#[test]
fn a_cache_round_trips_and_the_same_run_twice_is_a_hit() {
    let setup = Setup::new(20, Pooling::Mean);
    let (cache, outcome) = setup.build("x.emb", None);
    assert!(matches!(
        outcome,
        BuildOutcome::Built {
            chunks: 5,
            resumed_chunks: 0,
            ..
        }
    ));
    assert!(
        !partial_dir(&setup.path("x.emb")).exists(),
        "the partial folder must be renamed away"
    );

    let (expected, _) = setup.encoder.embed(&setup.records, &mut |_| {}).unwrap();
    let reopened = EmbeddingCache::open(&setup.path("x.emb")).unwrap();
    assert_eq!(reopened.vectors(), expected.values.as_slice());
    assert_eq!(reopened.meta.ids[3], "r3");
    assert_eq!(reopened.meta.labels[3], Some("a".into()));
    assert_eq!(cache.vectors(), reopened.vectors());
    assert_eq!(setup.build("x.emb", None).1, BuildOutcome::Hit);
}

#[test]
fn any_change_of_inputs_is_a_miss() {
    let dir = tempfile::tempdir().unwrap();
    let (records, input) = records(dir.path(), 6);
    let base = spec(&input, &options(Pooling::Mean), None);
    assert_ne!(
        base.fingerprint(),
        spec(&input, &options(Pooling::Cls), None).fingerprint()
    );
    let normalized = EmbedOptions {
        normalize: true,
        ..options(Pooling::Mean)
    };
    assert_ne!(
        base.fingerprint(),
        spec(&input, &normalized, None).fingerprint()
    );
    let int8 = EmbedOptions {
        precision: bert::Precision::Int8,
        ..options(Pooling::Mean)
    };
    let int8_spec = spec(&input, &int8, None);
    assert_ne!(base.fingerprint(), int8_spec.fingerprint());
    assert!(int8_spec.describe_encoder().ends_with(", int8 products"));
    // fp32 is left out of the stored spec: caches from before precisions existed keep
    // their fingerprints, and are hits.
    let stored = serde_json::to_value(&base).unwrap();
    assert!(stored.get("precision").is_none(), "{stored}");
    assert_eq!(
        serde_json::from_value::<EmbeddingSpec>(stored).unwrap(),
        base
    );
    let shorter = EmbeddingSpec::for_run(
        &tiny_model(),
        16,
        &options(Pooling::Mean),
        &input,
        data::sha256_file(&input).unwrap(),
        "text".into(),
        None,
    )
    .unwrap();
    assert_ne!(base.fingerprint(), shorter.fingerprint());
    // Same content elsewhere is the same features; other content is not.
    let copy = dir.path().join("copy.jsonl");
    std::fs::copy(&input, &copy).unwrap();
    assert_eq!(
        base.fingerprint(),
        spec(&copy, &options(Pooling::Mean), None).fingerprint()
    );
    data::write_jsonl(&copy, &records[..5]).unwrap();
    assert_ne!(
        base.fingerprint(),
        spec(&copy, &options(Pooling::Mean), None).fingerprint()
    );
}

#[test]
fn truncated_corrupted_or_edited_caches_are_refused() {
    let setup = Setup::new(8, Pooling::Mean);
    setup.build("x.emb", None);
    let dir = setup.path("x.emb");
    let refusal = || EmbeddingCache::open(&dir).err().unwrap().to_string();
    let vectors = dir.join("vectors.f32");
    let bytes = std::fs::read(&vectors).unwrap();

    std::fs::write(&vectors, &bytes[..bytes.len() - 4]).unwrap();
    let message = refusal();
    assert!(
        message.contains("vectors.f32 has changed") && message.contains("rebuilds it"),
        "{message}"
    );

    let mut flipped = bytes.clone();
    *flipped.last_mut().unwrap() ^= 0x40;
    std::fs::write(&vectors, &flipped).unwrap();
    assert!(refusal().contains("vectors.f32 has changed"));

    // The metadata is sealed too: a label edited by hand is noticed.
    std::fs::write(&vectors, &bytes).unwrap();
    EmbeddingCache::open(&dir).unwrap();
    let meta = dir.join("meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    std::fs::write(&meta, text.replacen("\"a\"", "\"b\"", 1)).unwrap();
    assert!(refusal().contains("meta.json has changed"));

    // A rebuild replaces the damaged cache: it is bertcls's own.
    let (cache, outcome) = setup.build("x.emb", None);
    assert!(matches!(outcome, BuildOutcome::Built { .. }));
    assert_eq!(cache.meta.labels[0], Some("a".into()));
}

#[test]
fn a_folder_bertcls_did_not_write_is_never_replaced() {
    let setup = Setup::new(4, Pooling::Mean);
    let target = setup.path("mine");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("notes.txt"), "keep").unwrap();
    let error = build_cache(
        &setup.encoder,
        &setup.records,
        &setup.spec(None),
        &target,
        4,
        Overwrite::AnyOwn,
        &mut |_| {},
    )
    .err()
    .unwrap()
    .to_string();
    assert!(error.contains("did not write"), "{error}");
    assert_eq!(
        std::fs::read_to_string(target.join("notes.txt")).unwrap(),
        "keep"
    );
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
}

#[test]
fn a_cache_for_other_features_is_refused_naming_both() {
    let setup = Setup::new(4, Pooling::Mean);
    let (cache, _) = setup.build("x.emb", None);
    let err = cache
        .check_spec(&spec(&setup.input, &options(Pooling::Max), None))
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CacheError::Mismatch { .. }));
    assert!(
        message.contains("mean pooling") && message.contains("max pooling"),
        "{message}"
    );
}

#[test]
fn shards_merge_into_the_unsharded_cache() {
    let setup = Setup::new(17, Pooling::Max);
    let (full, _) = setup.build("whole.emb", None);
    let paths: Vec<PathBuf> = (0..3)
        .map(|i| {
            let name = format!("s{i}.emb");
            setup.build(&name, Some(Shard::new(i, 3, setup.records.len()).unwrap()));
            setup.path(&name)
        })
        .collect();
    let merged =
        EmbeddingCache::open_shards(&[paths[2].clone(), paths[0].clone(), paths[1].clone()])
            .unwrap();
    assert_eq!(merged.vectors(), full.vectors());
    assert_eq!(merged.meta.ids, full.meta.ids);
    assert_eq!(merged.meta.fingerprint, full.meta.fingerprint);

    let missing = EmbeddingCache::open_shards(&paths[..2])
        .err()
        .unwrap()
        .to_string();
    assert!(missing.contains("2 of 3 shards"), "{missing}");
    let repeated = [paths[0].clone(), paths[0].clone(), paths[2].clone()];
    let repeated = EmbeddingCache::open_shards(&repeated)
        .err()
        .unwrap()
        .to_string();
    assert!(repeated.contains("missing or repeated"), "{repeated}");
}

#[test]
fn an_interrupted_build_resumes_from_its_complete_chunks() {
    let setup = Setup::new(24, Pooling::Mean);
    let (spec, path) = (setup.spec(None), setup.path("x.emb"));

    // Interrupt the first run once 10 rows are done, as a kill would: chunks hold 4
    // rows and batches 3, so chunks 0 and 1 are complete and chunk 2 is not.
    let mut done_rows = 0;
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_cache(
            &setup.encoder,
            &setup.records,
            &spec,
            &path,
            4,
            Overwrite::SameKind,
            &mut |n| {
                done_rows += n;
                assert!(done_rows < 10, "interrupted");
            },
        )
    }));
    assert!(interrupted.is_err());
    assert!(
        !path.exists(),
        "an interrupted build must not leave a cache under the final name"
    );
    let chunk_files = std::fs::read_dir(partial_dir(&path))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "bin")
        })
        .count();
    assert_eq!(chunk_files, 2);

    // A torn chunk (a crash while writing, on a file system without atomic rename) is recomputed.
    std::fs::write(partial_dir(&path).join("chunk-000001.bin"), b"torn").unwrap();
    let (cache, outcome) = setup.build("x.emb", None);
    let BuildOutcome::Built {
        chunks,
        resumed_chunks,
        ..
    } = outcome
    else {
        panic!("expected a build")
    };
    assert_eq!((chunks, resumed_chunks), (6, 1));
    let (expected, _) = setup.encoder.embed(&setup.records, &mut |_| {}).unwrap();
    assert_eq!(cache.vectors(), expected.values.as_slice());
}
