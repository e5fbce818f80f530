//! Which files a comparison runs on: a fetched data set, a folder of split files, or
//! one labelled file split here; for a quick comparison, stratified subsets of them.
//!
//! Derived splits are written as JSONL under a folder named by the checksum of their
//! sources and of how they were derived, so a repeated comparison reads the very same
//! files and every embedding cache is a hit.

use std::path::{Path, PathBuf};

use data::{
    ClassShare, Record, Splits, per_class_sample, sha256_file, stratified_split, write_jsonl,
};
use settings::SettingError;
use sha2::{Digest, Sha256};

use super::CompareJob;
use crate::Observer;
use crate::error::{Context, Result, refuse};
use crate::options::Columns;

/// Training, validation and test files, ready for the stages.
pub(crate) struct ComparisonData {
    /// The data's name in reports and folder names.
    pub name: String,
    /// The training file.
    pub train: PathBuf,
    /// The validation file.
    pub valid: PathBuf,
    /// The test file.
    pub test: PathBuf,
    /// The columns the stages read these files with (the standard ones for derived
    /// JSONL).
    pub columns: Columns,
    /// The records, as the stages will read them.
    pub splits: Splits,
    /// How the files were derived from the user's, when they were.
    pub derivation: Option<String>,
    /// The data folder's manifest.json, when it has one.
    pub manifest: Option<serde_json::Value>,
}

/// How many records of each split a comparison keeps (a quick comparison; the robustness
/// study's training cap), drawn stratified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subset {
    /// Training records at most.
    pub train: usize,
    /// Validation records at most.
    pub valid: usize,
    /// Test records at most.
    pub test: usize,
}

/// What the user asked for.
pub(crate) struct DataRequest<'a> {
    /// A fetched data set's name (data/NAME) or a path.
    pub spec: &'a str,
    /// How the user's files are read.
    pub columns: &'a Columns,
    /// Fractions held out for validation and test when the data lacks those splits.
    pub holdout: (f64, f64),
    /// One class cut to a share of the training and validation splits.
    pub class_share: Option<&'a ClassShare>,
    /// Few-shot: at most this many records per class in training and validation.
    pub shots: Option<usize>,
    /// Stratified subsets of every split.
    pub subset: Option<Subset>,
    /// Decides every random draw.
    pub seed: u64,
    /// Where derived splits are written.
    pub work_dir: &'a Path,
}

impl<'a> DataRequest<'a> {
    /// The data `args` asks for, its derived splits written in `work_dir`.
    pub(crate) fn of(args: &'a CompareJob, work_dir: &'a Path) -> Self {
        Self {
            spec: args.data.as_deref().unwrap_or(args.defaults().data),
            columns: &args.columns,
            holdout: (args.holdout[0], args.holdout[1]),
            class_share: args.class_share.as_ref(),
            shots: args.shots,
            subset: args.defaults().subset,
            seed: args.seed,
            work_dir,
        }
    }
}

const EXTENSIONS: [&str; 3] = ["jsonl", "csv", "tsv"];

