//! `bertcls head train`: one head over cached features, an ensemble of them (bagged or
//! boosted), or a cross-validation of one.

use std::path::{Path, PathBuf};

use head::{Combine, HeadEnsemble, SavedHead, SweepGrid, TrainConfig, TrainedHead};
use serde::{Deserialize, Serialize};
use training::OptimizerKind;

use super::features::{
    FeatureCaches, GridOptions, LoadedFeatures, check_variants_are_drawn, with_decision,
};
use crate::Job;
use crate::Observer;
use crate::classifier::{EnsembleMember, EnsembleSpec};
use crate::cross_validation::{CvData, cross_validate};
use crate::error::{Context, Result, refuse};
use crate::options::{DecisionOptions, Force};

/// Train one head over cached features and save it; or bag or boost an ensemble of
/// heads; or cross-validate one (`bertcls head train`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainHeadJob {
    /// The training and validation features.
    #[serde(flatten)]
    pub caches: FeatureCaches,
    /// The head's architecture and training settings.
    #[serde(flatten)]
    pub grid: GridOptions,
    /// How probabilities become a class.
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// Bagging: M heads, each trained on its own bootstrap sample of the training
    /// features, saved as one ensemble (OUT/ensemble.json; `bertcls predict --model
    /// OUT` uses it).
    pub bag: Option<usize>,
    /// How a bagged ensemble combines its heads: mean (of probabilities) or vote.
    pub combine: Combine,
    /// Boosting (SAMME, multi-class AdaBoost): up to M heads in turn, each trained with
    /// the examples its predecessor misclassified weighted up; they vote, weighted by
    /// their training accuracy. Needs the cross-entropy loss.
    pub boost: Option<usize>,
    /// Stratified K-fold cross-validation over the training cache instead of one
    /// head: each fold's head trains on the other folds (early stopping on `valid`)
    /// and is scored on its own; OUT/cv.json gets every metric's mean ± std,
    /// OUT/cv-predictions.jsonl the out-of-fold predictions.
    pub cv: Option<usize>,
    /// Where to save the head (a folder).
    pub out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[serde(flatten)]
    pub force: Force,
}

/// What [`TrainHeadJob::run`] made.
pub enum TrainedHeads {
    /// One head, saved in `out`.
    Single {
        /// The folder it was saved in.
        out: PathBuf,
        /// The trained head, its validation report and curve.
        head: Box<TrainedHead>,
    },
    /// A bagged or boosted ensemble, its members in `out/members`.
    Ensemble {
        /// The ensemble's folder.
        out: PathBuf,
        /// "bagging" or "boosting".
        kind: &'static str,
        /// The members, their weights and the ensemble's validation report.
        ensemble: Box<HeadEnsemble>,
    },
    /// Cross-validation's folds and summary, written into `out`.
    CrossValidation {
        /// The folder of cv.json and cv-predictions.jsonl.
        out: PathBuf,
        /// Every fold's report and every metric's mean ± std.
        cv: report::CrossValidation,
    },
}

impl TrainedHeads {
    /// The folder written.
    pub fn out(&self) -> &Path {
        match self {
            TrainedHeads::Single { out, .. }
            | TrainedHeads::Ensemble { out, .. }
            | TrainedHeads::CrossValidation { out, .. } => out,
        }
    }

    /// What was trained, in words.
    pub fn summary(&self) -> String {
        match self {
            TrainedHeads::Single { head, .. } => format!(
                "{} {}: best epoch {} of {}, validation {}, {:.1} s",
                head.readout.task(),
                head.config.head.shape_name(),
                head.best_epoch,
                head.history.len(),
                head.valid_report.summary(),
                head.seconds
            ),
            TrainedHeads::Ensemble { kind, ensemble, .. } => {
                let best = ensemble.best_member();
                format!(
                    "{kind}: {} heads ({}); validation macro-F1 {:.4}, accuracy {:.4}; best member {}",
                    ensemble.members.len(),
                    ensemble.combine,
                    ensemble.valid_report.macro_f1,
                    ensemble.valid_report.accuracy,
                    best.valid_report.summary(),
                )
            }
            TrainedHeads::CrossValidation { cv, .. } => {
                let metric = cv.folds.first().map(|r| r.metric());
                format!(
                    "cross-validation over {} folds: {} {}",
                    cv.folds.len(),
                    metric.map_or("-".into(), |m| m.to_string()),
                    metric
                        .and_then(|m| cv.summary.get(m.key()))
                        .map_or("-".into(), |s| s.show(4))
                )
            }
        }
    }
}

impl TrainHeadJob {
    /// A job training the default head on the caches `train` and `valid` into `out`.
    pub fn new(
        train: impl Into<PathBuf>,
        valid: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        Self {
            caches: FeatureCaches::of(train, valid),
            grid: GridOptions::default(),
            decision: DecisionOptions::default(),
            bag: None,
            combine: Combine::Mean,
            boost: None,
            cv: None,
            out: out.into(),
            force: Force::default(),
        }
    }

