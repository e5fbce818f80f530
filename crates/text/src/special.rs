use std::path::Path;

use serde_json::Value;

use crate::TextError;

/// Ids of the special tokens a BERT uses, read from the tokenizer, never assumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialTokens {
    /// `[CLS]`, first token of every sequence; its final state feeds `cls` pooling.
    pub cls: u32,
    /// `[SEP]`, closes each segment.
    pub sep: u32,
    /// `[PAD]`, fills batches to a common length; masked out of attention.
    pub pad: u32,
    /// `[UNK]`, stands for words the vocabulary cannot spell.
    pub unk: u32,
    /// `[MASK]`, the slot of masked-language-model prompts.
    pub mask: u32,
}

/// The surface forms of the special tokens, from the model folder's
/// `special_tokens_map.json` or `tokenizer_config.json`, with BERT's defaults.
#[derive(Debug, Clone)]
pub(crate) struct SpecialTokenNames {
    pub cls: String,
    pub sep: String,
    pub pad: String,
    pub unk: String,
    pub mask: String,
}

impl SpecialTokenNames {
    /// Reads the names from `dir`; files that are absent leave BERT's defaults in place.
    pub fn from_dir(dir: &Path) -> Result<Self, TextError> {
        let mut names = Self {
            cls: "[CLS]".into(),
            sep: "[SEP]".into(),
            pad: "[PAD]".into(),
            unk: "[UNK]".into(),
            mask: "[MASK]".into(),
        };
        // special_tokens_map.json wins over tokenizer_config.json, as in transformers.
        for file in ["tokenizer_config.json", "special_tokens_map.json"] {
            let path = dir.join(file);
            if !path.exists() {
                continue;
            }
            let json = read_json(&path)?;
            for (key, slot) in [
                ("cls_token", &mut names.cls),
                ("sep_token", &mut names.sep),
                ("pad_token", &mut names.pad),
                ("unk_token", &mut names.unk),
                ("mask_token", &mut names.mask),
            ] {
                if let Some(name) = token_name(json.get(key)) {
                    *slot = name;
                }
            }
        }
        Ok(names)
    }
}

/// A special token is written either as a string or as `{"content": "..."}`.
fn token_name(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map.get("content")?.as_str().map(str::to_owned),
        _ => None,
    }
}

pub(crate) fn read_json(path: &Path) -> Result<Value, TextError> {
    let load_error = |message: String| TextError::Load {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| load_error(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| load_error(e.to_string()))
}
