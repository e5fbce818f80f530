use std::path::{Path, PathBuf};

use tokenizers::decoders::wordpiece::WordPiece as WordPieceDecoder;
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::processors::bert::BertProcessing;
use tokenizers::{
    AddedToken, EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy,
};

use crate::special::{SpecialTokenNames, read_json};
use crate::{SpecialTokens, TextError};

/// The ids of one tokenized input, unpadded: `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Vocabulary ids, special tokens included.
    pub ids: Vec<u32>,
    /// Segment of each token: 0 for `[CLS] a [SEP]`, 1 for `b [SEP]`.
    pub type_ids: Vec<u32>,
}

impl Encoding {
    /// Number of tokens, special tokens included.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no tokens at all (never the case for an encoded input).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A text the tokenizer refused, named by the id of the record it came from.
#[derive(Debug, thiserror::Error)]
#[error("record {id:?}")]
pub struct RecordTextError {
    /// The record's id.
    pub id: String,
    /// What the tokenizer refused.
    #[source]
    pub cause: TextError,
}

/// A BERT tokenizer with our truncation policy and its special tokens resolved.
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    special: SpecialTokens,
    max_len: usize,
    /// Segment ids the model has embeddings for: 2 for BERT, 1 for models that read
    /// single texts only ([`fit_model`](Self::fit_model)).
    type_vocab_size: usize,
}

/// `[CLS] [SEP]` around a single text; one more `[SEP]` for a pair.
const SPECIAL_TOKENS_SINGLE: usize = 2;
const SPECIAL_TOKENS_PAIR: usize = 3;

impl BertTokenizer {
    /// Loads the tokenizer of a Hugging Face model folder: `tokenizer.json` if present,
    /// else `vocab.txt` (with lower-casing as `tokenizer_config.json` says).
    /// Sequences are truncated to `max_len` tokens, special tokens included.
    pub fn from_dir(dir: impl AsRef<Path>, max_len: usize) -> Result<Self, TextError> {
        let dir = dir.as_ref();
        let inner = if dir.join("tokenizer.json").exists() {
            load_tokenizer_json(&dir.join("tokenizer.json"))?
        } else if dir.join("vocab.txt").exists() {
            wordpiece_from_vocab(dir)?
        } else {
            return Err(TextError::NoTokenizer {
                dir: dir.to_owned(),
            });
        };
        Self::new(inner, dir, max_len)
    }

    /// Builds the WordPiece tokenizer from `vocab.txt` alone, ignoring any
    /// `tokenizer.json`. The two must agree; tests hold them to it.
    pub fn from_vocab(dir: impl AsRef<Path>, max_len: usize) -> Result<Self, TextError> {
        let dir = dir.as_ref();
        Self::new(wordpiece_from_vocab(dir)?, dir, max_len)
    }

    fn new(mut inner: Tokenizer, dir: &Path, max_len: usize) -> Result<Self, TextError> {
        if max_len < SPECIAL_TOKENS_PAIR + 2 {
            return Err(TextError::MaxLenTooSmall {
                max_len,
                min: SPECIAL_TOKENS_PAIR + 2,
            });
        }
        let names = SpecialTokenNames::from_dir(dir)?;
        let id = |role: &'static str, token: &str| {
            inner
                .token_to_id(token)
                .ok_or_else(|| TextError::MissingSpecialToken {
                    dir: dir.to_owned(),
                    role,
                    token: token.to_owned(),
                })
        };
        let special = SpecialTokens {
            cls: id("cls_token", &names.cls)?,
            sep: id("sep_token", &names.sep)?,
            pad: id("pad_token", &names.pad)?,
            unk: id("unk_token", &names.unk)?,
            mask: id("mask_token", &names.mask)?,
        };
        // Padding happens when a batch is built; truncation is set from our max_len,
        // whatever the file said (MiniLM's tokenizer.json pads and truncates to 128).
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        Ok(Self {
            inner,
            special,
            max_len,
            type_vocab_size: 2,
        })
    }

    /// This tokenizer for a model with `vocab_size` token embeddings and
    /// `type_vocab_size` segment embeddings: refused when it can produce ids the
    /// model has no embedding for (a tokenizer and weights that do not belong
    /// together); with one segment embedding, sentence pairs are refused when
    /// encoded instead of indexing past the table.
    pub fn fit_model(
        mut self,
        vocab_size: usize,
        type_vocab_size: usize,
    ) -> Result<Self, TextError> {
        if self.vocab_size() > vocab_size {
            return Err(TextError::VocabTooLarge {
                tokenizer: self.vocab_size(),
                model: vocab_size,
            });
        }
        if type_vocab_size == 0 {
            return Err(TextError::NoSegments);
        }
        self.type_vocab_size = type_vocab_size;
        Ok(self)
    }

    /// Segment ids the model has embeddings for (pairs need 2).
    pub fn type_vocab_size(&self) -> usize {
        self.type_vocab_size
    }

    /// Tokenizes a text, or a sentence pair when `text_b` is given.
    ///
    /// Too-long inputs are truncated to `max_len` (for pairs, the longer side loses
    /// tokens first). A side with no tokens is an error: BERT would see only specials.
    pub fn encode(&self, text: &str, text_b: Option<&str>) -> Result<Encoding, TextError> {
        if text_b.is_some() && self.type_vocab_size < 2 {
            return Err(TextError::PairsUnsupported);
        }
        let input: EncodeInput = match text_b {
            None => text.into(),
            Some(b) => (text, b).into(),
        };
        let encoding = self
            .inner
            .encode_fast(input, true)
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        let ids = encoding.get_ids().to_vec();
        let type_ids = encoding.get_type_ids().to_vec();
        self.check_not_empty(&ids, &type_ids, text_b.is_some())?;
        Ok(Encoding { ids, type_ids })
    }

    /// The ids of a text alone: no `[CLS]`/`[SEP]` added, at most `max_len` of them
    /// (the pieces of a prompt, a verbalizer's word). Special tokens written in the
    /// text stay one token.
    pub fn encode_words(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|e| TextError::Tokenize(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// A segment is empty when nothing but special tokens carries its type id.
    fn check_not_empty(&self, ids: &[u32], type_ids: &[u32], pair: bool) -> Result<(), TextError> {
        let specials = if pair {
            SPECIAL_TOKENS_PAIR
        } else {
            SPECIAL_TOKENS_SINGLE
        };
        let content_a = type_ids.iter().filter(|&&t| t == 0).count();
        if content_a <= 2 {
            return Err(TextError::EmptyText { segment: "text" });
        }
        if pair && ids.len() - content_a <= specials - SPECIAL_TOKENS_SINGLE {
            return Err(TextError::EmptyText { segment: "text_b" });
        }
        Ok(())
    }

    /// Tokenizes many `(id, text, text_b)` inputs, in order; the first one refused is an
    /// error naming its id, so a user can find the bad record in a file of thousands.
    pub fn encode_all<'a>(
        &self,
        inputs: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>,
    ) -> Result<Vec<Encoding>, RecordTextError> {
        inputs
            .into_iter()
            .map(|(id, text, text_b)| {
                self.encode(text, text_b).map_err(|cause| RecordTextError {
                    id: id.to_owned(),
                    cause,
                })
            })
            .collect()
    }

    /// The special-token ids of this vocabulary.
    pub fn special_tokens(&self) -> SpecialTokens {
        self.special
    }

    /// The longest sequence produced, special tokens included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The vocabulary entry of an id (`None` when out of range).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The id of a vocabulary entry (`None` when it is not in the vocabulary).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }
}

