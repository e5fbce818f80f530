//! Test support shared by the workspace's tests: the tiny random BERT every unit and
//! integration test runs ([`tiny_model`]), toy labelled data it can tell apart
//! ([`topics`]), and the damage a file on disk can suffer (a flipped byte, a cut), as
//! proptest strategies ([`damage`](mod@damage)), so every loader of a saved artifact is held to the
//! same property: damage gives an error or, where the damage is harmless, the original
//! content; never a panic.

#![warn(missing_docs)]

pub mod damage;
pub mod topics;

use std::path::PathBuf;

pub use damage::{Damage, DamagedCopy, copy_dir, damage, files_in};
pub use topics::{topic_file, topic_splits};

/// The tiny random BERT of the tests (2 layers, 32 wide, a 55-word vocabulary, saved
/// by PyTorch as safetensors with its tokenizer): a Hugging Face folder that loads and
/// runs in milliseconds.
pub fn tiny_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bert/tests/fixtures/tiny-safetensors-gelu")
}

/// burn's random generator is process-wide (`Backend::seed` sets one generator for
/// every thread): tests of one binary that train with dropout take turns through this
/// lock, so that a seed fixes what each draws whatever the others do.
static GLOBAL_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A turn at burn's process-wide random generator, held until dropped.
pub fn rng_turn() -> std::sync::MutexGuard<'static, ()> {
    GLOBAL_RNG
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
