//! Labelled records for the unit tests: `n` of each label, ids `label-0000`, ….

use crate::Record;

pub(crate) fn records(counts: &[(&str, usize)]) -> Vec<Record> {
    counts
        .iter()
        .flat_map(|&(label, n)| {
            (0..n).map(move |i| Record {
                id: format!("{label}-{i:04}"),
                text: format!("text {i}"),
                text_b: None,
                label: Some(label.into()),
            })
        })
        .collect()
}
