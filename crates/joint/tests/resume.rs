//! An interrupted run resumed from its checkpoint ends where an uninterrupted run ends.
//! Alone in its test binary: dropout draws from burn's process-wide generator, which a
//! concurrently training test would disturb.

mod common;

use std::ops::ControlFlow;

use burn::tensor::Device;
use common::{max_abs_diff, parameters, toy};
use joint::{
    ClassifierConfig, FineTuneConfig, JointError, Optimization, RunDir, StopReason, TrainEvent,
    checkpoint_dir,
};

#[test]
fn resume_equals_uninterrupted_and_refuses_other_settings() {
    let device = Device::flex();
    // Dropout stays on (the tiny BERT's 0.1), so the masks must be reproduced too.
    let config = FineTuneConfig {
        optimization: Optimization {
            epochs: 2,
            batch_size: 8,
            grad_accumulation: 2,
            learning_rate: 1e-3,
            eval_every: Some(3),
            ..Optimization::default()
        },
        ..FineTuneConfig::default()
    };
    let classifier = ClassifierConfig::default();
    let dirs = tempfile::tempdir().unwrap();
    let (full_dir, split_dir) = (dirs.path().join("full"), dirs.path().join("split"));

    // Each run's outcome, the steps it says were done before it started, and the
    // optimizer steps it took itself.
    let run_counting = |dir: &std::path::Path,
                        resume: bool,
                        config: &FineTuneConfig,
                        stop_at: Option<usize>,
                        head_seed: u64|
     -> (Result<joint::FineTuned, JointError>, usize, usize) {
        let (mut done_before, mut taken) = (0, 0);
        let mut on_event = |event: &TrainEvent<'_>| match event {
            TrainEvent::Started { steps_done, .. } => {
                done_before = *steps_done;
                ControlFlow::Continue(())
            }
            TrainEvent::Step { step, .. } => {
                taken += 1;
                if Some(*step) == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
            _ => ControlFlow::Continue(()),
        };
        let outcome = toy(&classifier, head_seed, &device).fine_tune(
            config,
            Some(RunDir { path: dir, resume }),
            &mut on_event,
            &device,
        );
        (outcome, done_before, taken)
    };
    let run = |dir: &std::path::Path, resume, config: &FineTuneConfig, stop_at| {
        run_counting(dir, resume, config, stop_at, 11).0
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
        optimization: Optimization {
            learning_rate: 2e-3,
            ..config.clone().optimization
        },
        ..config.clone()
    };
    match run(&split_dir, true, &other, None) {
        Err(JointError::ResumeMismatch { details, .. }) => {
            assert!(details.contains("learning_rate"), "{details}")
        }
        Err(e) => panic!("expected a settings mismatch, got {e}"),
        Ok(_) => panic!("expected a settings mismatch"),
    }

    // A different starting model (another head seed) is refused, naming it.
    match run_counting(&split_dir, true, &config, None, 12).0 {
        Err(JointError::ResumeMismatch { details, .. }) => {
            assert!(details.contains("starting weights"), "{details}")
        }
        Err(e) => panic!("expected a weights mismatch, got {e}"),
        Ok(_) => panic!("expected a weights mismatch"),
    }

    let (resumed, done_before, taken) = run_counting(&split_dir, true, &config, None, 11);
    let resumed = resumed.unwrap();
    assert_eq!(resumed.stop, StopReason::Completed);
    assert_eq!(resumed.steps, 8);
    // Work was resumed, not redone: 6 steps came from the checkpoint, 2 were taken.
    assert_eq!((done_before, taken), (6, 2));
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
    resume_refuses_other_training_data();
}

/// Part of the test above (not a test of its own: two tests in this binary would
/// train at once and disturb each other's dropout).
fn resume_refuses_other_training_data() {
    let device = Device::flex();
    let config = FineTuneConfig {
        optimization: Optimization {
            epochs: 1,
            batch_size: 8,
            eval_every: Some(2),
            ..Optimization::default()
        },
        ..FineTuneConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |toy: common::Toy, resume: bool| {
        toy.fine_tune(
            &config,
            Some(RunDir {
                path: dir.path(),
                resume,
            }),
            &mut |event| match event {
                TrainEvent::Step { step: 2, .. } => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            },
            &device,
        )
    };
    let classifier = ClassifierConfig::default();
    run(toy(&classifier, 11, &device), false).unwrap();
    let mut other = toy(&classifier, 11, &device);
    other.train = other.train.subset(&(0..48).collect::<Vec<_>>());
    match run(other, true) {
        Err(JointError::ResumeMismatch { details, .. }) => {
            assert!(details.contains("training examples"), "{details}");
            assert!(!details.contains("validation"), "{details}");
        }
        Err(e) => panic!("expected a data mismatch, got {e}"),
        Ok(_) => panic!("expected a data mismatch"),
    }
}
