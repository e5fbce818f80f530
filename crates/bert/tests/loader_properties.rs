//! A Hugging Face BERT folder with a damaged file (any byte flipped, any file cut:
//! config, weights as safetensors or a PyTorch pickle, vocabulary) loads with an
//! error or as some model, and a model that loads also runs; nothing panics.

mod common;

use bert::burn::tensor::Device;
use bert::{BertInput, PretrainedBert};
use common::fixture;
use proptest::prelude::*;
use testkit::{copy_dir, damage, files_in};

/// The tiny models with safetensors and with `pytorch_model.bin` weights.
const FOLDERS: [&str; 2] = ["tiny-safetensors-gelu", "tiny-classifier-bin-gelu-new"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn a_damaged_model_folder_never_panics(folder in 0usize..2, file in 0usize..5, damage in damage()) {
        let root = tempfile::tempdir().unwrap();
        let copy = root.path().join("model");
        copy_dir(&fixture(FOLDERS[folder]), &copy);
        let names = files_in(&copy);
        damage.apply(&copy.join(&names[file % names.len()]));
        let device = Device::flex();
        if let Ok(bert) = PretrainedBert::load(&copy, 16, &device) {
            let encoding = bert.tokenizer.encode("the cat sat on the mat", Some("a dog")).unwrap();
            let pad = bert.tokenizer.special_tokens().pad;
            let input = BertInput::from_encodings(&[&encoding], pad, &device);
            let _ = bert.model.forward(&input);
        }
    }
}
