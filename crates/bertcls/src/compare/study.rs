//! What every kind of study shares, below the designs that run them: a study under
//! way ([`Study`]: the user's settings with the suite's defaults, its folder, its
//! data sets), settings tables applied over a job's serde form, comparisons run or
//! reused when a study resumes, and what a finished study leaves ([`Studied`]).

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CompareJob, Compared, compare};
use crate::Observer;
use crate::error::{Context, JobError, Result, refuse, refused};

/// Settings of a job, by field name, as a suite gives them.
pub type SettingsTable = toml::Table;

/// The part of a suite every kind of study has.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteCommon {
    /// Names the study's folder (`suite-NAME-<timestamp>`).
    pub name: String,
    /// What the study asks, for its report.
    #[serde(default)]
    pub question: String,
    /// Comparison settings applied where the user left them unset.
    #[serde(default)]
    pub defaults: SettingsTable,
    /// The head grid of every sweep (a `head sweep --grid-file`), unless the user
    /// gives one.
    #[serde(default)]
    pub heads: Option<SettingsTable>,
    /// The data sets, each as the comparison settings that make it; the user's
    /// `--data` replaces them.
    pub data: Vec<DataSet>,
}

impl SuiteCommon {
    pub(crate) const KEYS: [&'static str; 5] = ["name", "question", "defaults", "heads", "data"];
}

/// A data set of a study.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSet {
    /// Its name in the report.
    pub name: String,
    /// The comparison settings that make it (`data`, `class_share`, …).
    #[serde(default)]
    pub settings: SettingsTable,
}

/// What a finished study left: its folder, its tables and its report.
pub struct Studied {
    /// The study's folder.
    pub dir: PathBuf,
    /// The tables, as text for a terminal.
    pub tables: String,
    /// The HTML report.
    pub report: PathBuf,
    /// The study's wall time.
    pub wall_seconds: f64,
}

/// A study under way: the suite, the user's settings with the suite's defaults, and
/// the study's folder.
pub(crate) struct Study<'a> {
    pub common: &'a SuiteCommon,
    /// The user's settings, the suite's defaults where they left one unset.
    pub base: CompareJob,
    /// The user's settings as given.
    pub user: &'a CompareJob,
    pub dir: &'a Path,
    /// Whether the study resumes in `dir`: its finished comparisons are read back.
    pub resuming: bool,
}

impl Study<'_> {
    /// The comparison `args` describe, or, when the study is resumed and `args.out`
    /// already holds a complete one (its `results.json` is written last), that one.
    pub(crate) fn compare_or_reuse(
        &self,
        args: &CompareJob,
        observer: &mut dyn Observer,
    ) -> Result<Compared> {
        if self.resuming {
            let finished = std::fs::read_dir(&args.out)
                .into_iter()
                .flatten()
                .flatten()
                .map(|entry| entry.path())
                .find(|dir| dir.join(report::RESULTS_FILE).is_file());
            if let Some(dir) = finished {
                observer.note(&format!("already done: {}", dir.display()));
                let comparison = report::read_results(&dir.join(report::RESULTS_FILE))?;
                return Ok(Compared { comparison, dir });
            }
        }
        compare(args, observer)
    }

    /// The data sets to run: the user's `--data` alone, else the suite's.
    pub(crate) fn data_sets(&self) -> Vec<DataSet> {
        match &self.user.data {
            Some(data) => vec![DataSet {
                name: Path::new(data)
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or(data)
                    .to_owned(),
                settings: SettingsTable::new(),
            }],
            None => self.common.data.clone(),
        }
    }

    /// The base settings with a data set's applied.
    pub(crate) fn on(&self, set: &DataSet) -> Result<CompareJob> {
        apply(
            &self.base,
            &set.settings,
            &format!("data set {:?}", set.name),
        )
    }

    /// The path of `path` inside the study's folder, for its report.
    pub(crate) fn relative(&self, path: &Path) -> String {
        path.strip_prefix(self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Refuses settings the user gave that the study sets itself (`what` says how).
    pub(crate) fn refuse_user_settings(&self, keys: &[&str], what: &str) -> Result<()> {
        let given = changed_settings(self.user)?;
        match given.into_iter().find(|(k, _)| keys.contains(&k.as_str())) {
            Some((setting, value)) => Err(JobError::SetByStudy {
                setting,
                value: match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                },
                reason: what.to_string(),
            }),
            None => Ok(()),
        }
    }
}

