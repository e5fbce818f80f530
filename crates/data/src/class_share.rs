//! An imbalanced task made from a balanced one: one class under-sampled to a given
//! share of a split, for studying imbalance remedies on data whose other classes
//! stay as they are.

use std::fmt;
use std::str::FromStr;

use crate::{Record, SplitMix64};

/// `LABEL=SHARE`: keep only as many `LABEL` records as make `SHARE` of the split.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassShare {
    /// The class whose share is set.
    pub label: String,
    /// The class's share of the split afterwards, in (0, 1).
    pub share: f64,
}

impl ClassShare {
    /// `records` with the class cut to its share: `m = share · others / (1 − share)`
    /// records of it kept, drawn at random (seeded; ordered by id first, so the draw
    /// does not depend on input order), the others untouched and in their order.
    ///
    /// Errors when the class is absent, or already below the share (cutting cannot
    /// raise it).
    pub fn apply(&self, records: Vec<Record>, seed: u64) -> Result<Vec<Record>, String> {
        let is_class = |r: &Record| r.class() == Some(self.label.as_str());
        let (mut class, others): (Vec<Record>, Vec<Record>) =
            records.into_iter().partition(is_class);
        if class.is_empty() {
            return Err(format!("no record has label {:?}", self.label));
        }
        let keep = (self.share * others.len() as f64 / (1.0 - self.share)).round() as usize;
        if keep > class.len() {
            return Err(format!(
                "{} has {} of {} records ({:.1}%), already below the asked share {:.1}%",
                self.label,
                class.len(),
                class.len() + others.len(),
                100.0 * class.len() as f64 / (class.len() + others.len()) as f64,
                100.0 * self.share
            ));
        }
        class.sort_by(|a, b| a.id.cmp(&b.id));
        SplitMix64::new(seed).shuffle(&mut class);
        class.truncate(keep.max(1));
        let mut kept = others;
        kept.extend(class);
        kept.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(kept)
    }
}

impl FromStr for ClassShare {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (label, share) = s
            .rsplit_once('=')
            .ok_or_else(|| format!("{s:?}: expected LABEL=SHARE, e.g. spam=0.05"))?;
        let share: f64 = share
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: {share:?} is not a number"))?;
        if !(share > 0.0 && share < 1.0) {
            return Err(format!("{s:?}: the share must be between 0 and 1"));
        }
        if label.trim().is_empty() {
            return Err(format!("{s:?}: no label before '='"));
        }
        Ok(Self {
            label: label.trim().to_owned(),
            share,
        })
    }
}

impl fmt::Display for ClassShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.label, self.share)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_records::records;

    fn count(records: &[Record], label: &str) -> usize {
        records.iter().filter(|r| r.class() == Some(label)).count()
    }

    #[test]
    fn cuts_the_class_to_its_share_and_keeps_the_others() {
        // 950 ham: 5% spam means 950 · 0.05 / 0.95 = 50 spam.
        let share: ClassShare = "spam=0.05".parse().unwrap();
        let kept = share
            .apply(records(&[("ham", 950), ("spam", 400)]), 7)
            .unwrap();
        assert_eq!(count(&kept, "spam"), 50);
        assert_eq!(count(&kept, "ham"), 950);
        let again = share
            .apply(records(&[("spam", 400), ("ham", 950)]), 7)
            .unwrap();
        assert_eq!(
            kept, again,
            "the draw depends on the seed, not the input order"
        );
        let other = share
            .apply(records(&[("ham", 950), ("spam", 400)]), 8)
            .unwrap();
        assert_ne!(kept, other);
    }

    #[test]
    fn refuses_what_it_cannot_do() {
        let share: ClassShare = "spam=0.5".parse().unwrap();
        let err = share
            .apply(records(&[("ham", 90), ("spam", 10)]), 1)
            .unwrap_err();
        assert!(err.contains("already below"), "{err}");
        assert!(share.apply(records(&[("ham", 90)]), 1).is_err());
        for bad in ["spam", "spam=1", "spam=0", "=0.1", "spam=x"] {
            assert!(bad.parse::<ClassShare>().is_err(), "{bad}");
        }
        assert_eq!("a=b=0.25".parse::<ClassShare>().unwrap().label, "a=b");
    }
}
