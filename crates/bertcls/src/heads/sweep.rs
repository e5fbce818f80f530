//! `bertcls head sweep`: a grid of heads trained over cached features, ranked on
//! validation, the best saved and the leaderboard written.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use data::{Record, Task};
use head::{SavedHead, SweepEntry, SweepGrid, TrainConfig, TrainedHead, sweep};
use metrics::MainMetric;
use serde::{Deserialize, Serialize};

use super::features::{
    FeatureCaches, GridOptions, LoadedFeatures, check_variants_are_drawn, with_decision,
};
use crate::Job;
use crate::Observer;
use crate::error::{Context, Result, refuse};
use crate::options::{DecisionOptions, Force};
use crate::teacher::{Teacher, records_in_order};

/// Train a grid of heads over cached features, rank them on validation, save the
/// best (`bertcls head sweep`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepJob {
    /// The training and validation features.
    #[serde(flatten)]
    pub caches: FeatureCaches,
    /// The settings every head of the grid shares.
    #[serde(flatten)]
    pub grid: GridOptions,
    /// A decision rule for the best head (applied after the ranking).
    #[serde(flatten)]
    pub decision: DecisionOptions,
    /// A TOML file with the grid (see the example above).
    pub grid_file: Option<PathBuf>,
    /// Random search: train only N configurations drawn from the grid (seeded by `seed`).
    pub random: Option<usize>,
    /// Heads trained at once (default: one per core). Results do not depend on it.
    pub jobs: Option<usize>,
    /// Folder for leaderboard.json, leaderboard.csv and best.head/.
    pub out: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[serde(flatten)]
    pub force: Force,
}

/// What a sweep did: every head ranked (best first), where the best was saved, and
/// the sweep's wall time.
pub struct Swept {
    /// The grid as resolved from the file and the settings.
    pub grid: SweepGrid,
    /// What the heads learnt, and so what ranked them ([`MainMetric::of`]).
    pub task: Task,
    /// Every head, best first.
    pub entries: Vec<SweepEntry>,
    /// The folder of the best head.
    pub best_head: PathBuf,
    /// Wall time of the sweep.
    pub seconds: f64,
}

impl Swept {
    /// The leaderboard's top `top` rows and a closing line, as text.
    pub fn leaderboard(&self, top: usize) -> String {
        let metric = MainMetric::of(self.task);
        // The tie-break column: accuracy, or the share of exactly right label sets;
        // values have none.
        let second = match self.task {
            Task::SingleLabel => Some("accuracy"),
            Task::MultiLabel => Some("exact"),
            Task::Regression => None,
        };
        let column = |value: Option<String>| value.map_or(String::new(), |v| format!("  {v:>8}"));
        let mut lines = vec![
            format!("{} heads ranked {}", self.task, metric.rule()),
            format!(
                "{:>4}  {:>8}{}  {:>5}  {:>6}  configuration",
                "rank",
                metric.to_string(),
                column(second.map(String::from)),
                "epoch",
                "secs"
            ),
        ];
        for (rank, e) in self.entries.iter().take(top).enumerate() {
            lines.push(format!(
                "{:>4}  {:>8.4}{}  {:>5}  {:>6.2}  {}",
                rank + 1,
                e.valid_score,
                column(e.valid_accuracy.map(|a| format!("{a:.4}"))),
                e.best_epoch,
                e.seconds,
                e.describe()
            ));
        }
        lines.push(format!(
            "{} heads in {:.1} s; leaderboard and best.head in {}",
            self.entries.len(),
            self.seconds,
            self.best_head.parent().unwrap_or(Path::new(".")).display()
        ));
        lines.join("\n")
    }
}

impl SweepJob {
    /// The default sweep of the caches `train` and `valid` into `out`.
    pub fn new(
        train: impl Into<PathBuf>,
        valid: impl Into<PathBuf>,
        out: impl Into<PathBuf>,
    ) -> Self {
        Self {
            caches: FeatureCaches::of(train, valid),
            grid: GridOptions::default(),
            decision: DecisionOptions::default(),
            grid_file: None,
            random: None,
            jobs: None,
            out: out.into(),
            force: Force::default(),
        }
    }

    /// The grid: the file's (or the default one) with the settings applied.
    pub fn grid(&self) -> Result<SweepGrid> {
        let base = match &self.grid_file {
            Some(path) => {
                let text = data::read_text_file(path)?;
                toml::from_str(&text)
                    .with_context(|| format!("{} is not a valid sweep grid", path.display()))?
            }
            None => SweepGrid::default(),
        };
        self.grid.apply(base)
    }

