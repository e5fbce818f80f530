//! One frozen pass for both caches (`build_cache_with_states`), on the tiny model: the
//! vectors and the states it stores are those of the two separate builds, each cache
//! it finds is reused, an interrupted pass resumes, states it cannot vouch for are
//! refused, and the state caches of a sharded run merge into those of one run.

use std::path::PathBuf;

use artifacts::Overwrite;
use bert::burn::tensor::Device;
use bert::{LayerStates, PretrainedBert};
use data::Record;
use encoder::{
    BuildError, BuildOutcome, EmbedOptions, EmbeddingCache, EmbeddingSpec, FrozenEncoder, Shard,
    StateCache, StateSpec, StateTarget, build_cache, build_cache_with_states, build_state_caches,
};
use testkit::tiny_model;
use text::Encoding;

const MAX_LEN: usize = 32;
const CHUNK_ROWS: usize = 4;
const WORDS: [&str; 10] = [
    "the", "cat", "dog", "sat", "on", "mat", "big", "bird", "oil", "price",
];

/// `n` records of 1 to 11 words in `dir/input.jsonl`, an encoder (batches of 3) and
/// the records' encodings as the tokenizer alone makes them.
struct Setup {
    dir: tempfile::TempDir,
    records: Vec<Record>,
    input: PathBuf,
    encoder: FrozenEncoder,
    encodings: Vec<Encoding>,
}

impl Setup {
    fn new(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                id: format!("r{i}"),
                text: (0..1 + (i * 7) % 11)
                    .map(|j| WORDS[(i + j) % WORDS.len()])
                    .collect::<Vec<_>>()
                    .join(" "),
                text_b: None,
                label: Some("a".into()),
            })
            .collect();
        let input = dir.path().join("input.jsonl");
        data::write_jsonl(&input, &records).unwrap();
        let device = Device::flex();
        let bert = PretrainedBert::load(tiny_model(), MAX_LEN, &device).unwrap();
        let encodings = bert
            .tokenizer
            .encode_all(
                records
                    .iter()
                    .map(|r| (r.id.as_str(), r.text.as_str(), None)),
            )
            .unwrap();
        let options = EmbedOptions {
            batch_size: 3,
            ..EmbedOptions::default()
        };
        let encoder = FrozenEncoder::new(bert, device, options).unwrap();
        Self {
            dir,
            records,
            input,
            encoder,
            encodings,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn spec(&self, shard: Option<Shard>) -> EmbeddingSpec {
        EmbeddingSpec::for_run(
            &tiny_model(),
            MAX_LEN,
            self.encoder.options(),
            &self.input,
            data::sha256_file(&self.input).unwrap(),
            "text".into(),
            shard,
        )
        .unwrap()
    }

    fn target(&self, name: &str, after_layer: usize) -> StateTarget {
        StateTarget {
            spec: StateSpec::for_run(&tiny_model(), MAX_LEN, after_layer, &self.encodings, "toy")
                .unwrap(),
            path: self.path(name),
        }
    }

    /// The shared pass into `emb` with the states of `targets`.
    fn shared(
        &self,
        emb: &str,
        targets: &[StateTarget],
    ) -> Result<(EmbeddingCache, BuildOutcome, Vec<StateCache>), BuildError> {
        build_cache_with_states(
            &self.encoder,
            &self.records,
            &self.spec(None),
            &self.path(emb),
            targets,
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |_| {},
        )
    }

    /// The two caches built apart: the embedding pass alone, then the states' own
    /// pass through the bottom layers.
    fn apart(&self, emb: &str, targets: &[StateTarget]) -> (EmbeddingCache, Vec<StateCache>) {
        let (cache, _) = build_cache(
            &self.encoder,
            &self.records,
            &self.spec(None),
            &self.path(emb),
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap();
        let states = build_state_caches(
            &self.encoder,
            &self.encodings,
            targets,
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap();
        (cache, states.into_iter().map(|(s, _)| s).collect())
    }
}

fn rows(cache: &StateCache) -> Vec<Vec<f32>> {
    (0..cache.rows())
        .map(|i| {
            let mut out = vec![0f32; cache.tokens(i) * cache.width()];
            cache.read_row(i, &mut out);
            out
        })
        .collect()
}

/// Same vectors, same states, bit for bit: the same batches through the same layers.
fn assert_same(
    (cache, states): (&EmbeddingCache, &[StateCache]),
    (other_cache, other_states): (&EmbeddingCache, &[StateCache]),
) {
    assert_eq!(cache.vectors(), other_cache.vectors(), "vectors");
    assert_eq!(states.len(), other_states.len());
    for (a, b) in states.iter().zip(other_states) {
        assert_eq!(a.after_layer(), b.after_layer());
        assert_eq!(rows(a), rows(b), "states after layer {}", a.after_layer());
    }
}

#[test]
fn one_pass_stores_what_the_two_separate_passes_store() {
    let setup = Setup::new(10);
    let targets = [setup.target("a1.states", 1), setup.target("a2.states", 2)];
    let (cache, outcome, states) = setup.shared("a.emb", &targets).unwrap();
    assert!(matches!(outcome, BuildOutcome::Built { chunks: 3, .. }));
    let layers: Vec<usize> = states.iter().map(StateCache::after_layer).collect();
    assert_eq!(layers, [1, 2], "in the order asked for");

    let apart = Setup::new(10);
    let apart_targets = [apart.target("a1.states", 1), apart.target("a2.states", 2)];
    let (apart_cache, apart_states) = apart.apart("a.emb", &apart_targets);
    assert_same((&cache, &states), (&apart_cache, &apart_states));
    // Layer 1 and layer 2 differ: the comparison above compares something.
    assert_ne!(rows(&states[0]), rows(&states[1]));
    for s in &states {
        let build = s.meta.build.expect("a built cache records its cost");
        assert!(build.seconds >= 0.0 && build.documents == 10);
    }

    // Both found again: a hit, the same caches.
    let (again, outcome, again_states) = setup.shared("a.emb", &targets).unwrap();
    assert_eq!(outcome, BuildOutcome::Hit);
    assert_same((&cache, &states), (&again, &again_states));
}

#[test]
fn with_the_vectors_cached_the_missing_states_get_their_own_pass() {
    let setup = Setup::new(10);
    let (cache, _) = build_cache(
        &setup.encoder,
        &setup.records,
        &setup.spec(None),
        &setup.path("v.emb"),
        CHUNK_ROWS,
        Overwrite::SameKind,
        &mut |_| {},
    )
    .unwrap();
    let targets = [setup.target("v2.states", 2)];
    let (found, outcome, states) = setup.shared("v.emb", &targets).unwrap();
    assert_eq!(outcome, BuildOutcome::Hit, "the vectors are reused");
    assert_eq!(found.vectors(), cache.vectors());
    let apart = Setup::new(10);
    let (_, apart_states) = apart.apart("v.emb", &[apart.target("v2.states", 2)]);
    assert_eq!(rows(&states[0]), rows(&apart_states[0]));
}

#[test]
fn an_interrupted_pass_resumes_both_caches_to_what_one_pass_stores() {
    let setup = Setup::new(10);
    let targets = [setup.target("k2.states", 2)];
    // Chunks of 4 rows in batches of 3: chunk 0 is on disk before row 6 is reached.
    let mut done = 0;
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_cache_with_states(
            &setup.encoder,
            &setup.records,
            &setup.spec(None),
            &setup.path("k.emb"),
            &targets,
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |n| {
                done += n;
                assert!(done < 6, "interrupted");
            },
        )
    }));
    assert!(interrupted.is_err());
    assert!(!setup.path("k.emb").exists() && !setup.path("k2.states").exists());
    let (cache, outcome, states) = setup.shared("k.emb", &targets).unwrap();
    let BuildOutcome::Built { resumed_chunks, .. } = outcome else {
        panic!("expected a build, got {outcome:?}");
    };
    assert_eq!(resumed_chunks, 1);

    let fresh = Setup::new(10);
    let (fresh_cache, _, fresh_states) = fresh
        .shared("k.emb", &[fresh.target("k2.states", 2)])
        .unwrap();
    assert_same((&cache, &states), (&fresh_cache, &fresh_states));
}

