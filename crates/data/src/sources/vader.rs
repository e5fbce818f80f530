//! The VADER sentiment ground truth (Hutto & Gilbert, ICWSM 2014), from the PyPI
//! source distribution of `vaderSentiment`: short texts, each with the mean of about
//! 20 people's ratings on [−4, 4]. Two of its corpora are data sets here: tweets and
//! sentences from New York Times editorials (regression).

use std::path::Path;

use super::email::decode_entities;
use super::{Converted, Registry, SourcePackage};
use crate::{BadRow, DataError, Label, Record, stratified_split};

/// The sdist that carries `hutto_ICWSM_2014.tar.gz`.
pub const PACKAGE: SourcePackage = SourcePackage {
    registry: Registry::PyPiSource,
    package: "vaderSentiment",
    version: "3.3.2",
    file: "vaderSentiment-3.3.2.tar.gz",
    sha256: "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    members: "vaderSentiment-3.3.2/additional_resources/",
    nested: Some("vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"),
};

/// The seed of the train/validation/test split, stratified by tenths of the score.
pub const SEED: u64 = 20_261_207;

/// The tweets (4,200).
pub fn convert_tweets(root: &Path) -> Result<Converted, DataError> {
    convert(root, "tweets_GroundTruth.txt", "tweets")
}

/// The New York Times editorial sentences (5,190).
pub fn convert_nyt(root: &Path) -> Result<Converted, DataError> {
    convert(root, "nytEditorialSnippets_GroundTruth.txt", "sentences")
}

/// Reads `hutto_ICWSM_2014/<file>` under `root`: `id<TAB>score<TAB>text` per line
/// (CRLF); HTML entities decoded (the editorials' are escaped twice); a text seen
/// before is dropped, so that no text is in two splits. Splits 70/10/20, stratified
/// by tenths of the score and seeded.
fn convert(root: &Path, file: &str, what: &str) -> Result<Converted, DataError> {
    let path = root.join("hutto_ICWSM_2014").join(file);
    let content = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let mut records = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut duplicates = 0;
    for (index, line) in content.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| DataError::BadRow {
            path: path.clone(),
            row: BadRow {
                line: index as u64 + 1,
                reason: reason.into(),
            },
        };
        let mut fields = line.splitn(3, '\t');
        let (Some(id), Some(score), Some(text)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(bad("expected id, score and text separated by tabs"));
        };
        let score: f64 = score
            .trim()
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite())
            .ok_or_else(|| bad("the score is not a number"))?;
        let text = decode_entities(&decode_entities(text.trim()));
        if !seen.insert(text.clone()) {
            duplicates += 1;
            continue;
        }
        records.push(Record {
            id: id.trim().to_owned(),
            text,
            text_b: None,
            label: Some(Label::Value(score)),
        });
    }
    let total = records.len();
    Ok(Converted {
        splits: stratified_split(records, 0.1, 0.2, SEED),
        split_method: format!(
            "70/10/20, stratified by tenths of the score (by rank), SplitMix64 seed {SEED}"
        ),
        seed: SEED,
        notes: vec![
            format!(
                "{total} {what}; the label is the mean of about 20 human ratings on [-4, 4] \
                 (hutto_ICWSM_2014/{file}); {duplicates} repeated texts dropped"
            ),
            "HTML entities decoded (twice: some are escaped twice at the source)".into(),
            "the individual ratings (*_anonDataRatings.txt beside it) give the spread of human \
             agreement, a ceiling for any model"
                .into(),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ground_truth(lines: &str) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("hutto_ICWSM_2014");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tweets_GroundTruth.txt"), lines).unwrap();
        root
    }

    #[test]
    fn reads_scores_decodes_entities_twice_and_drops_repeated_texts() {
        let mut lines = String::new();
        for i in 0..20 {
            lines += &format!(
                "{i}\t{}\ttext number {i} &amp;amp; more\r\n",
                f64::from(i) / 4.0 - 2.0
            );
        }
        lines += "20\t1.5\ttext number 3 &amp; more\r\n";
        let root = ground_truth(&lines);
        let converted = convert_tweets(root.path()).unwrap();
        let splits = &converted.splits;
        let mut all: Vec<&Record> = splits
            .train
            .iter()
            .chain(&splits.validation)
            .chain(&splits.test)
            .collect();
        assert_eq!(all.len(), 20, "the repeated text is dropped");
        all.sort_by_key(|r| r.id.parse::<u32>().unwrap());
        assert_eq!(all[3].text, "text number 3 & more");
        assert_eq!(all[3].label, Some(Label::Value(-1.25)));
        assert!(converted.notes[0].contains("1 repeated texts dropped"));
    }

    #[test]
    fn a_line_without_a_score_names_its_line() {
        let root = ground_truth("1\t0.5\tfine\r\n2\tgood\tnot a score\r\n");
        match convert_tweets(root.path()) {
            Err(DataError::BadRow { row, .. }) => assert_eq!(row.line, 2),
            other => panic!("expected a bad row, got {other:?}"),
        }
    }
}