/// The splits `request` asks for: found, held out, cut and written as it says.
pub(crate) fn resolve(
    request: &DataRequest<'_>,
    observer: &mut dyn Observer,
) -> Result<ComparisonData> {
    let files = SourceFiles::locate(request.spec)?;
    let mut splits = files.read(request.columns, observer)?;
    let derivation: Vec<String> = [
        hold_out(&mut splits, &files, request),
        cut_class_share(&mut splits, request)?,
        cut_shots(&mut splits, request),
        take_subset(&mut splits, request),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (split, records) in [
        ("training", &splits.train),
        ("validation", &splits.validation),
        ("test", &splits.test),
    ] {
        if records.is_empty() {
            let name = &files.name;
            refuse!(
                "{name}: the {split} split is empty; give more data or other " [holdout]
                " fractions"
            );
        }
    }
    match (derivation.is_empty(), &files.valid, &files.test) {
        (true, Some(valid), Some(test)) => Ok(ComparisonData {
            valid: valid.clone(),
            test: test.clone(),
            name: files.name,
            train: files.train,
            columns: request.columns.clone(),
            splits,
            derivation: None,
            manifest: files.manifest,
        }),
        _ => write_derived(files, splits, derivation.join("; "), request.work_dir),
    }
}

/// The user's files: a training file, the validation and test files a folder has,
/// and its manifest.
struct SourceFiles {
    name: String,
    train: PathBuf,
    valid: Option<PathBuf>,
    test: Option<PathBuf>,
    manifest: Option<serde_json::Value>,
}

impl SourceFiles {
    fn locate(spec: &str) -> Result<Self> {
        let (name, folder) = locate(spec)?;
        let Some(dir) = folder else {
            return Ok(Self {
                name,
                train: PathBuf::from(spec),
                valid: None,
                test: None,
                manifest: None,
            });
        };
        Ok(Self {
            name,
            train: find_split(&dir, &["train"]).with_context(|| {
                format!("{}: no train.jsonl, train.csv or train.tsv", dir.display())
            })?,
            valid: find_split(&dir, &["validation", "valid", "dev"]),
            test: find_split(&dir, &["test"]),
            manifest: read_manifest(&dir)?,
        })
    }

    /// The records of each file (empty for a split there is no file of).
    fn read(&self, columns: &Columns, observer: &mut dyn Observer) -> Result<Splits> {
        let mut read = |path: Option<&Path>| -> Result<Vec<Record>> {
            path.map_or(Ok(Vec::new()), |path| columns.read(path, true, observer))
        };
        Ok(Splits {
            train: read(Some(&self.train))?,
            validation: read(self.valid.as_deref())?,
            test: read(self.test.as_deref())?,
        })
    }
}

/// Holds validation and test records out of training where the data has no file of
/// them.
fn hold_out(splits: &mut Splits, files: &SourceFiles, request: &DataRequest<'_>) -> Option<String> {
    let fraction = |file: &Option<PathBuf>, asked: f64| if file.is_some() { 0.0 } else { asked };
    let valid_fraction = fraction(&files.valid, request.holdout.0);
    let test_fraction = fraction(&files.test, request.holdout.1);
    if valid_fraction + test_fraction <= 0.0 {
        return None;
    }
    let held = stratified_split(
        std::mem::take(&mut splits.train),
        valid_fraction,
        test_fraction,
        request.seed,
    );
    splits.train = held.train;
    if files.valid.is_none() {
        splits.validation = held.validation;
    }
    if files.test.is_none() {
        splits.test = held.test;
    }
    Some(format!(
        "held out of {} (stratified, seed {}): validation {valid_fraction}, test {test_fraction}",
        files.train.display(),
        request.seed
    ))
}

/// Cuts one class to a share of the training and validation splits.
fn cut_class_share(splits: &mut Splits, request: &DataRequest<'_>) -> Result<Option<String>> {
    let Some(share) = request.class_share else {
        return Ok(None);
    };
    for (split, records) in [
        ("training", &mut splits.train),
        ("validation", &mut splits.validation),
    ] {
        *records = share
            .apply(std::mem::take(records), request.seed)
            .map_err(|e| {
                SettingError::new("class_share", share, format!("the {split} split: {e}"))
            })?;
    }
    Ok(Some(format!(
        "class share {share}: {} cut to {:.1}% of the training and validation splits at random (seed {}); test untouched",
        share.label,
        100.0 * share.share,
        request.seed
    )))
}

/// Few-shot: at most k records per class of the training and validation splits.
fn cut_shots(splits: &mut Splits, request: &DataRequest<'_>) -> Option<String> {
    let k = request.shots?;
    splits.train = per_class_sample(std::mem::take(&mut splits.train), k, request.seed);
    splits.validation = per_class_sample(std::mem::take(&mut splits.validation), k, request.seed);
    Some(format!(
        "{k} shots: at most {k} records per class of the training and validation splits, at random (seed {}); test untouched",
        request.seed
    ))
}

/// Stratified subsets of every split.
fn take_subset(splits: &mut Splits, request: &DataRequest<'_>) -> Option<String> {
    let subset = request.subset?;
    let seed = request.seed;
    splits.train = stratified_subset(std::mem::take(&mut splits.train), subset.train, seed);
    splits.validation =
        stratified_subset(std::mem::take(&mut splits.validation), subset.valid, seed);
    splits.test = stratified_subset(std::mem::take(&mut splits.test), subset.test, seed);
    let at_most = |n: usize| {
        if n == usize::MAX {
            "all".to_owned()
        } else {
            n.to_string()
        }
    };
    Some(format!(
        "stratified subsets of at most {} / {} / {} training / validation / test records (seed {seed})",
        at_most(subset.train),
        at_most(subset.valid),
        at_most(subset.test),
    ))
}

/// Writes derived splits as JSONL into a folder named by their sources and
/// derivation, so a repeated comparison reads the very same files.
fn write_derived(
    files: SourceFiles,
    splits: Splits,
    derivation: String,
    work_dir: &Path,
) -> Result<ComparisonData> {
    let sources: Vec<&PathBuf> = [
        Some(&files.train),
        files.valid.as_ref(),
        files.test.as_ref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let dir = derived_dir(work_dir, &files.name, &sources, &derivation)?;
    let write = |file: &str, records: &[Record]| -> Result<PathBuf> {
        let path = dir.join(file);
        write_jsonl(&path, records)?;
        Ok(path)
    };
    Ok(ComparisonData {
        train: write("train.jsonl", &splits.train)?,
        valid: write("validation.jsonl", &splits.validation)?,
        test: write("test.jsonl", &splits.test)?,
        name: files.name,
        columns: Columns::default(),
        splits,
        derivation: Some(derivation),
        manifest: files.manifest,
    })
}

/// A path (file or folder) as given, or a fetched data set's folder `data/NAME`.
fn locate(spec: &str) -> Result<(String, Option<PathBuf>)> {
    let path = Path::new(spec);
    let stem = |p: &Path| {
        p.file_stem()
            .map_or_else(|| "data".to_owned(), |s| s.to_string_lossy().into_owned())
    };
    if path.is_dir() {
        return Ok((stem(path), Some(path.to_owned())));
    }
    if path.is_file() {
        return Ok((stem(path), None));
    }
    if data::is_stdin(path) || path.exists() {
        refuse!(
            "{} is not a regular file or folder: a comparison reads its data more than once \
             (to split it, and to record its checksum in the report), which standard input, \
             a pipe or a device cannot give; save the data to a file and name that",
            data::source_name(path).display()
        );
    }
    let fetched = Path::new("data").join(spec);
    if fetched.is_dir() {
        return Ok((spec.to_owned(), Some(fetched)));
    }
    let known: Vec<&str> = data::sources::DATASETS.iter().map(|d| d.name).collect();
    if known.contains(&spec) {
        refuse!(
            "data set {spec} is not fetched yet: run `cargo xtask fetch data {spec}` (`cargo xtask compare` fetches the data it compares)"
        );
    }
    let known = known.join(", ");
    Err(SettingError::new(
        "data",
        spec,
        format!("no such file or folder, and not a known data set ({known})"),
    )
    .into())
}

/// `dir/NAME.EXT` for the first name and extension that exists.
fn find_split(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .flat_map(|n| EXTENSIONS.iter().map(move |e| dir.join(format!("{n}.{e}"))))
        .find(|p| p.is_file())
}

fn read_manifest(dir: &Path) -> Result<Option<serde_json::Value>> {
    let path = dir.join("manifest.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let value =
        serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
    Ok(Some(value))
}

/// About `n` records, each class keeping its share (all of them when there are
/// fewer), and every class at least one record: a class rounded away would be
/// missing from training while the test set still holds it.
fn stratified_subset(records: Vec<Record>, n: usize, seed: u64) -> Vec<Record> {
    if records.len() <= n {
        return records;
    }
    let fraction = n as f64 / records.len() as f64;
    let split = stratified_split(records, 0.0, fraction, seed);
    let mut subset = split.test;
    let kept: std::collections::BTreeSet<Option<String>> = subset
        .iter()
        .map(|r| r.class().map(str::to_owned))
        .collect();
    let mut added = std::collections::BTreeSet::new();
    for record in split.train {
        let class = record.class().map(str::to_owned);
        if !kept.contains(&class) && added.insert(class) {
            subset.push(record);
        }
    }
    subset.sort_by(|a, b| a.id.cmp(&b.id));
    subset
}

/// `work_dir/NAME-KEY`, KEY from the sources' checksums and the derivation.
fn derived_dir(
    work_dir: &Path,
    name: &str,
    sources: &[&PathBuf],
    derivation: &str,
) -> Result<PathBuf> {
    let mut key = Sha256::new();
    for source in sources {
        key.update(sha256_file(source)?.as_bytes());
    }
    key.update(derivation.as_bytes());
    let dir = work_dir.join(format!("{name}-{}", &format!("{:x}", key.finalize())[..12]));
    Ok(artifacts::claim_dir(
        &dir,
        artifacts::ArtifactKind::DataSplits,
        artifacts::Overwrite::SameKind,
    )?)
}
