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
