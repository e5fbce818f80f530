//! The layer frontier between the modes: the points K (0 < K < N) checked up front,
//! and per seed the top K layers fine-tuned over the pipeline's cached states.

use bert::Precision;
use data::LabelMap;
use report::{Frontier, FrontierPoint, ModeResult};
use settings::SettingError;

use std::path::{Path, PathBuf};

use super::plan::{FrontierPlan, Plan, StartHeads, fine_tune_run};
use crate::error::{Context, Result};
use crate::{FineTuneJob, Observer};

impl<'a> Plan<'a> {
    /// The numbers of top layers the frontier trains between the modes (0 < K < N),
    /// each checked as fine-tuning will check it, so that a refused one costs nothing.
    pub(super) fn frontier_points(&self) -> Result<FrontierPlan> {
        let args = self.args;
        let asked = match &args.frontier {
            Some(points) => points.as_slice(),
            None if args.adversary.adversary()? != joint::Adversary::None => &[],
            None => args.defaults().frontier,
        };
        let config_path = args.model.join("config.json");
        let config = bert::BertConfig::from_file(&config_path).with_context(|| {
            let path = config_path.display();
            settings::message!([model] ": reading {path}")
        })?;
        let layers = args.num_layers.unwrap_or(config.num_hidden_layers);
        if let Some(k) = asked.iter().find(|&&k| k > layers) {
            let requirement = format!(
                "the fine-tuned model has {layers} encoder layers, so the frontier runs from 0 \
                 (the pipeline) to {layers} (end-to-end)"
            );
            return Err(SettingError::new("frontier", k, requirement).into());
        }
        let mut points: Vec<usize> = asked
            .iter()
            .copied()
            .filter(|&k| 0 < k && k < layers)
            .collect();
        points.sort_unstable();
        points.dedup();
        let labels = LabelMap::from_records(&self.data.splits.train);
        for &k in &points {
            let (_, config) = self.frontier_job(k, self.seeds[0], None).configs()?;
            config
                .validate_for(labels.names(), layers)
                .map_err(|e| SettingError::new("frontier", k, e.to_string()))?;
        }
        Ok(FrontierPlan { layers, points })
    }

    /// The layers (N − K per point of the frontier) whose states the pipeline's pass
    /// keeps, so that the frozen bottom layers run once for both: none with a prompt,
    /// whose fine-tuning reads other sequences than the encoder's, and none when the
    /// pipeline's encoder runs in a reduced precision, whose states are not those fp32
    /// fine-tuning reads.
    pub(super) fn shared_states(&self) -> Vec<usize> {
        if self.args.prompt.is_some() || self.args.precision != Precision::Fp32 {
            return Vec::new();
        }
        let FrontierPlan { layers, points } = &self.frontier;
        points.iter().map(|k| layers - k).collect()
    }

    /// The fine-tuning run of the top `k` layers for one seed, its classifier started
    /// from `start_head` when given.
    pub(super) fn frontier_job(
        &self,
        k: usize,
        seed: u64,
        start_head: Option<&Path>,
    ) -> FineTuneJob {
        let mut job = FineTuneJob {
            out: self.dir.join(format!("top-{k}/seed-{seed}")),
            state_cache_dir: self.args.state_cache_dir.clone(),
            ..self.finetune_job(seed, start_head)
        };
        job.optimization.train_layers = Some(k);
        // The frozen bottom includes the embeddings already.
        job.optimization.freeze_embeddings = false;
        job
    }

    /// Fine-tunes the top K layers once per seed for each point of the frontier and
    /// tests the kept models.
    pub(super) fn frontier(
        &self,
        start_heads: &StartHeads,
        commands: &mut Vec<String>,
        observer: &mut dyn Observer,
    ) -> Result<Frontier> {
        let layers = self.frontier.layers;
        let mut points = Vec::new();
        for &k in &self.frontier.points {
            let mut runs = Vec::new();
            for &seed in &self.seeds {
                let what = format!("top {k} of {layers} layers");
                let job = self.frontier_job(k, seed, start_heads.get(&seed).map(PathBuf::as_path));
                let run = self.fine_tune(&job, &what, commands, observer)?;
                runs.push(fine_tune_run(&run, seed, &what)?);
            }
            points.push(FrontierPoint {
                trained_layers: k,
                mode: ModeResult {
                    description: format!(
                        "the top {k} of {layers} encoder layers and {} fine-tuned for {} over cached states of the {} frozen layers below, the best epoch on validation kept",
                        self.output(),
                        self.length(),
                        layers - k
                    ),
                    runs,
                },
            });
        }
        Ok(Frontier { layers, points })
    }
}
