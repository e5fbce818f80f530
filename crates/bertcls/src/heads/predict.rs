//! `bertcls head predict`: a saved head applied to a cache, or to a data file
//! embedded as the head's features were.

use std::path::{Path, PathBuf};

use bert::BackendKind;
use bert::burn::tensor::Device;
use encoder::{EmbeddingCache, EmbeddingSpec};
use head::{Features, SavedHead};
use metrics::TaskReport;
use serde::{Deserialize, Serialize};

use crate::Job;
use crate::Observer;
use crate::classifier::head_encoder;
use crate::error::{Context, Result, refuse};
use crate::options::Columns;
use crate::predictions::{check_task, task_report_if_labelled, write_predictions};

/// Classify a cache, or a text file embedded on the fly as the head's features were
/// (`bertcls head predict`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictHeadJob {
    /// A saved head folder (`head train --out`, or best.head of a sweep).
    pub head: PathBuf,
    /// Embedding cache(s) to classify (shards allowed). Or give `input`.
    pub cache: Vec<PathBuf>,
    /// A data file (JSONL, CSV or TSV) to embed and classify. Or give `cache`.
    pub input: Option<PathBuf>,
    /// How a text file is read.
    #[serde(flatten)]
    pub columns: Columns,
    /// The model folder, when it moved since the head was trained (default: the one recorded).
    pub model: Option<PathBuf>,
    /// Where to write one JSON line per record: id, predicted label, probabilities
    /// (`-`: standard output).
    pub output: PathBuf,
    /// Where the head (and the encoder, for `input`) runs.
    pub backend: BackendKind,
}

impl PredictHeadJob {
    /// The head `head` applied to the cache `cache`, predictions into `output`.
    pub fn new(
        head: impl Into<PathBuf>,
        cache: impl Into<PathBuf>,
        output: impl Into<PathBuf>,
    ) -> Self {
        Self {
            head: head.into(),
            cache: vec![cache.into()],
            input: None,
            columns: Columns::default(),
            model: None,
            output: output.into(),
            backend: BackendKind::Flex,
        }
    }

    /// A data file's records as the head's features, embedded as its training
    /// features were.
    fn embedded(
        &self,
        head: &SavedHead,
        input: &Path,
        device: &Device,
        observer: &mut dyn Observer,
    ) -> Result<Rows> {
        let trained_spec: EmbeddingSpec = serde_json::from_value(head.features().spec.clone())
            .with_context(|| format!("{}: unreadable feature spec", self.head.display()))?;
        let records = self.columns.read_outcome(input, false, observer)?.records;
        let model_dir = self
            .model
            .clone()
            .unwrap_or_else(|| PathBuf::from(&trained_spec.model));
        let encoder = head_encoder(
            head,
            &model_dir,
            trained_spec.max_len,
            trained_spec.options(),
            device,
        )?;
        observer.begin("embedding", records.len());
        let embedded = encoder.embed(&records, &mut |n| observer.advance(n));
        observer.end();
        let (embeddings, _) = embedded?;
        let ids = records.iter().map(|r| r.id.clone()).collect();
        let labels = records.into_iter().map(|r| r.label).collect();
        Ok((embeddings.values, embeddings.dim, ids, labels))
    }
}

impl Job for PredictHeadJob {
    type Output = Option<TaskReport>;

    /// A cache or a data file, and no setting of a data file with a cache.
    fn validate(&self) -> Result<()> {
        if self.input.is_some() {
            return Ok(());
        }
        if self.cache.is_empty() {
            refuse!("give " [cache] " or " [input]);
        }
        self.columns
            .refuse_where_unread(false, "a cache's texts were read when it was embedded")?;
        if let Some(model) = &self.model {
            return Err(settings::SettingError::new(
                "model",
                model.display(),
                "embeds a data file, and a cache was embedded already",
            )
            .into());
        }
        Ok(())
    }

    /// Writes the predictions; returns the metric report when the records are
    /// labelled (labels the head does not know scored as misses).
    fn execute(&self, observer: &mut dyn Observer) -> Result<Option<TaskReport>> {
        let device = self.backend.device()?;
        let head = SavedHead::load(&self.head, &device)?;
        let (vectors, dim, ids, labels) = match &self.input {
            None => from_cache(&head, &self.cache)?,
            Some(input) => self.embedded(&head, input, &device, observer)?,
        };
        let source = match &self.input {
            Some(input) => data::source_name(input).display().to_string(),
            None => self.cache[0].display().to_string(),
        };
        check_task(head.task(), &head.path, &labels, &source)?;
        let rows = ids.len();
        // Rows to predict: their targets are never read.
        let features = Features::new(vectors, dim, vec![0; rows]);
        let (scores, predicted) = head.predict(&features, &device);
        write_predictions(
            &self.output,
            &head.labels,
            &ids,
            &labels,
            &scores,
            &predicted,
        )
        .for_setting("output")?;
        observer.note(&format!(
            "wrote {rows} predictions to {}",
            artifacts::output_name(&self.output).display()
        ));
        Ok(task_report_if_labelled(
            &head.labels,
            &labels,
            &scores,
            &predicted,
        ))
    }
}

/// Vectors, their width, record ids and labels.
type Rows = (Vec<f32>, usize, Vec<String>, Vec<Option<data::Label>>);

/// The rows of caches made by the head's encoder.
fn from_cache(head: &SavedHead, paths: &[PathBuf]) -> Result<Rows> {
    let cache = EmbeddingCache::open_shards(paths)?;
    let spec = cache.meta.spec.encoder_only();
    head.check_features(&spec.fingerprint(), &spec.describe_encoder())?;
    Ok((
        cache.vectors().to_vec(),
        cache.meta.dim,
        cache.meta.ids.clone(),
        cache.meta.labels.clone(),
    ))
}
