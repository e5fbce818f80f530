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

/// The int8 encoder against transformers' f32 outputs, with the quality bar the int8
/// encoder is built to (a mean cosine of pooled vectors to f32's of at least 0.995, no
/// text below 0.98), on the CPU backends; the same model in fp32 again is bit for bit
/// the f32 model.
#[test]
fn int8_pooled_vectors_stay_within_the_quality_bar_of_transformers_f32() {
    use bert::Precision;
    const MEAN_COSINE: f64 = 0.995;
    const MIN_COSINE: f64 = 0.98;
    let fixture = load_fixture();
    for (kind, device) in backends() {
        let bert = PretrainedBert::load(minilm_dir(), fixture.max_len, &device).unwrap();
        if let Err(refused) = Precision::Int8.check_device(&device) {
            assert!(kind == bert::BackendKind::Wgpu, "{kind}: {refused}");
            assert!(bert.model.with_precision(Precision::Int8).is_err());
            continue;
        }
        let encodings = encode_all(&bert.tokenizer, &fixture.cases);
        let refs: Vec<&Encoding> = encodings.iter().collect();
        let input = BertInput::from_encodings(&refs, bert.tokenizer.special_tokens().pad, &device);
        let fp32 = to_vec(bert.model.forward(&input).last_hidden_state);
        let model = bert.model.with_precision(Precision::Int8).unwrap();
        assert_eq!(model.precision(), Precision::Int8);
        let output = model.forward(&input);
        let width = bert.config.hidden_size;
        for pooling in [Pooling::Mean, Pooling::Cls] {
            let pooled = to_vec(pooling.pool(
                output.last_hidden_state.clone(),
                input.attention_mask.clone(),
            ));
            let cosines: Vec<f64> = fixture
                .cases
                .iter()
                .enumerate()
                .map(|(b, case)| {
                    let expected = match pooling {
                        Pooling::Cls => &case.cls,
                        _ => &case.mean,
                    };
                    cosine(&pooled[b * width..(b + 1) * width], expected)
                })
                .collect();
            let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
            let min = cosines.iter().copied().fold(f64::INFINITY, f64::min);
            eprintln!(
                "{kind}: int8 {pooling:?} pooling, cosine to f32 mean {mean:.5}, min {min:.5}"
            );
            assert!(
                mean >= MEAN_COSINE,
                "{kind} {pooling:?}: mean cosine {mean}"
            );
            assert!(min >= MIN_COSINE, "{kind} {pooling:?}: min cosine {min}");
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
                training.with_precision(Precision::Int8),
                Err(bert::BertError::PrecisionNeedsCpu { .. })
            ),
            "{kind}: int8 refused for training"
        );
    }
}
