//! Prompts: a text placed in a template around one `[MASK]`, the input of
//! prompt-based classification ("{text} [SEP] This is about [MASK].").
//!
//! The template is tokenized piece by piece, so that a long text is cut to fit and the
//! `[MASK]` is never the part truncation removes. Pieces are split at whitespace-free
//! boundaries BERT's pre-tokenizer splits at anyway (`{text}`, `[MASK]`, `[SEP]`), so
//! this gives the ids of tokenizing the filled-in template whole. The template's
//! `[MASK]` is the only one in the result: one written in a text is read as `[UNK]`.

use std::fmt;
use std::str::FromStr;

use crate::{BertTokenizer, Encoding, TextError};

/// Where the text goes.
const TEXT: &str = "{text}";
/// Where the second text of a pair goes.
const TEXT_B: &str = "{text_b}";
const MASK: &str = "[MASK]";
const SEP: &str = "[SEP]";

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text,
    TextB,
    Mask,
    Sep,
    Words(String),
}

/// A prompt template: `{text}` once, `{text_b}` at most once (sentence pairs), `[MASK]`
/// exactly once, any `[SEP]`s, and words. Tokens after the first `[SEP]` get token type
/// id 1, as the second segment of a pair does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptTemplate {
    source: String,
    pieces: Vec<Piece>,
}

/// Why a template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template (given) has no `{text}` slot.
    #[error(
        "prompt {0:?} has no {{text}}: write where the text goes, e.g. \"{{text}} [SEP] This is about [MASK].\""
    )]
    NoText(String),
    /// The template (given) has no `[MASK]`, or more than one.
    #[error("prompt {0:?} needs exactly one [MASK], the slot the label word fills")]
    MaskCount(String),
    /// The template (given) names `{text}` or `{text_b}` more than once.
    #[error("prompt {0:?} has {{text}} or {{text_b}} more than once")]
    RepeatedSlot(String),
}

impl FromStr for PromptTemplate {
    type Err = TemplateError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        let mut pieces = Vec::new();
        let mut rest = source;
        while !rest.is_empty() {
            let next = [TEXT, TEXT_B, MASK, SEP]
                .iter()
                .filter_map(|m| rest.find(m).map(|at| (at, *m)))
                .min();
            let Some((at, marker)) = next else {
                pieces.push(Piece::Words(rest.to_owned()));
                break;
            };
            if at > 0 {
                pieces.push(Piece::Words(rest[..at].to_owned()));
            }
            pieces.push(match marker {
                TEXT => Piece::Text,
                TEXT_B => Piece::TextB,
                MASK => Piece::Mask,
                _ => Piece::Sep,
            });
            rest = &rest[at + marker.len()..];
        }
        let count = |p: &Piece| pieces.iter().filter(|q| *q == p).count();
        if count(&Piece::Text) == 0 {
            return Err(TemplateError::NoText(source.to_owned()));
        }
        if count(&Piece::Mask) != 1 {
            return Err(TemplateError::MaskCount(source.to_owned()));
        }
        if count(&Piece::Text) > 1 || count(&Piece::TextB) > 1 {
            return Err(TemplateError::RepeatedSlot(source.to_owned()));
        }
        Ok(Self {
            source: source.to_owned(),
            pieces,
        })
    }
}

impl fmt::Display for PromptTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A tokenized prompt and where its `[MASK]` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptEncoding {
    /// `[CLS] … [SEP]`, at most the tokenizer's `max_len` tokens.
    pub encoding: Encoding,
    /// Where the `[MASK]` is in the encoded sequence.
    pub mask_position: usize,
}

impl PromptTemplate {
    /// Whether the template has a slot for a second text.
    pub fn takes_pairs(&self) -> bool {
        self.pieces.contains(&Piece::TextB)
    }

