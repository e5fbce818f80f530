//! Where a comparison's fine-tuning starts its classifier: a new random head, or the
//! pipeline's own linear head of the same seed (LP-FT), so that fine-tuning begins
//! where the pipeline ended.

use std::path::PathBuf;

use head::{SavedHead, TrainConfig};
use serde::{Deserialize, Serialize};
use training::HeadConfig;

use super::plan::{Plan, SplitCaches};
use crate::error::{Context, Result};
use crate::{Observer, Swept};

/// What fine-tuning's classifier starts from in a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadStart {
    /// The seed's best linear head of the pipeline's sweep, its standardiser folded
    /// in, the classifier pooling the mean of the final states as the pipeline's
    /// features do (LP-FT, Kumar et al. 2022). A comparison with a prompt, or with
    /// fewer layers than the pipeline's encoder, starts from a random head instead.
    #[default]
    Pipeline,
    /// A new head drawn at random on `[CLS]` through the pooler, exactly
    /// `BertForSequenceClassification`.
    Random,
}

settings::serde_names!(HeadStart);

impl Plan<'_> {
    /// Whether fine-tuning starts from the pipeline's heads: asked for, and the
    /// classifier is a head over the same encoder's features.
    pub(super) fn starts_from_pipeline(&self) -> bool {
        self.args.head_start == HeadStart::Pipeline
            && self.args.prompt.is_none()
            && self.args.num_layers.is_none()
    }

    /// The linear head fine-tuning of `seed` starts from: the sweep's best when it is
    /// linear; otherwise the best linear head of the sweep trained again with its
    /// settings (a seed decides a head), or, when the sweep drew none, a linear head
    /// with the settings of the best.
    pub(super) fn start_head(
        &self,
        caches: &SplitCaches,
        seed: u64,
        sweep: &Swept,
        observer: &mut dyn Observer,
    ) -> Result<PathBuf> {
        let is_linear = |config: &TrainConfig| config.head.hidden.is_empty();
        let best = sweep.entries.first().context("the sweep trained no head")?;
        if is_linear(&best.config) {
            return Ok(sweep.best_head.clone());
        }
        let config = match sweep.entries.iter().find(|e| is_linear(&e.config)) {
            Some(linear) => linear.config.clone(),
            None => TrainConfig {
                head: HeadConfig::default(),
                ..best.config.clone()
            },
        };
        let out = self.dir.join(format!("pipeline/seed-{seed}/start.head"));
        let data = self.feature_caches(caches).prepare(observer)?;
        let names = data.labels.names();
        let trained = head::train_head(&data.train, &data.valid, names, &config, &data.device)?;
        observer.note(&format!(
            "fine-tuning starts from a linear head ({} lr={:e} l2={:e}; validation macro-F1 \
             {:.4}), saved in {}",
            config.optimizer,
            config.learning_rate,
            config.l2,
            trained.valid_report.main(),
            out.display()
        ));
        SavedHead::save(
            &trained,
            names,
            &data.origin,
            &out,
            artifacts::Overwrite::SameKind,
        )?;
        Ok(out)
    }
}
