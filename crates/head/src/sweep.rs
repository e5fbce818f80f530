//! Many heads over the same features, ranked on validation.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::{Features, HeadError, TrainConfig, TrainedHead, train_head};
use metrics::MainMetric;
use training::{HeadConfig, OptimizerKind};

/// The values to combine: every combination is one configuration (dropout and batch
/// norm only vary for MLPs, where they exist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepGrid {
    /// Everything not varied below.
    pub base: TrainConfig,
    /// Hidden-layer widths to try (`[]` is softmax regression).
    pub hidden: Vec<Vec<usize>>,
    /// Learning rates to try.
    pub learning_rates: Vec<f64>,
    /// L2 penalties to try.
    pub l2: Vec<f64>,
    /// L1 penalties to try.
    pub l1: Vec<f64>,
    /// Dropout rates to try (hidden layers only).
    pub dropout: Vec<f64>,
    /// With and/or without batch normalisation (hidden layers only).
    pub batch_norm: Vec<bool>,
    /// Optimizers to try.
    pub optimizers: Vec<OptimizerKind>,
}

impl Default for SweepGrid {
    /// 45 configurations: softmax regression and two MLP shapes, three learning rates,
    /// three L2 strengths, and dropout on or off for the MLPs.
    fn default() -> Self {
        Self {
            base: TrainConfig::default(),
            hidden: vec![vec![], vec![256], vec![512, 256]],
            learning_rates: vec![3e-3, 1e-2, 3e-2],
            l2: vec![0.0, 1e-4, 1e-2],
            l1: vec![0.0],
            dropout: vec![0.0, 0.3],
            batch_norm: vec![false],
            optimizers: vec![OptimizerKind::AdamW],
        }
    }
}

