//! A fine-tuned classifier on disk: a Hugging Face folder that `transformers` loads
//! as `BertForSequenceClassification`, plus `bertcls.json` for what it cannot say.

use std::fs;
use std::path::{Path, PathBuf};

use bert::{BertConfig, BertModel, apply_checkpoint, find_weights, hf_key_remapper};
use burn::store::{BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;
use data::{Record, SplitMix64};
use metrics::DecisionRule;
use serde::{Deserialize, Serialize};
use text::BertTokenizer;

use crate::{
    BertClassifier, ClassifierConfig, FineTuneConfig, JointError, RecordEncoder, predict_proba,
};
use artifacts::{ArtifactKind, Overwrite, StagedDir};

/// bertcls's own description of a saved classifier.
pub const META_FILE: &str = "bertcls.json";

/// What `bertcls.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifierMeta {
    /// Class names, in the order of the logits.
    pub labels: Vec<String>,
    /// The pooling and head.
    pub classifier: ClassifierConfig,
    /// Tokens per sequence the model was trained with.
    pub max_len: usize,
    /// The folder fine-tuning started from.
    pub base_model: PathBuf,
    /// How it was fine-tuned (absent for models trained by other tools).
    pub fine_tune: Option<FineTuneConfig>,
    /// How probabilities become a class (argmax for folders saved before, or by
    /// other tools).
    #[serde(default)]
    pub decision: DecisionRule,
}

/// A classifier loaded from disk with its tokenizer, ready to predict.
pub struct SavedClassifier {
    /// The folder it was loaded from.
    pub dir: PathBuf,
    /// On the device without autodiff.
    pub model: BertClassifier,
    /// The folder's tokenizer.
    pub tokenizer: BertTokenizer,
    /// Its labels, classifier, length and decision rule.
    pub meta: ClassifierMeta,
}

impl SavedClassifier {
    /// Writes `model` to `dir` (replacing a fine-tuned model there whole, and nothing
    /// else bertcls did not write), sealed: `config.json` (the base model's,
    /// with the layer count, `id2label`/`label2id` and, when the model is one,
    /// `BertForSequenceClassification`), `model.safetensors` under Hugging Face's names
    /// and layouts, the tokenizer files of `meta.base_model`, and `bertcls.json`.
    pub fn save(
        model: &BertClassifier,
        meta: &ClassifierMeta,
        dir: &Path,
    ) -> Result<(), JointError> {
        let staged = StagedDir::new(dir, ArtifactKind::FineTunedModel, Overwrite::SameKind)?;
        let partial = staged.path();
        let config_path = meta.base_model.join("config.json");
        let text = fs::read_to_string(&config_path)
            .map_err(|e| JointError::file("read", &config_path, e))?;
        let mut config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| JointError::file("parse", &config_path, e))?;
        hugging_face_config(&mut config, model, meta);
        write_json(&partial.join("config.json"), &config)?;
        write_json(&partial.join(META_FILE), meta)?;

