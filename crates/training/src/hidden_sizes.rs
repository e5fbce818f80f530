//! A head's hidden layer widths as one setting: `linear` (none) or widths joined by
//! `x` (`512x256`), the way a command line, a sweep grid and a report write them.

use std::fmt;
use std::str::FromStr;

/// The widths of a head's hidden layers, input side first; none is a linear head.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HiddenSizes(pub Vec<usize>);

impl HiddenSizes {
    /// No hidden layer: softmax regression.
    pub fn linear() -> Self {
        Self(Vec::new())
    }

    /// True when there is no hidden layer.
    pub fn is_linear(&self) -> bool {
        self.0.is_empty()
    }
}

/// `linear` (also `none` or nothing) or positive widths like `512x256`.
impl FromStr for HiddenSizes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "linear" || s == "none" || s.is_empty() {
            return Ok(Self::linear());
        }
        s.split('x')
            .map(|w| match w.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "bad hidden sizes {s:?}: expected linear or widths like 512x256"
                )),
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

impl fmt::Display for HiddenSizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_linear() {
            return f.write_str("linear");
        }
        let widths: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&widths.join("x"))
    }
}

settings::text_serde!(HiddenSizes);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_read_and_write_as_the_command_line_spells_them() {
        assert_eq!("linear".parse(), Ok(HiddenSizes::linear()));
        assert_eq!("none".parse(), Ok(HiddenSizes::linear()));
        assert_eq!("512x256".parse(), Ok(HiddenSizes(vec![512, 256])));
        assert_eq!(HiddenSizes(vec![512, 256]).to_string(), "512x256");
        assert_eq!(HiddenSizes::linear().to_string(), "linear");
        for bad in ["0", "512x", "x", "big", "256x-1"] {
            assert!(bad.parse::<HiddenSizes>().is_err(), "{bad}");
        }
        let json = serde_json::to_string(&HiddenSizes(vec![64])).unwrap();
        assert_eq!(json, "\"64\"");
        assert_eq!(
            serde_json::from_str::<HiddenSizes>(&json).unwrap(),
            HiddenSizes(vec![64])
        );
    }
}
