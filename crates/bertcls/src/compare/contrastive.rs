//! Contrastive tuning (SetFit) in a comparison: once per seed on the same splits,
//! with SetFit's own recipe rather than fine-tuning's, the kept model tested.

use report::ModeResult;

use super::plan::{Plan, fine_tune_run};
use crate::error::Result;
use crate::{FineTuneJob, Observer};

impl Plan<'_> {
    /// Whether the comparison tunes contrastively: when asked, or by default with
    /// `shots` (few labels, where it is meant to help and costs little; on a whole
    /// data set its pairs, 40 per example, would cost hours).
    pub(super) fn runs_contrastive(&self) -> bool {
        self.args.contrastive.unwrap_or(self.args.shots.is_some())
    }

    /// The contrastive run of one seed: the end-to-end job's model and data, the
    /// encoder tuned on pairs with SetFit's recipe, a linear head on mean pooling.
    pub(super) fn contrastive_job(&self, seed: u64) -> FineTuneJob {
        let end_to_end = self.finetune_job(seed, None);
        let mut job = FineTuneJob::new(
            &self.data.train,
            self.dir.join(format!("contrastive/seed-{seed}")),
        );
        job.model = end_to_end.model;
        job.valid = end_to_end.valid;
        job.test = end_to_end.test;
        job.columns = end_to_end.columns;
        job.num_layers = end_to_end.num_layers;
        job.decision = end_to_end.decision;
        job.pooling = joint::ClassifierPooling::Mean;
        job.contrastive = true;
        job.contrastive_pairs.pair_iterations = self.args.pair_iterations();
        job.optimization = joint::setfit_recipe(seed);
        job
    }

    /// Tunes once per seed and tests the kept model.
    pub(super) fn contrastive(
        &self,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<Option<ModeResult>> {
        if !self.runs_contrastive() {
            return Ok(None);
        }
        let mut runs = Vec::new();
        for &seed in &self.seeds {
            let job = self.contrastive_job(seed);
            let run = self.fine_tune(&job, "contrastive", commands, observer)?;
            runs.push(fine_tune_run(&run, seed, "contrastive tuning")?);
        }
        let (pairs, recipe) = (self.args.pair_iterations(), joint::setfit_recipe(0));
        Ok(Some(ModeResult {
            description: format!(
                "BERT's encoder tuned on {} pairs per training example (half of one label; \
                 cosine similarity towards 1 or 0) with SetFit's recipe ({} epoch at {}), \
                 then logistic regression on its mean-pooled embeddings",
                2 * pairs,
                recipe.epochs,
                recipe.learning_rate,
            ),
            runs,
        }))
    }
}
