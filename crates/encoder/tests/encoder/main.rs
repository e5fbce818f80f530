//! The frozen encoder's passes and their caches: embeddings and layer states, built,
//! fingerprinted, sharded, resumed and read back.
//!
//! One test binary for the crate's integration tests, each file a module: a file per
//! binary linked burn and the wgpu stack into every one of them, which multiplied the
//! disk and the link time of a CI build.

mod cache;
mod cache_properties;
mod embed;
mod shared_pass;
mod states;