    /// `[CLS]`, the template with the texts filled in, `[SEP]`. When that is longer
    /// than `max_len`, the texts lose tokens from their ends (the longer first) and the
    /// template's own words are kept whole.
    pub fn encode(
        &self,
        tokenizer: &BertTokenizer,
        text: &str,
        text_b: Option<&str>,
    ) -> Result<PromptEncoding, TextError> {
        let special = tokenizer.special_tokens();
        // A "[MASK]" written in the text itself is read as [UNK], so that the
        // template's is the only one and a model can find it from the ids alone.
        let words = |text: &str| -> Result<Vec<u32>, TextError> {
            let mut ids = tokenizer.encode_words(text)?;
            for id in ids.iter_mut().filter(|id| **id == special.mask) {
                *id = special.unk;
            }
            Ok(ids)
        };
        let mut a = words(text)?;
        if a.is_empty() {
            return Err(TextError::EmptyText { segment: "text" });
        }
        let mut b = match (self.takes_pairs(), text_b) {
            (true, Some(b)) => words(b)?,
            (true, None) => return Err(TextError::EmptyText { segment: "text_b" }),
            (false, _) => Vec::new(),
        };
        if self.takes_pairs() && b.is_empty() {
            return Err(TextError::EmptyText { segment: "text_b" });
        }
        let mut fixed = Vec::with_capacity(self.pieces.len());
        for piece in &self.pieces {
            fixed.push(match piece {
                Piece::Words(words) => tokenizer.encode_words(words)?,
                Piece::Mask => vec![special.mask],
                Piece::Sep => vec![special.sep],
                Piece::Text | Piece::TextB => Vec::new(),
            });
        }
        let fixed_len: usize = fixed.iter().map(Vec::len).sum::<usize>() + 2;
        let room = tokenizer.max_len().saturating_sub(fixed_len);
        let slots = 1 + usize::from(self.takes_pairs());
        if room < slots {
            return Err(TextError::PromptTooLong {
                template: self.source.clone(),
                tokens: fixed_len,
                max_len: tokenizer.max_len(),
            });
        }
        while a.len() + b.len() > room {
            if a.len() >= b.len() {
                a.pop();
            } else {
                b.pop();
            }
        }
        let mut ids = vec![special.cls];
        let mut type_ids = vec![0];
        let mut segment = 0;
        let mut mask_position = 0;
        for (piece, tokens) in self.pieces.iter().zip(&fixed) {
            let tokens: &[u32] = match piece {
                Piece::Text => &a,
                Piece::TextB => &b,
                _ => tokens,
            };
            if *piece == Piece::Mask {
                mask_position = ids.len();
            }
            ids.extend_from_slice(tokens);
            type_ids.extend(std::iter::repeat_n(segment, tokens.len()));
            // A model with one segment embedding reads the whole prompt as segment 0.
            if *piece == Piece::Sep && tokenizer.type_vocab_size() > 1 {
                segment = 1;
            }
        }
        ids.push(special.sep);
        type_ids.push(segment);
        Ok(PromptEncoding {
            encoding: Encoding { ids, type_ids },
            mask_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenizer(max_len: usize) -> BertTokenizer {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../bert/tests/fixtures/tiny-safetensors-gelu");
        BertTokenizer::from_dir(dir, max_len).unwrap()
    }

    fn tokens(t: &BertTokenizer, e: &Encoding) -> Vec<String> {
        e.ids.iter().map(|&id| t.id_to_token(id).unwrap()).collect()
    }

    #[test]
    fn fills_the_template_as_the_whole_string_would_tokenize() {
        let t = tokenizer(32);
        let template: PromptTemplate = "{text} [SEP] the news is [MASK].".parse().unwrap();
        let p = template.encode(&t, "the cat sat on the mat", None).unwrap();
        let whole = t
            .encode("the cat sat on the mat [SEP] the news is [MASK].", None)
            .unwrap();
        assert_eq!(p.encoding.ids, whole.ids);
        assert_eq!(tokens(&t, &p.encoding)[p.mask_position], "[MASK]");
        // The part after the template's [SEP] is the second segment.
        let sep = p
            .encoding
            .ids
            .iter()
            .position(|&id| id == t.special_tokens().sep)
            .unwrap();
        assert!(p.encoding.type_ids[..=sep].iter().all(|&s| s == 0));
        assert!(p.encoding.type_ids[sep + 1..].iter().all(|&s| s == 1));
    }

    #[test]
    fn a_long_text_is_cut_and_the_mask_kept() {
        let t = tokenizer(12);
        let template: PromptTemplate = "{text} [SEP] the news is [MASK]".parse().unwrap();
        let long = "the cat sat on the mat and the dog sat on the mat";
        let p = template.encode(&t, long, None).unwrap();
        assert_eq!(p.encoding.ids.len(), 12);
        let shown = tokens(&t, &p.encoding);
        assert_eq!(shown[..6], ["[CLS]", "the", "cat", "sat", "on", "the"]);
        assert_eq!(
            shown[6..],
            ["[SEP]", "the", "news", "is", "[MASK]", "[SEP]"]
        );
        assert_eq!(p.mask_position, 10);
        // Pairs: the longer text loses tokens first.
        let pair: PromptTemplate = "{text} is [MASK] with {text_b}".parse().unwrap();
        let p = pair
            .encode(&t, "the cat sat on the mat", Some("a dog"))
            .unwrap();
        let shown = tokens(&t, &p.encoding);
        assert_eq!(
            shown,
            [
                "[CLS]", "the", "cat", "sat", "on", "the", "is", "[MASK]", "with", "a", "dog",
                "[SEP]"
            ]
        );
    }

    #[test]
    fn bad_templates_and_inputs_are_refused() {
        for bad in [
            "no slots",
            "{text} no mask",
            "{text} [MASK] [MASK]",
            "{text} {text} [MASK]",
        ] {
            assert!(bad.parse::<PromptTemplate>().is_err(), "{bad}");
        }
        let t = tokenizer(8);
        let template: PromptTemplate = "{text} the news is about the [MASK] .".parse().unwrap();
        assert!(matches!(
            template.encode(&t, "cat", None),
            Err(TextError::PromptTooLong { .. })
        ));
        let pair: PromptTemplate = "{text} [MASK] {text_b}".parse().unwrap();
        assert!(
            pair.encode(&t, "cat", None).is_err(),
            "a pair template needs text_b"
        );
        // A [MASK] in the text is not a second slot.
        let p = pair.encode(&t, "cat [MASK]", Some("[MASK] dog")).unwrap();
        let mask = t.special_tokens().mask;
        assert_eq!(p.encoding.ids.iter().filter(|&&id| id == mask).count(), 1);
        assert_eq!(p.encoding.ids[p.mask_position], mask);
    }
}
