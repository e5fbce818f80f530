//! all-MiniLM-L6-v2 against Hugging Face transformers (PyTorch), from the committed
//! fixture written by scripts/reference/make_fixtures.py.

mod common;

use bert::{BertInput, Pooling, PretrainedBert};
use common::{backends, fixture, max_abs_diff, minilm_dir, to_vec};
use serde::Deserialize;
use text::{BertTokenizer, Encoding};

const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Fixture {
    max_len: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    text_b: Option<String>,
    input_ids: Vec<u32>,
    token_type_ids: Vec<u32>,
    positions: Vec<usize>,
    hidden: Vec<Vec<f32>>,
    cls: Vec<f32>,
    mean: Vec<f32>,
    max: Vec<f32>,
    pooler: Vec<f32>,
}

fn load_fixture() -> Fixture {
    serde_json::from_str(&std::fs::read_to_string(fixture("minilm.json")).unwrap()).unwrap()
}

fn encode_all(tokenizer: &BertTokenizer, cases: &[Case]) -> Vec<Encoding> {
    cases
        .iter()
        .map(|c| tokenizer.encode(&c.text, c.text_b.as_deref()).unwrap())
        .collect()
}

#[test]
fn token_ids_match_transformers_from_tokenizer_json_and_from_vocab_txt() {
    let fixture = load_fixture();
    let from_json = BertTokenizer::from_dir(minilm_dir(), fixture.max_len).unwrap();
    let from_vocab = BertTokenizer::from_vocab(minilm_dir(), fixture.max_len).unwrap();
    for tokenizer in [&from_json, &from_vocab] {
        for (case, encoding) in fixture
            .cases
            .iter()
            .zip(encode_all(tokenizer, &fixture.cases))
        {
            assert_eq!(encoding.ids, case.input_ids, "ids of {:?}", case.text);
            assert_eq!(
                encoding.type_ids, case.token_type_ids,
                "type ids of {:?}",
                case.text
            );
        }
    }
}

/// All cases in one padded batch: the short ones carry a lot of padding, so this also
/// checks that padding changes nothing.
#[test]
fn hidden_states_and_pooled_vectors_match_transformers_on_every_backend() {
    let fixture = load_fixture();
    for (kind, device) in backends() {
        let bert = PretrainedBert::load(minilm_dir(), fixture.max_len, &device).unwrap();
        assert!(bert.report.unexpected.is_empty(), "{}", bert.report);
        let encodings = encode_all(&bert.tokenizer, &fixture.cases);
        let refs: Vec<&Encoding> = encodings.iter().collect();
        let input = BertInput::from_encodings(&refs, bert.tokenizer.special_tokens().pad, &device);
        let output = bert.model.forward(&input);
        let [batch, seq_len] = input.dims();
        let width = bert.config.hidden_size;
        let hidden = to_vec(output.last_hidden_state.clone());
        let pooled = |p: Pooling| {
            to_vec(p.pool(
                output.last_hidden_state.clone(),
                input.attention_mask.clone(),
            ))
        };
        let (cls, mean, max) = (
            pooled(Pooling::Cls),
            pooled(Pooling::Mean),
            pooled(Pooling::Max),
        );
        let pooler = to_vec(output.pooler_output.clone().expect("MiniLM has a pooler"));
        assert_eq!(batch, fixture.cases.len());

        let mut worst = 0f32;
        for (b, case) in fixture.cases.iter().enumerate() {
            let row = |v: &[f32]| v[b * width..(b + 1) * width].to_vec();
            for (&position, expected) in case.positions.iter().zip(&case.hidden) {
                let start = (b * seq_len + position) * width;
                worst = worst.max(max_abs_diff(&hidden[start..start + width], expected));
            }
            for (name, ours, theirs) in [
                ("cls", row(&cls), &case.cls),
                ("mean", row(&mean), &case.mean),
                ("max", row(&max), &case.max),
                ("pooler", row(&pooler), &case.pooler),
            ] {
                let diff = max_abs_diff(&ours, theirs);
                assert!(
                    diff <= TOLERANCE,
                    "{kind}: {name} of {:?} differs by {diff}",
                    case.text
                );
            }
        }
        assert!(
            worst <= TOLERANCE,
            "{kind}: hidden states differ by {worst}"
        );
        eprintln!("{kind}: max abs error of hidden states {worst:e}");
    }
}

#[test]
fn long_inputs_are_truncated_to_max_len_never_an_error() {
    let tokenizer = BertTokenizer::from_dir(minilm_dir(), 16).unwrap();
    let long = "word ".repeat(10_000);
    assert_eq!(tokenizer.encode(&long, None).unwrap().len(), 16);
    // Pairs lose tokens from the longer side first.
    let pair = tokenizer.encode("short text", Some(&long)).unwrap();
    assert_eq!(pair.len(), 16);
    assert_eq!(pair.type_ids.iter().filter(|&&t| t == 0).count(), 4); // [CLS] short text [SEP]
}

#[test]
fn special_tokens_come_from_the_vocabulary() {
    let tokenizer = BertTokenizer::from_dir(minilm_dir(), 32).unwrap();
    let special = tokenizer.special_tokens();
    for (id, token) in [
        (special.cls, "[CLS]"),
        (special.sep, "[SEP]"),
        (special.pad, "[PAD]"),
        (special.unk, "[UNK]"),
        (special.mask, "[MASK]"),
    ] {
        assert_eq!(tokenizer.id_to_token(id).as_deref(), Some(token));
    }
    // [MASK] in text stays one token; an unknown script becomes [UNK].
    let masked = tokenizer.encode("a [MASK] b", None).unwrap();
    assert!(masked.ids.contains(&special.mask));
}