impl SweepGrid {
    /// Every combination, in a fixed order.
    pub fn configs(&self) -> Vec<TrainConfig> {
        let mut configs = Vec::new();
        for hidden in &self.hidden {
            let mlp = !hidden.is_empty();
            let dropouts = if mlp { self.dropout.clone() } else { vec![0.0] };
            let norms = if mlp {
                self.batch_norm.clone()
            } else {
                vec![false]
            };
            for &optimizer in &self.optimizers {
                for &learning_rate in &self.learning_rates {
                    for &l2 in &self.l2 {
                        for &l1 in &self.l1 {
                            for &dropout in &dropouts {
                                for &batch_norm in &norms {
                                    configs.push(TrainConfig {
                                        head: HeadConfig {
                                            hidden: hidden.clone(),
                                            dropout,
                                            batch_norm,
                                            ..self.base.head.clone()
                                        },
                                        optimizer,
                                        learning_rate,
                                        l2,
                                        l1,
                                        ..self.base.clone()
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        configs
    }
}

impl SweepGrid {
    /// Random search: `n` distinct configurations drawn uniformly from the grid
    /// (all of them when the grid is smaller), reproducible under `seed`.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<TrainConfig> {
        let mut configs = self.configs();
        data::SplitMix64::new(seed).shuffle(&mut configs);
        configs.truncate(n);
        configs
    }
}

/// One configuration's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepEntry {
    /// The head's settings.
    pub config: TrainConfig,
    /// The task's main metric, which ranks the sweep.
    pub metric: MainMetric,
    /// The main metric on validation, of its kept weights.
    pub valid_score: f64,
    /// Validation accuracy of its kept weights (of whole label sets for
    /// multi-label; none for regression): the ranking's tie-break.
    pub valid_accuracy: Option<f64>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Epochs run before early stopping.
    pub epochs_run: usize,
    /// Training wall time.
    pub seconds: f64,
}

impl SweepEntry {
    /// A short description: shape, optimizer, rates and penalties.
    pub fn describe(&self) -> String {
        let c = &self.config;
        let mut s = format!(
            "{} {:?} lr={:e} l2={:e}",
            c.head.shape_name(),
            c.optimizer,
            c.learning_rate,
            c.l2
        );
        if c.l1 > 0.0 {
            s.push_str(&format!(" l1={:e}", c.l1));
        }
        if c.sampling != data::Sampling::None {
            s.push_str(&format!(" sampling={}", c.sampling));
        }
        if c.loss != training::LossSpec::default() {
            s.push_str(&format!(" loss={}", c.loss.describe()));
        }
        if !c.head.hidden.is_empty() {
            s.push_str(&format!(
                " dropout={} bn={}",
                c.head.dropout, c.head.batch_norm
            ));
        }
        s
    }
}

/// Trains every configuration on `workers` threads; returns the entries ranked by
/// the task's main metric on validation ([`MainMetric::rule`]; ties: accuracy, then
/// the smaller head, then grid order) and the best head. `on_done` hears of each as it finishes. Every head owns its randomness,
/// so the result is the same for any number of workers. Every configuration is
/// checked before the first head trains; an empty grid is an error.
pub fn sweep(
    train: &Features,
    valid: &Features,
    labels: &[String],
    configs: &[TrainConfig],
    device: &Device,
    workers: usize,
    on_done: &(dyn Fn(&SweepEntry) + Sync),
) -> Result<(Vec<SweepEntry>, TrainedHead), HeadError> {
    if configs.is_empty() {
        return Err(HeadError::Data(
            "the grid is empty: every list of values needs at least one".into(),
        ));
    }
    settings::at_least_one("jobs", workers)?;
    for config in configs {
        config.validate_for(train.targets.task(), labels)?;
    }
    let next = AtomicUsize::new(0);
    let work = || -> Result<_, HeadError> {
        let mut entries = Vec::new();
        let mut best: Option<(usize, TrainedHead)> = None;
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(config) = configs.get(index) else {
                break;
            };
            let head = train_head(train, valid, labels, config, device)?;
            let entry = entry_of(&head);
            on_done(&entry);
            if best
                .as_ref()
                .is_none_or(|(i, b)| better(&entry, index, &entry_of(b), *i))
            {
                best = Some((index, head));
            }
            entries.push((index, entry));
        }
        Ok((entries, best))
    };
    // burn-flex and gemm spread each product over rayon's global pool. With several
    // workers, every head's products would queue for that one pool and its threads
    // would hand work back and forth (two 512x256 heads on 2 cores: 10.8 s so, 7.5 s
    // with each worker's products on a thread of its own), so each worker gets a pool
    // of its share of the cores. One worker keeps the global pool and all of them.
    let threads_per_worker = (rayon::current_num_threads() / workers).max(1);
    let run_worker = || match workers {
        1 => work(),
        _ => match rayon::ThreadPoolBuilder::new()
            .num_threads(threads_per_worker)
            .build()
        {
            Ok(pool) => pool.install(work),
            // No pool (the system refused a thread): the worker shares the global one,
            // slower but the same result.
            Err(_) => work(),
        },
    };
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers).map(|_| scope.spawn(run_worker)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a sweep worker panicked"))
            .collect()
    });
    let mut entries: Vec<(usize, SweepEntry)> = Vec::with_capacity(configs.len());
    let mut best: Option<(usize, TrainedHead)> = None;
    for result in results {
        let (worker_entries, worker_best) = result?;
        entries.extend(worker_entries);
        if let Some((i, head)) = worker_best
            && best
                .as_ref()
                .is_none_or(|(j, b)| better(&entry_of(&head), i, &entry_of(b), *j))
        {
            best = Some((i, head));
        }
    }
    entries.sort_by(|(i, a), (j, b)| {
        if better(a, *i, b, *j) {
            std::cmp::Ordering::Less
        } else {
            std::cmp::Ordering::Greater
        }
    });
    let (_, best) = best.expect("a non-empty grid trains at least one head");
    Ok((entries.into_iter().map(|(_, e)| e).collect(), best))
}

/// The ranking: the main metric, then accuracy, then the smaller head (fewer hidden
/// units), then grid order. Every key is a function of the configuration and its results,
/// never of timing, so the same sweep always picks the same best head, whichever
/// worker finished first.
fn better(a: &SweepEntry, a_index: usize, b: &SweepEntry, b_index: usize) -> bool {
    let key = |e: &SweepEntry| {
        let hidden_units: usize = e.config.head.hidden.iter().sum();
        (
            e.metric.score(e.valid_score),
            e.valid_accuracy.unwrap_or(0.0),
            -(hidden_units as f64),
        )
    };
    match key(a).partial_cmp(&key(b)) {
        Some(std::cmp::Ordering::Greater) => true,
        Some(std::cmp::Ordering::Less) => false,
        _ => a_index < b_index,
    }
}

fn entry_of(head: &TrainedHead) -> SweepEntry {
    SweepEntry {
        config: head.config.clone(),
        metric: head.valid_report.metric(),
        valid_score: head.valid_report.main(),
        valid_accuracy: head.valid_report.accuracy(),
        best_epoch: head.best_epoch,
        epochs_run: head.history.len(),
        seconds: head.seconds,
    }
}
