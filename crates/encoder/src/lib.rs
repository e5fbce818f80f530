//! Pipeline mode, stage 1: a pretrained BERT, frozen, turns every record of a data
//! set into one feature vector, stored in an [`EmbeddingCache`] that later runs reuse.
//!
//! Records are tokenized, sorted by length and batched, so each batch is padded only
//! to its own longest sequence; vectors come back in the input order. A cache is
//! identified by the fingerprint of everything that decides its vectors
//! ([`EmbeddingSpec`]): the same run twice is a hit, any change a miss.
//!
//! The same frozen pass can also store token states after a bottom stack of layers
//! ([`StateCache`], built by [`build_state_caches`], or alongside the vectors by
//! [`build_cache_with_states`]): what fine-tuning only the layers above reads instead
//! of running the bottom ones at every step.

#![warn(missing_docs)]

#[cfg(not(target_endian = "little"))]
compile_error!("the cache and .npy formats are little-endian f32, written with native byte order");

mod build;
mod cache;
mod chunks;
mod embed;
mod layers;
mod npy;
mod spec;
mod state_build;
mod states;

pub use build::{BuildError, BuildOutcome, build_cache, build_cache_with_states, partial_dir};
pub use cache::{CacheError, CacheMeta, EmbeddingCache, FORMAT_VERSION};
pub use embed::{EmbedOptions, EmbedSummary, Embeddings, EncodeError, FrozenEncoder};
pub use layers::LayerSelection;
pub use npy::{NpyError, read_npy, write_npy};
pub use spec::{EmbeddingSpec, ModelChecksums, Shard, ShardError};
pub use state_build::{StateTarget, build_state_caches};
pub use states::{STATES_FORMAT_VERSION, StateCache, StateMeta, StateSpec};
pub use text::length_order;
