//! The masked-LM head against `BertForMaskedLM` (a tiny random one saved by PyTorch
//! with `save_pretrained`): vocabulary logits at every `[MASK]`, on every backend.

mod common;

use bert::burn::tensor::{Int, Tensor};
use bert::{BertInput, PretrainedBert};
use common::{backends, fixture, max_abs_diff, to_vec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    text: String,
    input_ids: Vec<u32>,
    mask_positions: Vec<usize>,
    logits: Vec<Vec<f32>>,
}

#[test]
fn mask_logits_match_bert_for_masked_lm() {
    let dir = fixture("tiny-mlm-gelu");
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    for (kind, device) in backends() {
        let bert = PretrainedBert::load(&dir, 64, &device).unwrap();
        assert!(
            bert.report
                .unexpected
                .iter()
                .all(|k| k.starts_with("cls.predictions.")),
            "only the head is left over by the encoder: {:?}",
            bert.report.unexpected
        );
        let head = bert
            .mlm_head(&device)
            .unwrap()
            .expect("the checkpoint has cls.predictions");
        let words = bert.model.embeddings.word_embeddings.weight.val();
        for case in &reference.cases {
            let encoding = bert.tokenizer.encode(&case.text, None).unwrap();
            assert_eq!(encoding.ids, case.input_ids, "{}", case.text);
            let input = BertInput::from_encodings(&[&encoding], 0, &device);
            let hidden = bert.model.forward(&input).last_hidden_state;
            let [_, seq, width] = hidden.dims();
            let positions: Vec<i64> = case.mask_positions.iter().map(|&p| p as i64).collect();
            let at_masks = hidden.reshape([seq, width]).select(
                0,
                Tensor::<1, Int>::from_data(positions.as_slice(), &device),
            );
            let logits = to_vec(head.forward(at_masks, words.clone()));
            let diff = max_abs_diff(&logits, &case.logits.concat());
            assert!(diff < 1e-4, "{kind}: {:?}: max abs diff {diff}", case.text);
        }
    }
}

#[test]
fn a_checkpoint_without_the_head_has_none() {
    for (_, device) in backends().into_iter().take(1) {
        let bert = PretrainedBert::load(fixture("tiny-safetensors-gelu"), 64, &device).unwrap();
        assert!(bert.mlm_head(&device).unwrap().is_none());
    }
}