    /// [`run`](Self::run), every head also learning from `teacher`'s soft targets on
    /// the training texts `records` (matched to the cache's rows by id).
    pub(crate) fn run_with(
        &self,
        teacher: Option<(&Teacher, &[Record])>,
        observer: &mut dyn Observer,
    ) -> Result<Swept> {
        let mut grid = self.grid()?;
        let mut data = self.caches.prepare(observer)?;
        check_variants_are_drawn(&data, grid.base.sampling)?;
        if let Some((teacher, records)) = teacher {
            if data.train.variants > 0 {
                refuse!("augmented variants have no teacher targets: leave out "[augmented]);
            }
            let ordered = records_in_order(records, &data.train_ids)?;
            let targets = teacher.soft_targets(&ordered, data.labels.names(), observer)?;
            data.train = data.train.with_soft_targets(targets);
            grid.base.distillation = Some(teacher.loss);
        }
        let configs = match self.random {
            Some(n) => grid.sample(n, grid.base.seed),
            None => grid.configs(),
        };
        // Checked now, claimed once the heads are trained: a refused folder costs no
        // training, a refused setting leaves no folder behind.
        let overwrite = self.force.overwrite();
        artifacts::check_folder_target(&self.out, artifacts::ArtifactKind::HeadSweep, overwrite)
            .for_setting("out")?;
        let started = std::time::Instant::now();
        let (entries, best) = self.train_all(&data, &configs, observer)?;
        let best = with_decision(best, &self.decision, &data, observer)?;
        let out = artifacts::claim_dir(&self.out, artifacts::ArtifactKind::HeadSweep, overwrite)
            .for_setting("out")?;
        write_leaderboard(&out, &entries)?;
        let best_head = out.join("best.head");
        let names = data.labels.names();
        let same_kind = artifacts::Overwrite::SameKind;
        SavedHead::save(&best, names, &data.origin, &best_head, same_kind)?;
        Ok(Swept {
            grid,
            task: data.task,
            entries,
            best_head,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Every configuration on every core, with progress.
    fn train_all(
        &self,
        data: &LoadedFeatures,
        configs: &[TrainConfig],
        observer: &mut dyn Observer,
    ) -> Result<(Vec<SweepEntry>, TrainedHead)> {
        let learning = match data.task {
            Task::SingleLabel => format!("{} classes", data.labels.len()),
            Task::MultiLabel => format!("{} labels", data.labels.len()),
            Task::Regression => "values".into(),
        };
        let metric = MainMetric::of(data.task);
        observer.note(&format!(
            "sweeping {} heads over {} × {} features ({learning}), ranked {}",
            configs.len(),
            data.train.rows,
            data.train.dim,
            metric.rule()
        ));
        let jobs = self
            .jobs
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        observer.begin("heads", configs.len());
        let progress = Mutex::new(&mut *observer);
        let result = sweep(
            &data.train,
            &data.valid,
            data.labels.names(),
            configs,
            &data.device,
            jobs,
            &|e: &SweepEntry| {
                let mut observer = progress.lock().unwrap_or_else(|p| p.into_inner());
                observer.status(&format!("last: {} {:.3}", e.metric, e.valid_score));
                observer.advance(1);
            },
        );
        observer.end();
        Ok(result?)
    }
}

impl Job for SweepJob {
    type Output = Swept;

    /// The grid (the file's, with the settings applied), every configuration
    /// against its rules.
    fn validate(&self) -> Result<()> {
        self.grid().map(drop)
    }

    /// Trains the grid, writes the leaderboard and the best head.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Swept> {
        self.run_with(None, observer)
    }
}

fn write_leaderboard(dir: &Path, entries: &[SweepEntry]) -> Result<()> {
    artifacts::write_json(&dir.join("leaderboard.json"), &entries)?;
    let mut csv = String::from(
        "rank,metric,valid_score,valid_accuracy,best_epoch,epochs_run,seconds,hidden,optimizer,learning_rate,l2,l1,dropout,batch_norm\n",
    );
    for (rank, e) in entries.iter().enumerate() {
        let c = &e.config;
        csv.push_str(&format!(
            "{},{},{},{},{},{},{:.4},{},{},{},{},{},{},{}\n",
            rank + 1,
            e.metric,
            e.valid_score,
            e.valid_accuracy.map_or(String::new(), |a| a.to_string()),
            e.best_epoch,
            e.epochs_run,
            e.seconds,
            c.head.shape_name(),
            c.optimizer,
            c.learning_rate,
            c.l2,
            c.l1,
            c.head.dropout,
            c.head.batch_norm
        ));
    }
    artifacts::write_atomic(&dir.join("leaderboard.csv"), csv.as_bytes())?;
    Ok(())
}
