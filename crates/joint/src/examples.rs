//! Labelled records, tokenized once for the whole run.

use data::{LabelMap, Record};
use text::{BertTokenizer, Encoding, PromptTemplate, RecordTextError};

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
    pub encodings: Vec<Encoding>,
    pub labels: Vec<usize>,
    /// How many of the last examples are augmented variants of training examples
    /// ([`Examples::with_variants`]): over-sampling draws its top-ups from them.
    pub variants: usize,
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
                labels.index(label).ok_or_else(|| JointError::UnknownLabel {
                    id: r.id.clone(),
                    label: label.clone(),
                    known: labels.names().join(", "),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encodings = encoder.encode_all(records)?;
        Ok(Self {
            encodings,
            labels: indices,
            variants: 0,
        })
    }

    /// These examples followed by `variants`, marked as augmented variants.
    pub fn with_variants(mut self, variants: Examples) -> Self {
        self.variants += variants.len();
        self.encodings.extend(variants.encodings);
        self.labels.extend(variants.labels);
        self
    }

    /// Examples that are not variants: the training examples themselves.
    pub fn originals(&self) -> usize {
        self.len() - self.variants
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Token count of each example.
    pub fn lengths(&self) -> Vec<usize> {
        self.encodings.iter().map(Encoding::len).collect()
    }
}
