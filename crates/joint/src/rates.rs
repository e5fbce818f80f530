//! How one scheduled learning rate is shared out over the model: the new head at its
//! own rate, each encoder layer at a fraction of the rate of the layer above.

use burn::module::ParamGroup;
use burn::optim::lr_scheduler::constant::ConstantLr;
use burn::optim::lr_scheduler::module_lr_scheduler::{ModuleLearningRate, ModuleLrScheduler};

use crate::{BertClassifier, Optimization};

/// Each parameter group's rate as a multiple of the schedule's: the embeddings and
/// every encoder layer by depth, the head by the ratio of its rate to the body's.
/// Groups are identified by their parameters' ids, which optimizer steps keep.
pub(crate) struct LayerRates {
    groups: Vec<(ParamGroup, f64)>,
}

impl LayerRates {
    /// The groups of `model` under `optimization`'s head rate and layer decay: none
    /// when both leave every parameter at the schedule's rate.
    pub(crate) fn of(model: &BertClassifier, optimization: &Optimization) -> Self {
        let mut groups = Vec::new();
        let decay = optimization.layer_decay;
        if decay != 1.0 {
            let layers = &model.bert.encoder.layer;
            // The top layer and the pooler train at the body's rate; the layer below at
            // `decay` times that, and so on down to the embeddings.
            let below_top = |depth: usize| decay.powi(depth as i32);
            groups.push((
                ParamGroup::ids_from_module(model.bert.embeddings.clone()),
                below_top(layers.len()),
            ));
            for (i, layer) in layers.iter().enumerate() {
                groups.push((
                    ParamGroup::ids_from_module(layer.clone()),
                    below_top(layers.len() - 1 - i),
                ));
            }
        }
        if let (Some(rate), Some(head)) = (optimization.head_learning_rate, &model.classifier) {
            groups.push((
                ParamGroup::ids_from_module(head.clone()),
                rate / optimization.learning_rate,
            ));
        }
        Self { groups }
    }

    /// Every parameter's rate when the schedule's is `rate`.
    pub(crate) fn at(&self, rate: f64) -> ModuleLearningRate {
        if self.groups.is_empty() {
            return rate.into();
        }
        self.groups
            .iter()
            .fold(
                ModuleLrScheduler::new(ConstantLr::from(rate)),
                |scheduler, (group, factor)| {
                    scheduler.with_group(group.clone(), ConstantLr::from(rate * factor))
                },
            )
            .step()
    }
}