/// The settings of `job` that differ from a default comparison's, with their values.
fn changed_settings(job: &CompareJob) -> Result<Vec<(String, Value)>> {
    let (Value::Object(given), Value::Object(default)) = (
        serde_json::to_value(job)?,
        serde_json::to_value(CompareJob::default())?,
    ) else {
        return Err(refused!("a comparison serializes to a table of settings"));
    };
    Ok(given
        .into_iter()
        .filter(|(k, v)| default.get(k) != Some(v))
        .collect())
}

/// The user's settings with the suite's defaults where they left one unset, and its
/// head grid (written into the study's folder) unless they gave one.
pub(crate) fn with_defaults(
    args: &CompareJob,
    common: &SuiteCommon,
    dir: &Path,
) -> Result<CompareJob> {
    let Value::Object(given) = serde_json::to_value(args)? else {
        return Err(refused!("a comparison serializes to a table of settings"));
    };
    let unset: SettingsTable = common
        .defaults
        .iter()
        .filter(|(key, _)| given.get(key.as_str()).is_some_and(Value::is_null))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut base = apply(args, &unset, "[defaults]")?;
    if let (None, Some(grid)) = (&base.heads, &common.heads) {
        let path = dir.join("heads.toml");
        let text = toml::to_string(grid).map_err(|e| refused!("[heads]: {e}"))?;
        artifacts::write_atomic(&path, text.as_bytes())?;
        base.heads = Some(path);
    }
    Ok(base)
}

/// `base` with `settings` applied over its serde form: each key a field of `T` (an
/// unknown one is refused, naming those there are), each value one it accepts.
pub(crate) fn apply<T: Serialize + DeserializeOwned>(
    base: &T,
    settings: &SettingsTable,
    what: &str,
) -> Result<T> {
    let Value::Object(mut fields) = serde_json::to_value(base)? else {
        return Err(refused!("{what}: settings apply to a table of settings"));
    };
    for (key, value) in settings {
        if !fields.contains_key(key) {
            let mut known: Vec<&String> = fields.keys().collect();
            known.sort();
            refuse!(
                "{what}: no setting named {key}; the settings are {}",
                known
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        fields.insert(key.clone(), serde_json::to_value(value)?);
    }
    serde_json::from_value(Value::Object(fields))
        .with_context(|| format!("{what}: a setting's value"))
}

/// The settings of a study's comparisons, in words, for its report.
pub(crate) fn recipe_line(base: &CompareJob) -> String {
    format!(
        "model {}, max_len {}, backend {}, {} seeds from {}",
        base.model.display(),
        base.max_len(),
        base.backend,
        base.seed_list().len(),
        base.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_apply_over_a_job_and_defaults_fill_only_what_is_unset() {
        let base = CompareJob {
            epochs: Some(5),
            ..CompareJob::default()
        };
        let table: SettingsTable =
            toml::from_str("epochs = 1\nmax_len = 32\nclass_weights = \"balanced\"").unwrap();
        let applied = apply(&base, &table, "test").unwrap();
        assert_eq!(applied.epochs, Some(1));
        assert_eq!(applied.max_len, Some(32));
        assert!(applied.loss.class_weights.is_some());

        let dir = tempfile::tempdir().unwrap();
        let common = SuiteCommon {
            name: "t".into(),
            defaults: toml::from_str("epochs = 1\nmax_len = 32").unwrap(),
            ..SuiteCommon::default()
        };
        let with = with_defaults(&base, &common, dir.path()).unwrap();
        assert_eq!(with.epochs, Some(5), "the user's setting stands");
        assert_eq!(with.max_len, Some(32), "the default fills the unset one");
    }
}