fn load_tokenizer_json(path: &Path) -> Result<Tokenizer, TextError> {
    Tokenizer::from_file(path).map_err(|e| TextError::Load {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// The standard BERT pipeline: BertNormalizer, BertPreTokenizer, WordPiece and the
/// `[CLS] … [SEP]` post-processor, configured as `tokenizer_config.json` says.
fn wordpiece_from_vocab(dir: &Path) -> Result<Tokenizer, TextError> {
    let vocab: PathBuf = dir.join("vocab.txt");
    let config_path = dir.join("tokenizer_config.json");
    let config = if config_path.exists() {
        read_json(&config_path)?
    } else {
        serde_json::Value::Null
    };
    let flag = |key: &str| config.get(key).and_then(serde_json::Value::as_bool);
    let lowercase = flag("do_lower_case").unwrap_or(true);
    let chinese_chars = flag("tokenize_chinese_chars").unwrap_or(true);
    let strip_accents = flag("strip_accents");

    let names = SpecialTokenNames::from_dir(dir)?;
    let load_error = |message: String| TextError::Load {
        path: vocab.clone(),
        message,
    };
    let vocab_str = vocab
        .to_str()
        .ok_or_else(|| load_error("path is not UTF-8".into()))?;
    let model = WordPiece::from_file(vocab_str)
        .unk_token(names.unk.clone())
        .build()
        .map_err(|e| load_error(e.to_string()))?;
    let mut tokenizer = Tokenizer::new(model);
    let id = |token: &str| {
        tokenizer
            .token_to_id(token)
            .ok_or_else(|| TextError::MissingSpecialToken {
                dir: dir.to_owned(),
                role: "post-processor",
                token: token.to_owned(),
            })
    };
    let processor = BertProcessing::new(
        (names.sep.clone(), id(&names.sep)?),
        (names.cls.clone(), id(&names.cls)?),
    );
    tokenizer
        .with_normalizer(Some(BertNormalizer::new(
            true,
            chinese_chars,
            strip_accents,
            lowercase,
        )))
        .map_err(|e| load_error(e.to_string()))?;
    tokenizer.with_pre_tokenizer(Some(BertPreTokenizer));
    tokenizer.with_post_processor(Some(processor));
    tokenizer.with_decoder(Some(WordPieceDecoder::default()));
    // As in transformers: a special token written in the text (a prompt's "[MASK]")
    // stays one token instead of being split into "[", "mask", "]".
    let specials: Vec<AddedToken> = [&names.cls, &names.sep, &names.pad, &names.unk, &names.mask]
        .into_iter()
        .map(|token| AddedToken::from(token.clone(), true))
        .collect();
    tokenizer
        .add_special_tokens(specials)
        .map_err(|e| load_error(e.to_string()))?;
    Ok(tokenizer)
}

/// Indices of `encodings` from shortest to longest: batching in this order makes each
/// batch's padding, and the work wasted on it, near zero. Deterministic (stable sort),
/// so an interrupted run cuts the same chunks when it resumes.
pub fn length_order(encodings: &[Encoding]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..encodings.len()).collect();
    order.sort_by_key(|&i| encodings[i].len());
    order
}