        let weights = partial.join("model.safetensors");
        let mut store = SafetensorsStore::from_file(&weights)
            .with_to_adapter(BurnToPyTorchAdapter)
            .remap(export_remapper(&meta.classifier))
            // transformers refuses safetensors files without this.
            .metadata("format", "pt")
            .overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|e| JointError::file("write", &weights, e))?;

        for name in text::TOKENIZER_FILES {
            let from = meta.base_model.join(name);
            if from.exists() {
                fs::copy(&from, partial.join(name))
                    .map_err(|e| JointError::file("copy", &from, e))?;
            }
        }
        staged.commit(true)?;
        Ok(())
    }

    /// Loads a folder written by [`save`](Self::save), or any Hugging Face
    /// `BertForSequenceClassification` folder (classes from `id2label`, else
    /// `LABEL_0…` as transformers names them). `max_len`
    /// overrides the saved one (default 128 for folders without `bertcls.json`).
    pub fn load(dir: &Path, max_len: Option<usize>, device: &Device) -> Result<Self, JointError> {
        // A folder bertcls wrote is read only as it was written.
        artifacts::verify(dir, ArtifactKind::FineTunedModel)?;
        let config_path = dir.join("config.json");
        let bert_config = BertConfig::from_file(&config_path)?;
        let meta = read_meta(dir, &bert_config)?;
        let max_len = max_len.unwrap_or(meta.max_len);
        if max_len > bert_config.max_position_embeddings {
            return Err(bert::BertError::MaxLenTooLong {
                max_len,
                max_positions: bert_config.max_position_embeddings,
            }
            .into());
        }
        let tokenizer = BertTokenizer::from_dir(dir, max_len)
            .and_then(|t| t.fit_model(bert_config.vocab_size, bert_config.type_vocab_size))
            .map_err(bert::BertError::from)?;
        let with_pooler = meta.classifier.pooling == crate::ClassifierPooling::Cls
            && meta.classifier.prompt.is_none();
        let mut model = BertClassifier::new(
            BertModel::new(&bert_config, with_pooler, device),
            &bert_config,
            &meta.classifier,
            meta.labels.len(),
            None,
            // Every weight is then overwritten from the file.
            &mut SplitMix64::new(0),
            device,
        );
        load_weights(&mut model, dir, meta.classifier.prompt.is_some())?;
        Ok(Self {
            dir: dir.to_owned(),
            model,
            tokenizer,
            meta: ClassifierMeta { max_len, ..meta },
        })
    }

    /// Class probabilities for `records` (`records.len() × classes`, row-major).
    pub fn predict_proba(
        &self,
        records: &[Record],
        batch_size: usize,
        device: &Device,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>, JointError> {
        settings::at_least_one("batch_size", batch_size)?;
        let encodings =
            RecordEncoder::new(&self.tokenizer, &self.meta.classifier)?.encode_all(records)?;
        let pad = self.tokenizer.special_tokens().pad;
        Ok(predict_proba(
            &self.model,
            &encodings,
            pad,
            batch_size,
            device,
            progress,
        ))
    }

    /// The class names, in the order of the probabilities.
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }
}

/// Our field paths → Hugging Face keys (the adapter transposes Linear weights and
/// renames norms' gamma/beta to weight/bias).
fn export_remapper(classifier: &ClassifierConfig) -> KeyRemapper {
    let single_layer = classifier
        .head
        .hidden
        .is_empty()
        .then_some((r"^classifier\.output\.", "classifier."));
    [
        (r"\.self_attention\.", ".self."),
        (r"\.layer_norm\.", ".LayerNorm."),
    ]
    .into_iter()
    .chain(single_layer)
    .fold(KeyRemapper::new(), |remapper, (from, to)| {
        remapper
            .add_pattern(from, to)
            .expect("the remapping patterns are valid regexes")
    })
}

/// Hugging Face keys → our field paths.
fn import_remapper() -> KeyRemapper {
    hf_key_remapper(false)
        .add_pattern(r"^classifier\.(weight|bias)$", "classifier.output.$1")
        .expect("the remapping pattern is a valid regex")
}

/// Turns a base model's config into the saved classifier's.
fn hugging_face_config(
    config: &mut serde_json::Value,
    model: &BertClassifier,
    meta: &ClassifierMeta,
) {
    let Some(map) = config.as_object_mut() else {
        return;
    };
    let id2label: serde_json::Map<String, serde_json::Value> = meta
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.clone().into()))
        .collect();
    let label2id: serde_json::Map<String, serde_json::Value> = meta
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i.into()))
        .collect();
    map.insert("num_hidden_layers".into(), model.bert.num_layers().into());
    map.insert("id2label".into(), id2label.into());
    map.insert("label2id".into(), label2id.into());
    map.insert("problem_type".into(), "single_label_classification".into());
    if let Some(p) = meta.classifier.dropout {
        map.insert("classifier_dropout".into(), p.into());
    }
    // Only a model transformers would rebuild identically claims its class.
    let architecture = if meta.classifier.is_hugging_face_compatible() {
        "BertForSequenceClassification"
    } else {
        "BertModel"
    };
    map.insert("architectures".into(), serde_json::json!([architecture]));
}

