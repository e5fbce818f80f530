use std::collections::BTreeMap;
use std::fmt;

use crate::{Label, Record, SplitMix64};

/// The three parts of a data set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SplitName {
    /// The training split.
    Train,
    /// The validation split (model selection, early stopping).
    Validation,
    /// The test split (reported, never used to choose).
    Test,
}

impl SplitName {
    /// The three splits, in the order they are written.
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Validation, SplitName::Test];

    /// The file name of this split in a canonical data folder.
    pub fn file_name(self) -> &'static str {
        match self {
            SplitName::Train => "train.jsonl",
            SplitName::Validation => "validation.jsonl",
            SplitName::Test => "test.jsonl",
        }
    }
}

impl fmt::Display for SplitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitName::Train => "train",
            SplitName::Validation => "validation",
            SplitName::Test => "test",
        })
    }
}

/// Records divided into train, validation and test.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Splits {
    /// The training records.
    pub train: Vec<Record>,
    /// The validation records.
    pub validation: Vec<Record>,
    /// The test records.
    pub test: Vec<Record>,
}

impl Splits {
    /// The records of one split.
    pub fn get(&self, name: SplitName) -> &[Record] {
        match name {
            SplitName::Train => &self.train,
            SplitName::Validation => &self.validation,
            SplitName::Test => &self.test,
        }
    }
}

/// Splits records into train/validation/test with the given fractions of each class
/// (`validation + test < 1`; train gets the rest), seeded and reproducible.
///
/// Each class is split on its own, so every split keeps the class proportions (up to
/// rounding): a rare class is not left out of validation by chance. Records are
/// ordered by id before shuffling, so the result does not depend on input order.
pub fn stratified_split(records: Vec<Record>, validation: f64, test: f64, seed: u64) -> Splits {
    assert!(
        validation >= 0.0 && test >= 0.0 && validation + test < 1.0,
        "split fractions must leave room for training data"
    );
    let mut splits = Splits::default();
    for class in shuffled_classes(records, seed) {
        let n = class.len();
        let n_test = (n as f64 * test).round() as usize;
        let n_validation = ((n as f64 * validation).round() as usize).min(n - n_test);
        let mut rest = class.into_iter();
        splits.test.extend(rest.by_ref().take(n_test));
        splits.validation.extend(rest.by_ref().take(n_validation));
        splits.train.extend(rest);
    }
    for split in [&mut splits.train, &mut splits.validation, &mut splits.test] {
        split.sort_by(|a, b| a.id.cmp(&b.id));
    }
    splits
}

/// At most `k` records of each class, drawn at random (seeded; ordered by id first,
/// so the draw does not depend on input order), in id order: a few-shot training set.
pub fn per_class_sample(records: Vec<Record>, k: usize, seed: u64) -> Vec<Record> {
    let mut sample: Vec<Record> = shuffled_classes(records, seed)
        .into_iter()
        .flat_map(|class| class.into_iter().take(k))
        .collect();
    sample.sort_by(|a, b| a.id.cmp(&b.id));
    sample
}

/// The fold (0..k) of each example for stratified k-fold cross-validation: each
/// class's examples are shuffled (seeded) and dealt to the folds in turn, continuing
/// from where the previous class stopped, so every fold holds each class's share up
/// to one example and the fold sizes differ by at most one.
pub fn stratified_folds(labels: &[usize], k: usize, seed: u64) -> Vec<usize> {
    assert!(k >= 2, "cross-validation needs at least 2 folds");
    let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, &label) in labels.iter().enumerate() {
        by_class.entry(label).or_default().push(i);
    }
    let mut rng = SplitMix64::new(seed);
    let mut folds = vec![0; labels.len()];
    let mut next = 0;
    for mut members in by_class.into_values() {
        rng.shuffle(&mut members);
        for i in members {
            folds[i] = next % k;
            next += 1;
        }
    }
    folds
}

/// How many groups of neighbouring values a regression data set is stratified in.
pub const VALUE_STRATA: usize = 10;

/// The group (0..bins) of each value: values ranked (ties by position), then cut into
/// `bins` groups of equal size, so that stratifying by group spreads the whole range
/// of a regression target over every split or fold (with [`stratified_folds`]).
pub fn value_bins(values: &[f64], bins: usize) -> Vec<usize> {
    assert!(bins >= 1, "at least one group");
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let mut bin = vec![0; values.len()];
    for (rank, &i) in order.iter().enumerate() {
        bin[i] = rank * bins / values.len();
    }
    bin
}

/// The group a record is stratified in, ordered as the groups are drawn: unlabelled
/// records first, then classes by name; a set of labels is its own group (the label
/// powerset), a value falls in one of [`VALUE_STRATA`] groups of equal size by rank.
fn strata(records: &[Record]) -> Vec<Option<String>> {
    let valued: Vec<(usize, f64)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, r.label.as_ref()?.value()?)))
        .collect();
    let value_bin = value_bins(
        &valued.iter().map(|&(_, v)| v).collect::<Vec<_>>(),
        VALUE_STRATA,
    );
    let mut bins = vec![0; records.len()];
    for (&(i, _), bin) in valued.iter().zip(value_bin) {
        bins[i] = bin;
    }
    records
        .iter()
        .zip(bins)
        .map(|(r, bin)| match r.label.as_ref()? {
            Label::Class(class) => Some(class.clone()),
            Label::Tags(tags) => Some(format!("[{}]", tags.join("\u{1f}"))),
            Label::Value(_) => Some(format!("value stratum {bin:02}")),
        })
        .collect()
}

