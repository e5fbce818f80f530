//! `r8-tags`: a multi-label data set composed from R8, because no multi-label text
//! corpus turned up in the registries (see the manifest's notes). Each record joins
//! the opening passages of one to three R8 news wires of different topics, and its
//! labels are their topics: real texts and real topics, in an artificial mixture.

use std::path::Path;

use super::{Converted, r8};
use crate::{DataError, Label, Record, SplitMix64, Splits};

/// The seed of the composition (R8's own split keeps its seed).
pub const SEED: u64 = 20_261_207;

/// The words kept of each wire: its opening, where a wire says what it is about.
pub const PASSAGE_WORDS: usize = 30;

/// R8's train, validation and test splits, each composed on its own (no wire is in
/// two splits, and each is used once).
pub fn convert(root: &Path) -> Result<Converted, DataError> {
    let r8 = r8::convert(root)?;
    let mut rng = SplitMix64::new(SEED);
    let splits = Splits {
        train: compose(&r8.splits.train, &mut rng),
        validation: compose(&r8.splits.validation, &mut rng),
        test: compose(&r8.splits.test, &mut rng),
    };
    Ok(Converted {
        splits,
        split_method: format!(
            "R8's splits ({}), each composed on its own with SplitMix64 seed {SEED}",
            r8.split_method
        ),
        seed: SEED,
        notes: vec![
            "composed, not collected: no multi-label text corpus was found in the PyPI or npm \
             package lists (Reuters-21578 with all topics, GoEmotions, toxic comments, \
             arXiv and Stack Overflow tags were looked for; PyPI `nltkdata` is empty)"
                .into(),
            format!(
                "each record joins the first {PASSAGE_WORDS} words of 1 to 3 R8 wires (1 with \
                 probability 0.5, 2 with 0.35, 3 with 0.15) of different topics, in the order \
                 drawn, separated by a space; its labels are their topics; its id lists the \
                 wires' R8 ids joined by '+'; every wire is used once"
            ),
            "the label frequencies follow R8's (earn and acq dominate); a record always has \
             at least one label"
                .into(),
        ]
        .into_iter()
        .chain(r8.notes)
        .collect(),
    })
}

/// Composite records of `records`: the wires shuffled (from id order, so the input's
/// order does not matter), then taken in turn, each composite drawing how many wires
/// it joins and taking the next ones whose topics it lacks.
fn compose(records: &[Record], rng: &mut SplitMix64) -> Vec<Record> {
    let mut pool: Vec<&Record> = records.iter().collect();
    pool.sort_by(|a, b| a.id.cmp(&b.id));
    rng.shuffle(&mut pool);
    let mut composed = Vec::new();
    while !pool.is_empty() {
        let wanted = match rng.below(20) {
            0..10 => 1,
            10..17 => 2,
            _ => 3,
        };
        let mut parts = vec![pool.remove(0)];
        while parts.len() < wanted {
            let new_topic = pool
                .iter()
                .position(|r| parts.iter().all(|p| p.class() != r.class()));
            match new_topic {
                Some(i) => parts.push(pool.remove(i)),
                None => break,
            }
        }
        let passages: Vec<String> = parts
            .iter()
            .map(|r| {
                let words: Vec<&str> = r.text.split_whitespace().take(PASSAGE_WORDS).collect();
                words.join(" ")
            })
            .collect();
        composed.push(Record {
            id: parts
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            text: passages.join(" "),
            text_b: None,
            label: Some(Label::tags(parts.iter().filter_map(|r| r.class()))),
        });
    }
    composed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wires() -> Vec<Record> {
        (0..60)
            .map(|i| Record {
                id: format!("w{i:02}"),
                text: (0..40)
                    .map(|w| format!("t{i}w{w}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                text_b: None,
                label: Some(["earn", "acq", "crude", "ship"][i % 4].into()),
            })
            .collect()
    }

    #[test]
    fn every_wire_is_used_once_and_a_record_is_labelled_by_its_wires_topics() {
        let wires = wires();
        let composed = compose(&wires, &mut SplitMix64::new(1));
        let mut used: Vec<&str> = composed.iter().flat_map(|r| r.id.split('+')).collect();
        used.sort();
        let mut all: Vec<&str> = wires.iter().map(|r| r.id.as_str()).collect();
        all.sort();
        assert_eq!(used, all);
        let sizes: Vec<usize> = composed.iter().map(|r| r.id.split('+').count()).collect();
        assert!(
            sizes.contains(&1) && sizes.contains(&2) && sizes.contains(&3),
            "{sizes:?}"
        );
        for record in &composed {
            let parts: Vec<&Record> = record
                .id
                .split('+')
                .map(|id| wires.iter().find(|w| w.id == id).unwrap())
                .collect();
            let topics = Label::tags(parts.iter().filter_map(|p| p.class()));
            assert_eq!(record.label.as_ref(), Some(&topics));
            let tags = topics.tag_list().unwrap().len();
            assert_eq!(tags, parts.len(), "{}: topics repeat", record.id);
            // Each wire's first 30 words, in order.
            let expected: Vec<String> = parts
                .iter()
                .map(|p| {
                    p.text
                        .split(' ')
                        .take(PASSAGE_WORDS)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            assert_eq!(record.text, expected.join(" "));
        }
        let mut shuffled = wires.clone();
        shuffled.reverse();
        assert_eq!(compose(&shuffled, &mut SplitMix64::new(1)), composed);
    }
}
