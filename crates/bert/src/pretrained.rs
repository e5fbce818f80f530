use std::path::{Path, PathBuf};

use burn::tensor::Device;
use text::BertTokenizer;

use crate::weights::{LoadReport, find_weights, load_weights};
use crate::{BertConfig, BertError, BertMlmHead, BertModel, load_mlm_head};

/// A Hugging Face BERT folder loaded whole: config, weights and tokenizer.
pub struct PretrainedBert {
    /// The folder it came from.
    pub dir: PathBuf,
    /// The model's `config.json`.
    pub config: BertConfig,
    /// The encoder with its weights, on the device it was loaded on.
    pub model: BertModel,
    /// The folder's tokenizer.
    pub tokenizer: BertTokenizer,
    /// What loading the weights found (unused and missing tensors, the pooler).
    pub report: LoadReport,
}

impl PretrainedBert {
    /// Loads `dir` (`config.json`, `model.safetensors` or `pytorch_model.bin`,
    /// `tokenizer.json` or `vocab.txt`) onto `device`, tokenizing to `max_len`.
    pub fn load(dir: impl AsRef<Path>, max_len: usize, device: &Device) -> Result<Self, BertError> {
        Self::load_layers(dir, max_len, None, device)
    }

    /// Like [`load`](Self::load), keeping only the bottom `num_layers` encoder layers
    /// when given: a smaller, faster model (the checkpoint's upper layers are unused).
    pub fn load_layers(
        dir: impl AsRef<Path>,
        max_len: usize,
        num_layers: Option<usize>,
        device: &Device,
    ) -> Result<Self, BertError> {
        let dir = dir.as_ref();
        let mut config = BertConfig::from_file(dir.join("config.json"))?;
        if let Some(k) = num_layers {
            if k == 0 || k > config.num_hidden_layers {
                return Err(BertError::TooManyLayers {
                    asked: k,
                    available: config.num_hidden_layers,
                });
            }
            config = config.with_num_layers(k);
        }
        if max_len > config.max_position_embeddings {
            return Err(BertError::MaxLenTooLong {
                max_len,
                max_positions: config.max_position_embeddings,
            });
        }
        let tokenizer = BertTokenizer::from_dir(dir, max_len)?
            .fit_model(config.vocab_size, config.type_vocab_size)?;
        let weights = find_weights(dir)?;
        let (model, report) = load_weights(BertModel::new(&config, true, device), &weights)?;
        Ok(Self {
            dir: dir.to_owned(),
            config,
            model,
            tokenizer,
            report,
        })
    }

    /// The checkpoint's masked-LM head (`cls.predictions`), read from the same
    /// weights; `None` when it has none, as all-MiniLM-L6-v2 has none.
    pub fn mlm_head(&self, device: &Device) -> Result<Option<BertMlmHead>, BertError> {
        load_mlm_head(&self.config, &self.report.path, device)
    }
}
