//! The state cache on the tiny model: what it stores against each sequence's own
//! forward pass, hits and misses, integrity checks, and resuming an interrupted build.

use std::path::PathBuf;

use artifacts::Overwrite;
use bert::burn::tensor::Device;
use bert::{BertInput, LayerStates, PretrainedBert};
use encoder::{
    BuildOutcome, CacheError, EmbedOptions, FrozenEncoder, StateCache, StateSpec, StateTarget,
    build_state_caches, partial_dir,
};
use testkit::tiny_model;
use text::Encoding;

const MAX_LEN: usize = 32;
const WORDS: [&str; 10] = [
    "the", "cat", "dog", "sat", "on", "mat", "big", "bird", "oil", "price",
];

struct Setup {
    dir: tempfile::TempDir,
    bert: PretrainedBert,
    encoder: FrozenEncoder,
    encodings: Vec<Encoding>,
}

impl Setup {
    /// `n` texts of 1 to 11 words; batches of 3.
    fn new(n: usize) -> Self {
        let device = Device::flex();
        let load = || PretrainedBert::load(tiny_model(), MAX_LEN, &device).unwrap();
        let options = EmbedOptions {
            batch_size: 3,
            ..EmbedOptions::default()
        };
        let encoder = FrozenEncoder::new(load(), device.clone(), options).unwrap();
        let bert = load();
        let texts: Vec<String> = (0..n)
            .map(|i| {
                (0..1 + (i * 7) % 11)
                    .map(|j| WORDS[(i + j) % WORDS.len()])
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
        let encodings = bert
            .tokenizer
            .encode_all(
                ids.iter()
                    .zip(&texts)
                    .map(|(id, t)| (id.as_str(), t.as_str(), None)),
            )
            .unwrap();
        Self {
            dir: tempfile::tempdir().unwrap(),
            bert,
            encoder,
            encodings,
        }
    }

    fn target(&self, name: &str, after_layer: usize) -> StateTarget {
        StateTarget {
            spec: spec(&self.encodings, after_layer),
            path: self.dir.path().join(name),
        }
    }

    fn build(&self, targets: &[StateTarget], chunk_rows: usize) -> Vec<(StateCache, BuildOutcome)> {
        build_state_caches(
            &self.encoder,
            &self.encodings,
            targets,
            chunk_rows,
            Overwrite::SameKind,
            &mut |_| {},
        )
        .unwrap()
    }

    /// The states after `layer` of sequence `row` run alone (no batch, no padding)
    /// through the model's ordinary forward pass, which the PyTorch parity fixtures
    /// check layer by layer.
    fn reference(&self, row: usize, layer: usize) -> Vec<f32> {
        let pad = self.bert.tokenizer.special_tokens().pad;
        let input = BertInput::from_encodings(&[&self.encodings[row]], pad, &Device::flex());
        let output = self.bert.model.forward_all_layers(&input);
        output.hidden_states[layer]
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap()
    }
}

fn spec(encodings: &[Encoding], after_layer: usize) -> StateSpec {
    StateSpec::for_run(&tiny_model(), MAX_LEN, after_layer, encodings, "toy").unwrap()
}

/// `stored` is `exact` rounded to f16: within half an f16 step of it (2⁻¹¹ relative
/// for normal numbers), plus a little for the batched pass's float differences.
fn assert_f16_rounding(stored: &[f32], exact: &[f32], what: &str) {
    assert_eq!(stored.len(), exact.len(), "{what}: lengths");
    for (i, (&s, &e)) in stored.iter().zip(exact).enumerate() {
        let bound = e.abs() * 2f32.powi(-11) + 1e-5;
        assert!(
            (s - e).abs() <= bound,
            "{what}[{i}]: stored {s}, exact {e} (bound {bound})"
        );
        assert_eq!(
            s,
            half::f16::from_f32(s).to_f32(),
            "{what}[{i}]: {s} is not an f16 value"
        );
    }
}

fn row(cache: &StateCache, i: usize) -> Vec<f32> {
    let mut out = vec![0f32; cache.tokens(i) * cache.width()];
    cache.read_row(i, &mut out);
    out
}

#[test]
fn one_pass_stores_every_layer_asked_for_as_each_sequence_alone_computes_it() {
    let setup = Setup::new(10);
    let targets = [
        setup.target("after1.states", 1),
        setup.target("after2.states", 2),
    ];
    let caches = setup.build(&targets, 4);
    for (layer, (cache, outcome)) in [1, 2].into_iter().zip(&caches) {
        assert!(matches!(outcome, BuildOutcome::Built { chunks: 3, .. }));
        assert_eq!(cache.after_layer(), layer);
        assert_eq!(cache.rows(), 10);
        assert_eq!(cache.width(), 32);
        let mut tokens = 0;
        for i in 0..10 {
            assert_eq!(cache.tokens(i), setup.encodings[i].len(), "row {i}");
            tokens += cache.tokens(i);
            assert_f16_rounding(
                &row(cache, i),
                &setup.reference(i, layer),
                &format!("layer {layer}, row {i}"),
            );
        }
        // Real tokens only, two bytes each.
        assert_eq!(cache.payload_bytes(), tokens * 32 * 2);
    }
    // Different layers hold different states.
    assert_ne!(row(&caches[0].0, 3), row(&caches[1].0, 3));
}

#[test]
fn the_same_states_are_a_hit_and_any_input_that_decides_them_a_miss() {
    let setup = Setup::new(7);
    let target = setup.target("s.states", 1);
    let first = setup.build(std::slice::from_ref(&target), 3);
    assert!(matches!(first[0].1, BuildOutcome::Built { .. }));
    let second = setup.build(std::slice::from_ref(&target), 3);
    assert!(matches!(second[0].1, BuildOutcome::Hit));
    assert_eq!(row(&first[0].0, 4), row(&second[0].0, 4));

    let base = spec(&setup.encodings, 1).fingerprint();
    let mut other_tokens = setup.encodings.clone();
    other_tokens[2].ids[1] += 1;
    let mut other_types = setup.encodings.clone();
    other_types[0].type_ids[0] = 1;
    let other_model = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bert/tests/fixtures/tiny-gamma-beta-bin-relu");
    let misses = [
        ("layer", spec(&setup.encodings, 2)),
        ("a token", spec(&other_tokens, 1)),
        ("a segment id", spec(&other_types, 1)),
        ("a sequence fewer", spec(&setup.encodings[1..], 1)),
        (
            "max_len",
            StateSpec::for_run(&tiny_model(), 16, 1, &setup.encodings, "toy").unwrap(),
        ),
        (
            "the model",
            StateSpec::for_run(&other_model, MAX_LEN, 1, &setup.encodings, "toy").unwrap(),
        ),
    ];
    for (what, other) in &misses {
        assert_ne!(
            other.fingerprint(),
            base,
            "{what} must change the fingerprint"
        );
    }
    // Display names do not.
    let renamed =
        StateSpec::for_run(&tiny_model(), MAX_LEN, 1, &setup.encodings, "elsewhere").unwrap();
    assert_eq!(renamed.fingerprint(), base);

    // A miss rebuilds, and the cache is refused for other states by name.
    let changed = StateTarget {
        spec: spec(&other_tokens, 1),
        path: target.path.clone(),
    };
    let err = first[0].0.check_spec(&changed.spec).unwrap_err();
    assert!(matches!(err, CacheError::Mismatch { .. }), "{err}");
}

#[test]
fn a_damaged_or_cut_cache_is_refused() {
    let setup = Setup::new(6);
    let target = setup.target("s.states", 1);
    setup.build(std::slice::from_ref(&target), 4);
    let file = target.path.join("states.f16");
    let original = std::fs::read(&file).unwrap();

    let mut flipped = original.clone();
    flipped[100] ^= 0x40;
    std::fs::write(&file, &flipped).unwrap();
    let err = StateCache::open(&target.path).unwrap_err();
    assert!(matches!(err, CacheError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("states.f16"), "{err}");

    std::fs::write(&file, &original[..original.len() - 64]).unwrap();
    assert!(matches!(
        StateCache::open(&target.path),
        Err(CacheError::Corrupt { .. })
    ));

    // Restored, it opens; and a rebuild over the damage gives the same states.
    std::fs::write(&file, &original).unwrap();
    let intact = row(&StateCache::open(&target.path).unwrap(), 2);
    std::fs::write(&file, &flipped).unwrap();
    let rebuilt = setup.build(std::slice::from_ref(&target), 4);
    assert!(matches!(rebuilt[0].1, BuildOutcome::Built { .. }));
    assert_eq!(row(&rebuilt[0].0, 2), intact);
}

#[test]
fn a_killed_build_resumes_to_identical_states() {
    let setup = Setup::new(10);
    let target = setup.target("s.states", 2);
    // Chunks of 4 rows in batches of 3: chunk 0 is finished when 6 rows are done.
    let mut done = 0;
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_state_caches(
            &setup.encoder,
            &setup.encodings,
            std::slice::from_ref(&target),
            4,
            Overwrite::SameKind,
            &mut |n| {
                done += n;
                assert!(done < 6, "interrupted");
            },
        )
    }));
    assert!(interrupted.is_err());
    assert!(
        !target.path.exists(),
        "no cache under the final name before it is complete"
    );
    assert!(partial_dir(&target.path).join("chunk-000000.bin").is_file());

    let resumed = setup.build(std::slice::from_ref(&target), 4);
    let BuildOutcome::Built {
        chunks,
        resumed_chunks,
        ..
    } = resumed[0].1
    else {
        panic!("expected a build");
    };
    assert_eq!((chunks, resumed_chunks), (3, 1));
    let fresh = Setup::new(10);
    let uninterrupted = fresh.build(&[fresh.target("s.states", 2)], 4);
    for i in 0..10 {
        assert_eq!(
            row(&resumed[0].0, i),
            row(&uninterrupted[0].0, i),
            "row {i}"
        );
    }
}

#[test]
fn a_layer_the_model_lacks_and_no_sequences_are_refused() {
    let setup = Setup::new(3);
    let err = build_state_caches(
        &setup.encoder,
        &setup.encodings,
        &[setup.target("s.states", 3)],
        4,
        Overwrite::SameKind,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("layer 3"), "{err}");
    assert!(
        build_state_caches(
            &setup.encoder,
            &[],
            &[],
            4,
            Overwrite::SameKind,
            &mut |_| {}
        )
        .is_err()
    );
}