    /// The one configuration these settings describe: a single value for each.
    pub fn config(&self) -> Result<TrainConfig> {
        let single = SweepGrid {
            hidden: vec![vec![]],
            learning_rates: vec![SweepGrid::default().base.learning_rate],
            l2: vec![SweepGrid::default().base.l2],
            l1: vec![0.0],
            dropout: vec![0.0],
            batch_norm: vec![false],
            optimizers: vec![OptimizerKind::default()],
            ..SweepGrid::default()
        };
        let configs = self.grid.apply(single)?.configs();
        let [config] = configs.as_slice() else {
            refuse!(
                "head train takes one value per setting ({} combinations given); a sweep takes several",
                configs.len()
            );
        };
        config.validate()?;
        Ok(config.clone())
    }

    /// `--cv K`: a head per fold, each scored on the fold it held out.
    fn cross_validate(
        &self,
        k: usize,
        config: &TrainConfig,
        data: &LoadedFeatures,
        observer: &mut dyn Observer,
    ) -> Result<TrainedHeads> {
        if data.train.variants > 0 {
            refuse!([cv] " folds the training examples themselves: leave out " [augmented]);
        }
        let names = data.labels.names();
        let cv_data = CvData {
            labels: names,
            truth: &data.train.targets,
            ids: &data.train_ids,
        };
        let out = artifacts::claim_dir(
            &self.out,
            artifacts::ArtifactKind::CrossValidation,
            self.force.overwrite(),
        )
        .for_setting("out")?;
        let cv = cross_validate(k, config.seed, &cv_data, &out, observer, &mut |fold, _| {
            let train = data.train.subset(&fold.train);
            let head = head::train_head(&train, &data.valid, names, config, &data.device)?;
            Ok(head.predict_proba(&data.train.subset(&fold.held_out), &data.device))
        })?;
        Ok(TrainedHeads::CrossValidation { out, cv })
    }

    /// `--bag` or `--boost`: the members and `ensemble.json` in OUT.
    fn train_ensemble(&self, config: &TrainConfig, data: &LoadedFeatures) -> Result<TrainedHeads> {
        if !self.decision.is_empty() {
            refuse!(
                "an ensemble decides by its combined probabilities: leave out " [logit_adjust]
                " and " [threshold]
            );
        }
        let names = data.labels.names();
        let (kind, ensemble) = match (self.bag, self.boost) {
            (Some(members), _) => (
                "bagging",
                head::bag(
                    &data.train,
                    &data.valid,
                    names,
                    config,
                    members,
                    self.combine,
                    &data.device,
                )?,
            ),
            (None, Some(rounds)) => (
                "boosting",
                head::boost(
                    &data.train,
                    &data.valid,
                    names,
                    config,
                    rounds,
                    &data.device,
                )?,
            ),
            (None, None) => unreachable!("called for bagging or boosting"),
        };
        let staged = artifacts::StagedDir::new(
            &self.out,
            artifacts::ArtifactKind::Ensemble,
            self.force.overwrite(),
        )
        .for_setting("out")?;
        let mut members = Vec::new();
        for (index, (member, &weight)) in ensemble.members.iter().zip(&ensemble.weights).enumerate()
        {
            let path = PathBuf::from(format!("members/{:02}.head", index + 1));
            let overwrite = artifacts::Overwrite::SameKind;
            SavedHead::save(
                member,
                names,
                &data.origin,
                &staged.path().join(&path),
                overwrite,
            )?;
            members.push(EnsembleMember { path, weight });
        }
        let spec = EnsembleSpec {
            combine: ensemble.combine,
            labels: names.to_vec(),
            members,
        };
        spec.write_into(staged.path())?;
        let out = staged.commit(true)?;
        Ok(TrainedHeads::Ensemble {
            out,
            kind,
            ensemble: Box::new(ensemble),
        })
    }
}

impl Job for TrainHeadJob {
    type Output = TrainedHeads;

    /// The one configuration the settings describe, against its rules.
    fn validate(&self) -> Result<()> {
        self.config().map(drop)
    }

    /// Trains as the settings say and saves what it trained in `out`.
    fn execute(&self, observer: &mut dyn Observer) -> Result<TrainedHeads> {
        let config = self.config()?;
        let data = self.caches.prepare(observer)?;
        check_variants_are_drawn(&data, config.sampling)?;
        // Before any folder is claimed or staged: a refused setting leaves nothing behind.
        config.validate_for(data.task, data.labels.names())?;
        if self.bag.is_some() || self.boost.is_some() {
            return self.train_ensemble(&config, &data);
        }
        if let Some(k) = self.cv {
            return self.cross_validate(k, &config, &data, observer);
        }
        let names = data.labels.names();
        let head = head::train_head(&data.train, &data.valid, names, &config, &data.device)?;
        let head = with_decision(head, &self.decision, &data, observer)?;
        SavedHead::save(
            &head,
            names,
            &data.origin,
            &self.out,
            self.force.overwrite(),
        )
        .for_setting("out")?;
        Ok(TrainedHeads::Single {
            out: self.out.clone(),
            head: Box::new(head),
        })
    }
}