/// The records of each stratum ([`strata`]: a class, in label order), each ordered by
/// id and then shuffled by one generator seeded with `seed`: the same input in any
/// order, the same result.
fn shuffled_classes(records: Vec<Record>, seed: u64) -> Vec<Vec<Record>> {
    let mut by_class: BTreeMap<Option<String>, Vec<Record>> = BTreeMap::new();
    for (stratum, record) in strata(&records).into_iter().zip(records) {
        by_class.entry(stratum).or_default().push(record);
    }
    let mut rng = SplitMix64::new(seed);
    by_class
        .into_values()
        .map(|mut class| {
            class.sort_by(|a, b| a.id.cmp(&b.id));
            rng.shuffle(&mut class);
            class
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_records::records;

    #[test]
    fn stratified_folds_share_every_class_and_differ_in_size_by_one_at_most() {
        // 23 of class 0, 11 of class 1, 4 of class 2 over 5 folds.
        let labels: Vec<usize> = [(0, 23), (1, 11), (2, 4)]
            .iter()
            .flat_map(|&(c, n)| std::iter::repeat_n(c, n))
            .collect();
        let folds = stratified_folds(&labels, 5, 3);
        let mut sizes = [0usize; 5];
        for &f in &folds {
            sizes[f] += 1;
        }
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        for (class, n) in [(0, 23), (1, 11), (2, 4)] {
            for fold in 0..5 {
                let count = (0..labels.len())
                    .filter(|&i| labels[i] == class && folds[i] == fold)
                    .count();
                assert!(
                    count == n / 5 || count == n / 5 + 1,
                    "class {class} fold {fold}: {count}"
                );
            }
        }
        // Seeded: the same folds again, others under another seed.
        assert_eq!(stratified_folds(&labels, 5, 3), folds);
        assert_ne!(stratified_folds(&labels, 5, 4), folds);
    }

    #[test]
    fn keeps_class_proportions_in_every_split() {
        let splits = stratified_split(records(&[("a", 700), ("b", 200), ("c", 100)]), 0.1, 0.2, 1);
        let count = |split: &[Record], label: &str| {
            split.iter().filter(|r| r.class() == Some(label)).count()
        };
        assert_eq!(
            [
                count(&splits.test, "a"),
                count(&splits.test, "b"),
                count(&splits.test, "c")
            ],
            [140, 40, 20]
        );
        assert_eq!(
            [
                count(&splits.validation, "a"),
                count(&splits.validation, "b"),
                count(&splits.validation, "c")
            ],
            [70, 20, 10]
        );
        assert_eq!(splits.train.len(), 700);
    }

    #[test]
    fn is_reproducible_and_independent_of_input_order() {
        let data = records(&[("a", 50), ("b", 30)]);
        let mut reversed = data.clone();
        reversed.reverse();
        let first = stratified_split(data.clone(), 0.1, 0.2, 42);
        assert_eq!(first, stratified_split(reversed, 0.1, 0.2, 42));
        assert_ne!(first, stratified_split(data, 0.1, 0.2, 43));
    }

    #[test]
    fn a_few_shot_sample_takes_k_of_each_class_or_all_of_a_smaller_one() {
        let data = records(&[("a", 50), ("b", 30), ("c", 3)]);
        let sample = per_class_sample(data.clone(), 8, 5);
        let count = |label: &str| sample.iter().filter(|r| r.class() == Some(label)).count();
        assert_eq!((count("a"), count("b"), count("c")), (8, 8, 3));
        let mut reversed = data.clone();
        reversed.reverse();
        assert_eq!(sample, per_class_sample(reversed, 8, 5));
        assert_ne!(
            sample,
            per_class_sample(data.clone(), 8, 6),
            "another seed, another draw"
        );
        // A larger k draws a superset: the same shuffle, a longer prefix.
        let larger = per_class_sample(data, 16, 5);
        assert!(sample.iter().all(|r| larger.contains(r)));
    }

    #[test]
    fn no_record_is_lost_or_duplicated() {
        let data = records(&[("a", 33), ("b", 7), ("c", 1)]);
        let splits = stratified_split(data.clone(), 0.15, 0.15, 3);
        let mut ids: Vec<_> = SplitName::ALL
            .iter()
            .flat_map(|&s| splits.get(s).iter().map(|r| r.id.clone()))
            .collect();
        ids.sort();
        let mut expected: Vec<_> = data.into_iter().map(|r| r.id).collect();
        expected.sort();
        assert_eq!(ids, expected);
    }

    /// Values are stratified by rank: each tenth of the range gives the test split
    /// its share, so a split cannot hold only the high or only the low values.
    #[test]
    fn values_are_stratified_by_their_tenth_of_the_range() {
        let data: Vec<Record> = (0..100)
            .map(|i| Record {
                id: format!("r{i:03}"),
                text: "t".into(),
                text_b: None,
                label: Some(Label::Value(f64::from(i) * 0.37 - 10.0)),
            })
            .collect();
        let splits = stratified_split(data, 0.1, 0.2, 7);
        for tenth in 0..10 {
            let in_tenth = |r: &&Record| {
                let i: usize = r.id[1..].parse().unwrap();
                i / 10 == tenth
            };
            assert_eq!(
                splits.test.iter().filter(in_tenth).count(),
                2,
                "tenth {tenth}"
            );
            assert_eq!(
                splits.validation.iter().filter(in_tenth).count(),
                1,
                "tenth {tenth}"
            );
        }
    }

    #[test]
    fn value_bins_cut_the_ranked_values_into_equal_groups() {
        let values = [0.3, -1.0, 0.3, 5.0, 2.0, -7.0];
        // Ranks: −7 (5), −1 (1), 0.3 (0), 0.3 (2), 2 (4), 5 (3) → 3 bins of 2.
        assert_eq!(value_bins(&values, 3), [1, 0, 1, 2, 2, 0]);
        assert_eq!(value_bins(&values, 1), [0; 6]);
    }
}