/// The folder's `bertcls.json`, or for a folder transformers wrote, what its
/// `config.json` says; checked against what a classifier needs.
fn read_meta(dir: &Path, bert_config: &BertConfig) -> Result<ClassifierMeta, JointError> {
    let meta = match fs::read_to_string(dir.join(META_FILE)) {
        Ok(text) => serde_json::from_str::<ClassifierMeta>(&text)
            .map_err(|e| JointError::file("parse", &dir.join(META_FILE), e))?,
        Err(_) => foreign_meta(dir, bert_config)?,
    };
    meta.classifier
        .validate()
        .map_err(|e| JointError::NotAClassifier {
            path: dir.join(META_FILE),
            message: e.to_string(),
        })?;
    if meta.labels.len() < 2 {
        return Err(JointError::NotAClassifier {
            path: dir.to_owned(),
            message: format!(
                "it names {} class(es); a classifier needs 2",
                meta.labels.len()
            ),
        });
    }
    meta.decision
        .check(meta.labels.len())
        .map_err(|message| JointError::NotAClassifier {
            path: dir.join(META_FILE),
            message: format!("its decision rule: {message}"),
        })?;
    Ok(meta)
}

/// Reads the folder's weights into `model`: every encoder tensor and the output layer
/// (`verbalizer.` for a prompt model) must be there.
fn load_weights(model: &mut BertClassifier, dir: &Path, prompt: bool) -> Result<(), JointError> {
    let weights = find_weights(dir)?;
    let result = apply_checkpoint(model, &weights, import_remapper())?;
    let output = if prompt { "verbalizer." } else { "classifier." };
    if result
        .missing
        .iter()
        .any(|(name, _)| name.starts_with(output))
    {
        return Err(JointError::NotAClassifier {
            path: weights,
            message: "it has no classifier.weight (a base BERT: fine-tune one with \
                      `bertcls finetune`)"
                .into(),
        });
    }
    let mut problems: Vec<String> = result.errors.iter().map(|e| e.to_string()).collect();
    problems.extend(
        result
            .missing
            .iter()
            .map(|(name, _)| format!("missing {name}")),
    );
    if !problems.is_empty() {
        problems.truncate(12);
        return Err(JointError::NotAClassifier {
            path: weights,
            message: problems.join("; "),
        });
    }
    Ok(())
}

/// A classifier saved by another tool: classes from `id2label`, the usual head.
fn foreign_meta(dir: &Path, bert_config: &BertConfig) -> Result<ClassifierMeta, JointError> {
    let config_path = dir.join("config.json");
    let text =
        fs::read_to_string(&config_path).map_err(|e| JointError::file("read", &config_path, e))?;
    let config: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| JointError::file("parse", &config_path, e))?;
    let not_classifier = |message: &str| JointError::NotAClassifier {
        path: config_path.clone(),
        message: message.to_owned(),
    };
    // Without id2label, transformers assumes `num_labels` (default 2) named LABEL_i;
    // a checkpoint without a classifier is refused when the weights are read.
    let labels: Vec<String> = match config.get("id2label").and_then(|v| v.as_object()) {
        Some(id2label) => {
            let mut labels: Vec<(usize, String)> = id2label
                .iter()
                .map(|(id, label)| {
                    let id = id.parse::<usize>().map_err(|_| {
                        not_classifier(&format!("id2label key {id:?} is not a number"))
                    })?;
                    Ok((id, label.as_str().unwrap_or_default().to_owned()))
                })
                .collect::<Result<_, JointError>>()?;
            labels.sort();
            if labels.iter().enumerate().any(|(i, (id, _))| i != *id) {
                return Err(not_classifier("id2label ids are not 0, 1, 2, …"));
            }
            labels.into_iter().map(|(_, l)| l).collect()
        }
        None => {
            let n = config
                .get("num_labels")
                .and_then(|v| v.as_u64())
                .unwrap_or(2) as usize;
            (0..n).map(|i| format!("LABEL_{i}")).collect()
        }
    };
    let dropout = config
        .get("classifier_dropout")
        .and_then(|v| v.as_f64())
        .or(Some(bert_config.hidden_dropout_prob));
    Ok(ClassifierMeta {
        labels,
        classifier: ClassifierConfig {
            dropout,
            ..ClassifierConfig::default()
        },
        max_len: 128.min(bert_config.max_position_embeddings),
        base_model: dir.to_owned(),
        fine_tune: None,
        decision: DecisionRule::Argmax,
    })
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), JointError> {
    Ok(artifacts::write_json(path, value)?)
}