#[test]
fn empty_texts_are_errors() {
    let tokenizer = BertTokenizer::from_dir(minilm_dir(), 32).unwrap();
    for empty in ["", "   ", "\u{0}\u{7}"] {
        let err = tokenizer.encode(empty, None).unwrap_err();
        assert!(
            err.to_string().contains("text is empty"),
            "{empty:?}: {err}"
        );
    }
    let err = tokenizer.encode("fine", Some(" ")).unwrap_err();
    assert!(err.to_string().contains("text_b is empty"), "{err}");
}

/// Cosine similarity of two vectors, in f64.
fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(&p, &q)| p as f64 * q as f64)
            .sum::<f64>()
    };
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
}

/// What a reduced precision must keep of transformers' f32 outputs: cosines of
/// pooled vectors (mean and [CLS] pooling), averaged over the fixture's texts and at
/// the worst text, and of the fixture's token states, at the worst token.
struct QualityBar {
    mean_pooled: f64,
    worst_pooled: f64,
    worst_token: f64,
}

/// Cosines of `pairs` (ours, transformers'): their mean and their minimum.
fn mean_and_min<'a>(pairs: impl Iterator<Item = (&'a [f32], &'a [f32])>) -> (f64, f64) {
    let cosines: Vec<f64> = pairs.map(|(a, b)| cosine(a, b)).collect();
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    (mean, cosines.iter().copied().fold(f64::INFINITY, f64::min))
}

/// The encoder in `precision` against transformers' f32 outputs, on the CPU backends
/// (refused on the GPU and under autodiff); the same model in fp32 again is bit for bit
/// the f32 model.
fn check_reduced_precision(precision: bert::Precision, bar: QualityBar) {
    use bert::Precision;
    let fixture = load_fixture();
    for (kind, device) in backends() {
        let bert = PretrainedBert::load(minilm_dir(), fixture.max_len, &device).unwrap();
        if let Err(refused) = precision.check_device(&device) {
            assert!(kind == bert::BackendKind::Wgpu, "{kind}: {refused}");
            assert!(bert.model.with_precision(precision).is_err());
            continue;
        }
        let encodings = encode_all(&bert.tokenizer, &fixture.cases);
        let refs: Vec<&Encoding> = encodings.iter().collect();
        let input = BertInput::from_encodings(&refs, bert.tokenizer.special_tokens().pad, &device);
        let fp32 = to_vec(bert.model.forward(&input).last_hidden_state);
        let model = bert.model.with_precision(precision).unwrap();
        assert_eq!(model.precision(), precision);
        let output = model.forward(&input);
        let [_, seq_len, width] = output.last_hidden_state.dims();
        let hidden = to_vec(output.last_hidden_state.clone());
        let tokens = fixture.cases.iter().enumerate().flat_map(|(b, case)| {
            let hidden = &hidden;
            case.positions
                .iter()
                .zip(&case.hidden)
                .map(move |(&position, expected)| {
                    let start = (b * seq_len + position) * width;
                    (&hidden[start..start + width], expected.as_slice())
                })
        });
        let (_, worst_token) = mean_and_min(tokens);
        eprintln!("{kind}: {precision} token states, worst cosine to f32 {worst_token:.5}");
        assert!(
            worst_token >= bar.worst_token,
            "{kind}: worst token {worst_token}"
        );
        for pooling in [Pooling::Mean, Pooling::Cls] {
            let pooled = to_vec(pooling.pool(
                output.last_hidden_state.clone(),
                input.attention_mask.clone(),
            ));
            let (mean, min) = mean_and_min(fixture.cases.iter().enumerate().map(|(b, case)| {
                let expected = match pooling {
                    Pooling::Cls => &case.cls,
                    _ => &case.mean,
                };
                (&pooled[b * width..(b + 1) * width], expected.as_slice())
            }));
            eprintln!(
                "{kind}: {precision} {pooling:?} pooling, cosine to f32 mean {mean:.5}, min {min:.5}"
            );
            assert!(
                mean >= bar.mean_pooled,
                "{kind} {pooling:?}: mean cosine {mean}"
            );
            assert!(
                min >= bar.worst_pooled,
                "{kind} {pooling:?}: min cosine {min}"
            );
        }
        let back = model.with_precision(Precision::Fp32).unwrap();
        assert_eq!(back.precision(), Precision::Fp32);
        assert_eq!(
            to_vec(back.forward(&input).last_hidden_state),
            fp32,
            "{kind}"
        );
        let training = bert::BertModel::new(&bert.config, false, &device.clone().autodiff());
        assert!(
            matches!(
                training.with_precision(precision),
                Err(bert::BertError::PrecisionNeedsCpu { .. })
            ),
            "{kind}: {precision} refused for training"
        );
    }
}

/// int8's bar, the issue's: pooled vectors at a mean cosine of 0.995 to f32's, no text
/// below 0.98; token states no worse than 0.97 (measured on flex and ndarray: pooled
/// 0.996 mean, 0.990 worst; tokens 0.989 worst).
#[test]
fn int8_pooled_vectors_stay_within_the_quality_bar_of_transformers_f32() {
    check_reduced_precision(
        bert::Precision::Int8,
        QualityBar {
            mean_pooled: 0.995,
            worst_pooled: 0.98,
            worst_token: 0.97,
        },
    );
}

/// bf16's bar: pooled vectors at a mean cosine of 0.999 to f32's (the issue's), no text
/// and no token state below 0.999 (measured: 0.99999 mean, 0.99997 worst token).
#[test]
fn bf16_pooled_vectors_stay_within_the_quality_bar_of_transformers_f32() {
    check_reduced_precision(
        bert::Precision::Bf16,
        QualityBar {
            mean_pooled: 0.999,
            worst_pooled: 0.999,
            worst_token: 0.999,
        },
    );
}
