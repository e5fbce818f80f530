//! BERT in burn: a Hugging Face `BertModel` reproduced to float precision.
//!
//! - [`BertConfig`] reads any BERT's `config.json`; nothing about a particular model is
//!   built in.
//! - [`BertModel`] is the encoder as in the paper; its field names are the checkpoint's.
//! - [`load_weights`] reads `model.safetensors` or `pytorch_model.bin`, with or
//!   without the `bert.` prefix, and names every tensor that does not fit.
//! - [`Pooling`] turns token states into one vector per text.
//! - [`BackendKind`] picks the device (flex, ndarray, wgpu) at run time.
//! - [`LayerStates`] are token states stored after a frozen bottom stack of layers; a
//!   [`BertInput`] carrying them ([`BertInput::with_states`]) enters the model above.
//! - [`PretrainedBert`] loads a whole model folder, tokenizer included; its
//!   masked-LM head ([`BertMlmHead`]) on demand, when the checkpoint has one.

#![warn(missing_docs)]

mod backend;
mod config;
mod embeddings;
mod encoder;
mod error;
mod input;
pub mod kernels;
mod layers;
mod mlm;
mod model;
mod pooling;
mod precision;
mod pretrained;
mod states;
#[cfg(feature = "testing")]
pub mod testing;
mod weights;

pub use backend::BackendKind;
pub use config::{BertConfig, HiddenAct};
pub use embeddings::BertEmbeddings;
pub use encoder::{
    BertAttention, BertEncoder, BertIntermediate, BertLayer, BertOutputBlock, BertSelfAttention,
};
pub use error::BertError;
pub use input::BertInput;
pub use mlm::{BertMlmHead, BertPredictionTransform, load_mlm_head};
pub use model::{BertModel, BertOutput, BertPooler};
pub use pooling::{Pooling, l2_normalize};
pub use precision::Precision;
pub use pretrained::PretrainedBert;
pub use states::{EntryStates, InMemoryStates, LayerStates};
pub use weights::{
    LoadReport, WEIGHT_FILES, apply_checkpoint, find_weights, hf_key_remapper, load_weights,
};

// Re-exported so that dependants name one burn.
pub use burn;
