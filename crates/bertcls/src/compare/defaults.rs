//! What a comparison uses for each setting its user leaves unset, declared once: the
//! default comparison and the quick one. A study's own defaults are its suite file's
//! `[defaults]` table, filled in before these (`bertcls suite show NAME`).

use super::inputs::Subset;

/// The recipe a comparison falls back on where a setting is unset.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonDefaults {
    /// The data set when none is named.
    pub data: &'static str,
    /// Tokens per text, in both modes.
    pub max_len: usize,
    /// Fine-tuning epochs.
    pub epochs: usize,
    /// At least this many fine-tuning steps: more epochs on small data.
    pub min_steps: usize,
    /// Fine-tuning's peak learning rate.
    pub learning_rate: f64,
    /// Fine-tuning's peak learning rate of the head; `None`: the body's.
    pub head_learning_rate: Option<f64>,
    /// Layer-wise decay of fine-tuning's body rate.
    pub layer_decay: f64,
    /// The frontier's points between the modes (0, the pipeline, and N, end-to-end,
    /// always run).
    pub frontier: &'static [usize],
    /// Runs of both modes, one seed each.
    pub seeds: usize,
    /// Heads drawn at random from the sweep's grid; `None`: the whole grid.
    pub heads_drawn: Option<usize>,
    /// At most this many records of each split, stratified; `None`: all.
    pub(crate) subset: Option<Subset>,
}

impl ComparisonDefaults {
    /// The default comparison, sized for about 10 minutes on 2 cores: R8 at 64
    /// tokens (its texts are longer, but 128 takes the comparison past 20 minutes),
    /// two epochs at fine-tuning's own learning rate, and the top layer alone as the
    /// frontier's one point between the modes, the cheapest fine-tuning there is.
    pub fn standard() -> Self {
        Self {
            data: "r8",
            max_len: 64,
            epochs: 2,
            min_steps: joint::Optimization::default().min_steps,
            learning_rate: joint::Optimization::default().learning_rate,
            head_learning_rate: joint::Optimization::default().head_learning_rate,
            layer_decay: joint::Optimization::default().layer_decay,
            frontier: &[1],
            seeds: 1,
            heads_drawn: None,
            subset: None,
        }
    }

    /// A first look in a minute or two: stratified subsets of 400 / 150 / 300
    /// records, 8 heads drawn from the grid, and three epochs at a higher learning
    /// rate, as so few steps need larger ones.
    pub fn quick() -> Self {
        Self {
            epochs: 3,
            learning_rate: 1e-4,
            heads_drawn: Some(8),
            subset: Some(Subset {
                train: 400,
                valid: 150,
                test: 300,
            }),
            ..Self::standard()
        }
    }
}
