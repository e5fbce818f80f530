//! An interrupted run resumed from its checkpoint ends where an uninterrupted run ends.
//! Alone in its test binary: dropout draws from burn's process-wide generator, which a
//! concurrently training test would disturb.

mod common;

use std::ops::ControlFlow;

use burn::tensor::Device;
use common::{max_abs_diff, parameters, toy};
use joint::{
    ClassifierConfig, FineTuneConfig, JointError, RunDir, StopReason, TrainEvent, checkpoint_dir,
};

#[test]
fn resume_equals_uninterrupted_and_refuses_other_settings() {
    let device = Device::flex();
    // Dropout stays on (the tiny BERT's 0.1), so the masks must be reproduced too.
    let config = FineTuneConfig {
        epochs: 2,
        batch_size: 8,
        grad_accumulation: 2,
        learning_rate: 1e-3,
        eval_every: Some(3),
        ..FineTuneConfig::default()
    };
    let classifier = ClassifierConfig::default();
    let dirs = tempfile::tempdir().unwrap();
    let (full_dir, split_dir) = (dirs.path().join("full"), dirs.path().join("split"));

    let run = |dir: &std::path::Path,
               resume: bool,
               config: &FineTuneConfig,
               stop_at: Option<usize>|
     -> Result<joint::FineTuned, JointError> {
        let mut on_event = |event: &TrainEvent<'_>| match event {
            TrainEvent::Step { step, .. } if Some(*step) == stop_at => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        };
        toy(&classifier, 11, &device).fine_tune(
            config,
            Some(RunDir { path: dir, resume }),
            &mut on_event,
            &device,
        )
    };

    let full = run(&full_dir, false, &config, None).unwrap();
    assert_eq!(full.stop, StopReason::Completed);
    assert_eq!(full.steps, 8, "64 examples / (8 × 2) × 2 epochs");

    // Stopped at step 6, just after the evaluation (and checkpoint) at step 6.
    let first = run(&split_dir, false, &config, Some(6)).unwrap();
    assert_eq!(first.stop, StopReason::Interrupted);
    assert_eq!(first.steps, 6);
    assert!(checkpoint_dir(&split_dir).join("state.json").exists());

    let other = FineTuneConfig {
        learning_rate: 2e-3,
        ..config.clone()
    };
    match run(&split_dir, true, &other, None) {
        Err(JointError::ResumeMismatch { details, .. }) => {
            assert!(details.contains("learning_rate"), "{details}")
        }
        Err(e) => panic!("expected a settings mismatch, got {e}"),
        Ok(_) => panic!("expected a settings mismatch"),
    }

    let resumed = run(&split_dir, true, &config, None).unwrap();
    assert_eq!(resumed.stop, StopReason::Completed);
    assert_eq!(resumed.steps, 8);
    assert_eq!(resumed.examples_trained, full.examples_trained);
    assert_eq!(resumed.history.len(), full.history.len());
    for (a, b) in resumed.history.iter().zip(&full.history) {
        assert_eq!(a.step, b.step);
        assert!((a.train_loss - b.train_loss).abs() < 1e-5, "{a:?} vs {b:?}");
        assert!((a.valid_loss - b.valid_loss).abs() < 1e-5, "{a:?} vs {b:?}");
    }
    let diff = max_abs_diff(&parameters(&resumed.model), &parameters(&full.model));
    assert!(diff < 1e-5, "resumed weights differ by {diff}");

    // Resuming where there is no checkpoint says so.
    let empty = dirs.path().join("empty");
    assert!(matches!(
        run(&empty, true, &config, None),
        Err(JointError::NoCheckpoint { .. })
    ));
}
