//! End-to-end fine-tuning in a comparison: once per seed, the kept model tested.

use report::ModeResult;

use std::path::{Path, PathBuf};

use super::plan::{Plan, StartHeads, fine_tune_run};
use crate::error::Result;
use crate::{FineTuneJob, Observer};

impl<'a> Plan<'a> {
    /// The fine-tuning run of one seed, its classifier started from `start_head` when
    /// given (`None` where only the settings are wanted).
    pub(super) fn finetune_job(&self, seed: u64, start_head: Option<&Path>) -> FineTuneJob {
        let args = self.args;
        let mut job = FineTuneJob::new(
            &self.data.train,
            self.dir.join(format!("end-to-end/seed-{seed}")),
        );
        job.model = args.model_options();
        job.valid = Some(self.data.valid.clone());
        job.test = Some(self.data.test.clone());
        job.columns = self.data.columns.clone();
        job.optimization.epochs = self.epochs;
        job.optimization.learning_rate = self.learning_rate;
        job.optimization.min_steps = self.args.min_steps();
        job.optimization.head_learning_rate = self.args.head_learning_rate();
        job.optimization.layer_decay = self.args.layer_decay();
        if self.starts_from_pipeline() {
            // The pipeline heads read the mean of the final states.
            job.pooling = joint::ClassifierPooling::Mean;
        }
        job.start_head = start_head.map(Path::to_owned);
        job.loss = args.loss.clone();
        job.sampling = args.sampling.unwrap_or(job.sampling);
        job.decision = args.decision.clone();
        job.adversary = args.adversary.clone();
        job.optimization.seed = seed;
        job.num_layers = args.num_layers;
        job.optimization.freeze_embeddings = args.freeze_embeddings == Some(true);
        job.augmented = self.augmented.clone();
        job.prompt = args.prompt.clone();
        job.verbalizer = args.verbalizer.clone();
        job
    }

    /// Fine-tunes once per seed and tests the kept model.
    pub(super) fn end_to_end(
        &self,
        start_heads: &StartHeads,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<ModeResult> {
        let mut runs = Vec::new();
        for &seed in &self.seeds {
            let job = self.finetune_job(seed, start_heads.get(&seed).map(PathBuf::as_path));
            let run = self.fine_tune(&job, "end-to-end", commands, observer)?;
            runs.push(fine_tune_run(&run, seed, "fine-tuning")?);
        }
        let layers = self
            .args
            .num_layers
            .map_or_else(String::new, |k| format!(" (its bottom {k} encoder layers)"));
        let frozen = if self.args.freeze_embeddings == Some(true) {
            ", embeddings frozen"
        } else {
            ""
        };
        Ok(ModeResult {
            description: format!(
                "BERT{layers} with {}, fine-tuned for {}{frozen}, the best epoch on validation kept",
                self.output(),
                self.length()
            ),
            runs,
        })
    }
}
