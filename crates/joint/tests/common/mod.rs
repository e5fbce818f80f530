//! A tiny random BERT and a toy task it can learn in seconds.
#![allow(dead_code)]

use std::ops::ControlFlow;
use std::path::PathBuf;

use burn::tensor::Device;
use data::{LabelMap, Record, SplitMix64};
use joint::{BertClassifier, ClassifierConfig, Examples, PretrainedBertParts, load_for_training};

pub fn tiny_bert_dir() -> PathBuf {
    testkit::tiny_model()
}

/// Sentences about animals or about markets, from the tiny vocabulary.
pub fn toy_records(n: usize, seed: u64) -> Vec<Record> {
    const ANIMALS: [&str; 7] = ["cat", "dog", "bird", "fish", "runs", "sat", "mat"];
    const MARKETS: [&str; 7] = ["market", "price", "oil", "rose", "fell", "bank", "rate"];
    const FILLER: [&str; 6] = ["the", "a", "was", "on", "big", "small"];
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let (words, label) = if i % 2 == 0 {
                (&ANIMALS, "animals")
            } else {
                (&MARKETS, "markets")
            };
            let len = 3 + rng.below(8);
            let text: Vec<&str> = (0..len)
                .map(|_| {
                    if rng.unit() < 0.3 {
                        FILLER[rng.below(FILLER.len())]
                    } else {
                        words[rng.below(words.len())]
                    }
                })
                .collect();
            Record {
                id: format!("r{i}"),
                text: text.join(" "),
                text_b: None,
                label: Some(label.into()),
            }
        })
        .collect()
}

pub struct Toy {
    pub model: BertClassifier,
    pub parts: PretrainedBertParts,
    pub train: Examples,
    pub valid: Examples,
    pub labels: Vec<String>,
}

/// The tiny BERT with a fresh head, and the toy task tokenized for it.
pub fn toy(classifier: &ClassifierConfig, seed: u64, device: &Device) -> Toy {
    toy_with(&tiny_bert_dir(), classifier, seed, device)
}

/// A prompt classifier: `template` and each label's word.
pub fn prompt_classifier(template: &str, words: &[(&str, &str)]) -> ClassifierConfig {
    ClassifierConfig {
        prompt: Some(joint::PromptConfig {
            template: template.to_owned(),
            verbalizer: words
                .iter()
                .map(|(l, w)| (l.to_string(), w.to_string()))
                .collect(),
            mlm_head: false,
            mask_token_id: 0,
        }),
        ..ClassifierConfig::default()
    }
}

/// The tiny random BertForMaskedLM (same vocabulary), with its masked-LM head.
pub fn tiny_mlm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bert/tests/fixtures/tiny-mlm-gelu")
}

/// As [`toy`], with the BERT folder `dir`.
pub fn toy_with(
    dir: &std::path::Path,
    classifier: &ClassifierConfig,
    seed: u64,
    device: &Device,
) -> Toy {
    let train_records = toy_records(64, 1);
    let valid_records = toy_records(32, 2);
    let labels = LabelMap::from_records(&train_records);
    let (model, parts) = load_for_training(dir, 32, None, classifier, labels.names(), seed, device)
        .expect("the tiny BERT loads");
    let encoder = parts.encoder().expect("the classifier's prompt parses");
    let train = Examples::from_records(&train_records, &encoder, &labels, "train")
        .expect("toy records tokenize");
    let valid = Examples::from_records(&valid_records, &encoder, &labels, "valid")
        .expect("toy records tokenize");
    Toy {
        model,
        parts,
        train,
        valid,
        labels: labels.names().to_vec(),
    }
}

impl Toy {
    /// Fine-tunes the toy model on the toy task.
    pub fn fine_tune(
        self,
        config: &joint::FineTuneConfig,
        run_dir: Option<joint::RunDir<'_>>,
        on_event: &mut dyn FnMut(&joint::TrainEvent<'_>) -> ControlFlow<()>,
        device: &Device,
    ) -> Result<joint::FineTuned, joint::JointError> {
        let pad = self.parts.tokenizer.special_tokens().pad;
        joint::fine_tune(
            self.model,
            &self.train,
            &self.valid,
            &self.labels,
            config,
            pad,
            device,
            run_dir,
            on_event,
        )
    }
}

/// An event callback that lets training run to the end.
pub fn quiet(_: &joint::TrainEvent<'_>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

/// Every parameter of a module, flattened, in visiting order.
pub fn parameters<M: burn::module::Module>(module: &M) -> Vec<Vec<f32>> {
    struct Collect(Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const D: usize>(
            &mut self,
            param: &burn::module::Param<burn::tensor::Tensor<D>>,
        ) {
            self.0.push(
                param
                    .val()
                    .into_data()
                    .try_into_vec_as::<f32>()
                    .expect("float parameters"),
            );
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "same number of parameters");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0.0, f32::max)
}
