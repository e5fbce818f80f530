//! Labelled records, tokenized once for the whole run.

use std::sync::Arc;

use bert::LayerStates;
use data::{LabelMap, Record};
use sha2::{Digest, Sha256};
use text::{BertTokenizer, Encoding, PromptTemplate, RecordTextError};
use training::SoftTargets;

use crate::{ClassifierConfig, JointError};

/// How a classifier reads a record: the text (or pair) as BERT does, or placed in
/// its prompt's template.
pub struct RecordEncoder<'a> {
    tokenizer: &'a BertTokenizer,
    prompt: Option<PromptTemplate>,
}

impl<'a> RecordEncoder<'a> {
    /// The encoder of a classifier configured as `classifier`.
    pub fn new(
        tokenizer: &'a BertTokenizer,
        classifier: &ClassifierConfig,
    ) -> Result<Self, JointError> {
        let prompt = classifier
            .prompt
            .as_ref()
            .map(|p| p.template())
            .transpose()?;
        Ok(Self { tokenizer, prompt })
    }

    /// Every record's ids, in order; the first one refused is an error naming it.
    pub fn encode_all(&self, records: &[Record]) -> Result<Vec<Encoding>, JointError> {
        let Some(template) = &self.prompt else {
            return Ok(self.tokenizer.encode_all(
                records
                    .iter()
                    .map(|r| (r.id.as_str(), r.text.as_str(), r.text_b.as_deref())),
            )?);
        };
        records
            .iter()
            .map(|r| {
                template
                    .encode(self.tokenizer, &r.text, r.text_b.as_deref())
                    .map(|p| p.encoding)
                    .map_err(|cause| {
                        JointError::from(RecordTextError {
                            id: r.id.clone(),
                            cause,
                        })
                    })
            })
            .collect()
    }
}

/// A data set as the fine-tuning loop reads it: encodings and class indices.
#[derive(Debug, Clone)]
pub struct Examples {
    /// One encoding per example.
    pub encodings: Vec<Encoding>,
    /// Each example's class index.
    pub labels: Vec<usize>,
    /// How many of the last examples are augmented variants of training examples
    /// ([`Examples::with_variants`]): over-sampling draws its top-ups from them.
    pub variants: usize,
    /// A teacher's soft targets for every example, for distillation
    /// ([`FineTuneConfig::distillation`](crate::FineTuneConfig::distillation)).
    pub soft_targets: Option<SoftTargets>,
    /// Every example's token states after the frozen bottom layers, when training
    /// the layers above reads them from a cache ([`Examples::with_states`]) instead of
    /// running the bottom layers again. Only a shortcut: without them the model runs
    /// its frozen layers and computes the same.
    pub states: Option<Arc<dyn LayerStates>>,
}

impl Examples {
    /// Tokenizes `records`; a record without a label, or with one `labels` lacks, is an
    /// error naming it.
    pub fn from_records(
        records: &[Record],
        encoder: &RecordEncoder<'_>,
        labels: &LabelMap,
        what: &'static str,
    ) -> Result<Self, JointError> {
        if records.is_empty() {
            return Err(JointError::NoExamples { what });
        }
        let indices = records
            .iter()
            .map(|r| {
                let label = r
                    .label
                    .as_ref()
                    .ok_or_else(|| JointError::MissingLabel { id: r.id.clone() })?;
                let index = label.class().and_then(|class| labels.index(class));
                index.ok_or_else(|| JointError::UnknownLabel {
                    id: r.id.clone(),
                    label: label.to_string(),
                    known: labels.names().join(", "),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encodings = encoder.encode_all(records)?;
        Ok(Self {
            encodings,
            labels: indices,
            variants: 0,
            soft_targets: None,
            states: None,
        })
    }

    /// These examples reading their token states after layer `states.after_layer()`
    /// from `states`: one row per example, in order, each with the example's token
    /// count (the same sequences, else the error says which row differs).
    pub fn with_states(mut self, states: Arc<dyn LayerStates>) -> Result<Self, JointError> {
        if states.rows() != self.len() {
            return Err(JointError::Data(format!(
                "the stored states hold {} sequences for {} examples: they were computed \
                 for other data",
                states.rows(),
                self.len()
            )));
        }
        if let Some(row) = (0..self.len()).find(|&i| states.tokens(i) != self.encodings[i].len()) {
            return Err(JointError::Data(format!(
                "the stored states of example {row} have {} tokens, its encoding {}: they \
                 were computed for other data or another tokenizer",
                states.tokens(row),
                self.encodings[row].len()
            )));
        }
        self.states = Some(states);
        Ok(self)
    }

    /// These examples with a teacher's soft target for each.
    pub fn with_soft_targets(mut self, targets: SoftTargets) -> Self {
        assert_eq!(targets.rows(), self.len(), "one soft target per example");
        self.soft_targets = Some(targets);
        self
    }

    /// These examples followed by `variants`, marked as augmented variants.
    pub fn with_variants(mut self, variants: Examples) -> Self {
        assert!(
            self.soft_targets.is_none(),
            "augmented variants have no teacher targets"
        );
        assert!(
            self.states.is_none(),
            "attach stored states after the variants, to every row"
        );
        self.variants += variants.len();
        self.encodings.extend(variants.encodings);
        self.labels.extend(variants.labels);
        self
    }

    /// The examples at `indices`, in that order (none of them a variant).
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self {
            encodings: indices.iter().map(|&i| self.encodings[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            variants: 0,
            soft_targets: self.soft_targets.as_ref().map(|t| t.subset(indices)),
            // The subset computes its states through the frozen layers: the same
            // values, without remapping the cache's rows.
            states: None,
        }
    }

    /// SHA-256 of everything training reads from these examples: every encoding,
    /// label, the variant count and the soft targets.
    pub fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        let mut number = |n: usize| hasher.update((n as u64).to_le_bytes());
        number(self.len());
        number(self.variants);
        for (encoding, &label) in self.encodings.iter().zip(&self.labels) {
            hasher.update((encoding.len() as u64).to_le_bytes());
            hasher.update((label as u64).to_le_bytes());
            for (&id, &type_id) in encoding.ids.iter().zip(&encoding.type_ids) {
                hasher.update(id.to_le_bytes());
                hasher.update(type_id.to_le_bytes());
            }
        }
        if let Some(targets) = &self.soft_targets {
            hasher.update((targets.classes as u64).to_le_bytes());
            for value in &targets.values {
                hasher.update(value.to_le_bytes());
            }
        }
        format!("{:x}", hasher.finalize())
    }

    /// Examples that are not variants: the training examples themselves.
    pub fn originals(&self) -> usize {
        self.len() - self.variants
    }

    /// How many examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Token count of each example.
    pub fn lengths(&self) -> Vec<usize> {
        self.encodings.iter().map(Encoding::len).collect()
    }
}
