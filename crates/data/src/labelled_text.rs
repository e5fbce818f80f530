//! `LABEL=TEXT`: a text given for one label (a prompt verbalizer's word, a zero-shot
//! description), read at the edge so that a job holds the label and the text apart.

use std::fmt;
use std::str::FromStr;

/// A text given for a label, both trimmed and non-empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledText {
    /// The label.
    pub label: String,
    /// What is said of it.
    pub text: String,
}

/// `LABEL=TEXT`, split at the first `=` (a text may hold more).
impl FromStr for LabelledText {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.split_once('=')
            .map(|(label, text)| (label.trim(), text.trim()))
            .filter(|(label, text)| !label.is_empty() && !text.is_empty())
            .map(|(label, text)| Self {
                label: label.to_owned(),
                text: text.to_owned(),
            })
            .ok_or_else(|| format!("{s:?}: expected LABEL=TEXT"))
    }
}

impl fmt::Display for LabelledText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.label, self.text)
    }
}

settings::text_serde!(LabelledText);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_and_its_text_split_at_the_first_equals_sign() {
        let pair: LabelledText = " grain = Wheat=corn ".parse().unwrap();
        assert_eq!(
            (pair.label.as_str(), pair.text.as_str()),
            ("grain", "Wheat=corn")
        );
        assert_eq!(pair.to_string(), "grain=Wheat=corn");
        for bad in ["grain", "=word", "grain=", " = "] {
            assert!(bad.parse::<LabelledText>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&pair).unwrap();
        assert_eq!(json, "\"grain=Wheat=corn\"");
        assert_eq!(serde_json::from_str::<LabelledText>(&json).unwrap(), pair);
    }
}