#[test]
fn states_of_other_sequences_or_of_another_shard_are_refused_and_nothing_is_written() {
    let setup = Setup::new(10);
    let mut other = setup.target("o.states", 1);
    other.spec =
        StateSpec::for_run(&tiny_model(), MAX_LEN, 1, &setup.encodings[1..], "toy").unwrap();
    let Err(err) = setup.shared("o.emb", &[other]) else {
        panic!("states of other sequences were accepted");
    };
    assert!(matches!(err, BuildError::OtherTokens { .. }), "{err}");
    assert!(
        err.to_string().contains("o.states"),
        "names the cache: {err}"
    );

    // The embedding pass of shard 0/2 cannot fill the states of the whole input,
    // nor those of shard 1/2.
    let shard = |i| Shard::new(i, 2, setup.records.len()).unwrap();
    let mut of_shard_1 = setup.target("s1.states", 1);
    of_shard_1.spec = of_shard_1.spec.sharded(shard(1));
    for target in [setup.target("s.states", 1), of_shard_1] {
        let refused = build_cache_with_states(
            &setup.encoder,
            &setup.records,
            &setup.spec(Some(shard(0))),
            &setup.path("s.emb"),
            &[target],
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |_| {},
        );
        let Err(err) = refused else {
            panic!("states of other rows were accepted");
        };
        assert!(matches!(err, BuildError::OtherShard { .. }), "{err}");
        assert!(err.to_string().contains("shard 0/2"), "{err}");
    }
    let left: Vec<_> = std::fs::read_dir(setup.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|name| name != "input.jsonl")
        .collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

/// The state caches of shard `i` of `n`, from the shared pass (`shared_pass`) or the
/// states' own pass.
fn shard_states(setup: &Setup, i: usize, n: usize, shared_pass: bool) -> PathBuf {
    let shard = Shard::new(i, n, setup.records.len()).unwrap();
    let mut target = setup.target(&format!("s{i}of{n}.states"), 2);
    target.spec = target.spec.sharded(shard);
    let built = if shared_pass {
        build_cache_with_states(
            &setup.encoder,
            &setup.records,
            &setup.spec(Some(shard)),
            &setup.path(&format!("s{i}of{n}.emb")),
            std::slice::from_ref(&target),
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap()
        .2
    } else {
        build_state_caches(
            &setup.encoder,
            &setup.encodings,
            std::slice::from_ref(&target),
            CHUNK_ROWS,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap()
        .into_iter()
        .map(|(cache, _)| cache)
        .collect()
    };
    assert_eq!(built[0].meta.lengths.len(), shard.end - shard.start);
    target.path
}

#[test]
fn shards_merged_equal_one_run() {
    let setup = Setup::new(17);
    let (_, whole) = setup.apart("whole.emb", &[setup.target("whole.states", 2)]);
    let whole = &whole[0];
    // Shard 1 from the shared pass, the others from the states' own pass; given in
    // any order.
    let paths: Vec<PathBuf> = [2, 0, 1]
        .into_iter()
        .map(|i| shard_states(&setup, i, 3, i == 1))
        .collect();
    let merged =
        StateCache::merge_shards(&paths, &setup.path("merged.states"), Overwrite::SameKind)
            .unwrap();
    assert_eq!(merged.meta.spec, whole.meta.spec);
    assert_eq!(merged.meta.fingerprint, whole.meta.fingerprint);
    assert_eq!(merged.meta.lengths, whole.meta.lengths);
    for row in 0..whole.rows() {
        assert_eq!(
            merged.row_f16(row),
            whole.row_f16(row),
            "row {row}: the same states bit for bit"
        );
    }
    // What is merged is a cache like any other: it opens again, verified.
    assert_eq!(
        StateCache::open(&setup.path("merged.states")).unwrap().meta,
        merged.meta
    );
}

#[test]
fn shards_that_do_not_form_one_run_are_not_merged() {
    let setup = Setup::new(12);
    let paths: Vec<PathBuf> = (0..3).map(|i| shard_states(&setup, i, 3, false)).collect();
    let out = setup.path("merged.states");
    let merge = |paths: &[PathBuf]| {
        StateCache::merge_shards(paths, &out, Overwrite::SameKind)
            .unwrap_err()
            .to_string()
    };
    assert!(merge(&paths[..2]).contains("2 of 3 shards"));
    let repeated = [paths[0].clone(), paths[1].clone(), paths[1].clone()];
    assert!(merge(&repeated).contains("missing or repeated"));
    let of_four = shard_states(&setup, 3, 4, false);
    assert!(merge(&[paths[0].clone(), paths[1].clone(), of_four]).contains("shard"));
    // Another layer's shard: other settings.
    let mut layer1 = setup.target("l1.states", 1);
    let shard = Shard::new(2, 3, setup.records.len()).unwrap();
    layer1.spec = layer1.spec.sharded(shard);
    build_state_caches(
        &setup.encoder,
        &setup.encodings,
        std::slice::from_ref(&layer1),
        CHUNK_ROWS,
        Overwrite::SameKind,
        &mut |_| {},
    )
    .unwrap();
    let other = merge(&[paths[0].clone(), paths[1].clone(), layer1.path]);
    assert!(other.contains("other settings"), "{other}");
    assert!(!out.exists(), "a refused merge writes nothing");
}

/// States feed fine-tuning, which runs in fp32: an int8 encoder is refused them, by the
/// shared pass and by the states' own pass, before anything is written.
#[test]
fn an_int8_encoder_is_refused_states() {
    let setup = Setup::new(5);
    let device = Device::flex();
    let options = EmbedOptions {
        precision: bert::Precision::Int8,
        ..setup.encoder.options().clone()
    };
    let bert = PretrainedBert::load(tiny_model(), MAX_LEN, &device).unwrap();
    let int8 = FrozenEncoder::new(bert, device, options.clone()).unwrap();
    let target = setup.target("i.states", 1);
    let spec = EmbeddingSpec::for_run(
        &tiny_model(),
        MAX_LEN,
        &options,
        &setup.input,
        data::sha256_file(&setup.input).unwrap(),
        "text".into(),
        None,
    )
    .unwrap();
    let shared = build_cache_with_states(
        &int8,
        &setup.records,
        &spec,
        &setup.path("i.emb"),
        std::slice::from_ref(&target),
        CHUNK_ROWS,
        Overwrite::SameKind,
        &mut |_| {},
    );
    assert!(matches!(shared, Err(BuildError::StatesNeedFp32(_))));
    let own = build_state_caches(
        &int8,
        &setup.encodings,
        &[target],
        CHUNK_ROWS,
        Overwrite::SameKind,
        &mut |_| {},
    );
    assert!(matches!(own, Err(BuildError::StatesNeedFp32(_))));
    assert!(!setup.path("i.emb").exists() && !setup.path("i.states").exists());
}
