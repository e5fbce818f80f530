//! Studies as data: a suite is a TOML file (the built-in ones are in
//! `crates/bertcls/suites/`) naming its data sets, its defaults and, per kind of
//! study, its arms. Settings in a suite are a job's own fields, applied to its serde
//! form, so a suite can set anything a command line can and a typo is refused with
//! the list of settings there are.
//!
//! Three kinds of study exist, each with its own report: `imbalance` (arms of
//! comparison settings against a baseline), `few-shot` (k examples per class, three
//! methods against zero-shot) and `robustness` (arms of training recipes, scored on
//! clean and perturbed tests).

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CompareJob, Compared, compare, fresh_dir};
use crate::Observer;
use crate::error::{Context, JobError, Result, refuse, refused};
use crate::machine;

/// Settings of a job, by field name, as a suite gives them.
pub type SettingsTable = toml::Table;

/// The built-in suites: their names and their files.
const BUILT_IN: &[(&str, &str)] = &[
    ("imbalance", include_str!("../../suites/imbalance.toml")),
    ("few-shot", include_str!("../../suites/few-shot.toml")),
    ("robustness", include_str!("../../suites/robustness.toml")),
];

/// Where a suite comes from: a built-in one by name, or a TOML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteSource {
    /// One of the suites shipped with bertcls.
    BuiltIn(String),
    /// A suite file.
    File(PathBuf),
}

impl SuiteSource {
    /// The names of the built-in suites.
    pub fn built_in() -> impl Iterator<Item = &'static str> {
        BUILT_IN.iter().map(|(name, _)| *name)
    }

    /// The suite's TOML text.
    pub fn text(&self) -> Result<String> {
        match self {
            SuiteSource::BuiltIn(name) => BUILT_IN
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, text)| (*text).to_owned())
                .with_context(|| format!("no built-in suite named {name}")),
            SuiteSource::File(path) => Ok(data::read_text_file(path)?),
        }
    }

    /// The suite, parsed and checked.
    pub fn load(&self) -> Result<Suite> {
        Suite::parse(&self.text()?).with_context(|| format!("the suite {self}"))
    }
}

impl FromStr for SuiteSource {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        if Self::built_in().any(|name| name == text) {
            return Ok(SuiteSource::BuiltIn(text.to_owned()));
        }
        let path = Path::new(text);
        if path.extension().is_some_and(|e| e == "toml") || path.is_file() {
            return Ok(SuiteSource::File(path.to_owned()));
        }
        Err(format!(
            "no built-in suite named {text} ({}), and not a .toml file",
            Self::built_in().collect::<Vec<_>>().join(", ")
        ))
    }
}

impl fmt::Display for SuiteSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuiteSource::BuiltIn(name) => f.write_str(name),
            SuiteSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A study: what every kind shares, and its design.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// Names, question, defaults, head grid, data sets.
    pub common: SuiteCommon,
    /// What the kind of study runs.
    pub design: Design,
}

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
    const KEYS: [&'static str; 5] = ["name", "question", "defaults", "heads", "data"];
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

/// What a kind of study runs, beyond what every study has.
#[derive(Debug, Clone, PartialEq)]
pub enum Design {
    /// Arms of comparison settings against a baseline.
    Imbalance(super::imbalance::ImbalanceDesign),
    /// k examples per class; three methods against zero-shot.
    FewShot(super::few_shot::FewShotDesign),
    /// Arms of training recipes, scored on clean and perturbed tests.
    Robustness(super::robustness::RobustnessDesign),
}

impl Suite {
    /// Parses a suite file's text: `study = "imbalance" | "few-shot" | "robustness"`,
    /// the common part, the design.
    pub fn parse(text: &str) -> Result<Self> {
        let mut table: toml::Table = toml::from_str(text)?;
        let kind = match table.remove("study") {
            Some(toml::Value::String(kind)) => kind,
            _ => refuse!(
                "a suite says which study it is: study = \"imbalance\", \"few-shot\" or \"robustness\""
            ),
        };
        let mut common = toml::Table::new();
        for key in SuiteCommon::KEYS {
            if let Some(value) = table.remove(key) {
                common.insert(key.to_owned(), value);
            }
        }
        let common: SuiteCommon = common.try_into()?;
        if common.data.is_empty() {
            refuse!("a suite names at least one data set ([[data]])");
        }
        let design = match kind.as_str() {
            "imbalance" => Design::Imbalance(table.try_into()?),
            "few-shot" => Design::FewShot(table.try_into()?),
            "robustness" => Design::Robustness(table.try_into()?),
            other => refuse!(
                "study = {other:?}: the studies are \"imbalance\", \"few-shot\" and \"robustness\""
            ),
        };
        let suite = Self { common, design };
        suite.check()?;
        Ok(suite)
    }

    /// Every settings table names settings that exist, with values they accept.
    fn check(&self) -> Result<()> {
        let base = CompareJob::default();
        apply(&base, &self.common.defaults, "[defaults]")?;
        let Value::Object(unset) = serde_json::to_value(&base)? else {
            return Err(refused!("a comparison serializes to a table of settings"));
        };
        if let Some(key) = self
            .common
            .defaults
            .keys()
            .find(|k| unset.get(k.as_str()).is_some_and(|v| !v.is_null()))
        {
            refuse!(
                "[defaults] {key}: a study default is for a setting the user may leave unset; set {key} in each data set or arm instead"
            );
        }
        for set in &self.common.data {
            apply(&base, &set.settings, &format!("data set {:?}", set.name))?;
        }
        if let Some(heads) = &self.common.heads {
            let _: head::SweepGrid = heads.clone().try_into().context("[heads]")?;
        }
        match &self.design {
            Design::Imbalance(design) => design.check(&base),
            Design::FewShot(design) => design.check(),
            Design::Robustness(design) => design.check(),
        }
    }
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

/// Runs the study `source` with the user's settings `args` and writes its report.
pub(super) fn run(
    source: &SuiteSource,
    args: &CompareJob,
    observer: &mut dyn Observer,
) -> Result<Studied> {
    if args.quick {
        refuse!(
            "a suite and quick do not go together: a study needs the full data to mean anything; seeds 1 and epochs 1 make it cheaper"
        );
    }
    if args.frontier.is_some() {
        refuse!(
            "a suite and frontier do not go together: a study's comparisons run the two modes alone; run the frontier as one comparison without --suite"
        );
    }
    let suite = source.load()?;
    let dir = match &args.resume {
        Some(dir) if dir.is_dir() => artifacts::claim_dir(
            dir,
            artifacts::ArtifactKind::Study,
            artifacts::Overwrite::SameKind,
        )
        .context("resume")?,
        Some(dir) => refuse!("resume {}: no such study folder", dir.display()),
        None => fresh_dir(
            &args.out,
            &format!(
                "suite-{}-{}",
                report::slug(&suite.common.name),
                machine::timestamp(machine::unix_now())
            ),
            artifacts::ArtifactKind::Study,
        )?,
    };
    let study = Study {
        common: &suite.common,
        base: CompareJob {
            // The modes alone: a frontier in each of a study's comparisons would
            // multiply its cost.
            frontier: Some(Vec::new()),
            ..with_defaults(args, &suite.common, &dir)?
        },
        user: args,
        dir: &dir,
    };
    let finished = match &suite.design {
        Design::Imbalance(design) => design.run(&study, observer)?,
        Design::FewShot(design) => design.run(&study, observer)?,
        Design::Robustness(design) => design.run(&study, observer)?,
    };
    observer.note(&format!("\n{}", finished.tables));
    observer.note(&format!(
        "study finished in {:.0} s; report: {}",
        finished.wall_seconds,
        finished.report.display()
    ));
    Ok(finished)
}

/// A study under way: the suite, the user's settings with the suite's defaults, and
/// the study's folder.
pub(super) struct Study<'a> {
    pub common: &'a SuiteCommon,
    /// The user's settings, the suite's defaults where they left one unset.
    pub base: CompareJob,
    /// The user's settings as given.
    pub user: &'a CompareJob,
    pub dir: &'a Path,
}

impl Study<'_> {
    /// The data sets to run: the user's `--data` alone, else the suite's.
    pub fn data_sets(&self) -> Vec<DataSet> {
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
    pub fn on(&self, set: &DataSet) -> Result<CompareJob> {
        apply(
            &self.base,
            &set.settings,
            &format!("data set {:?}", set.name),
        )
    }

    /// The path of `path` inside the study's folder, for its report.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Refuses settings the user gave that the study sets itself (`what` says how).
    pub fn refuse_user_settings(&self, keys: &[&str], what: &str) -> Result<()> {
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
fn with_defaults(args: &CompareJob, common: &SuiteCommon, dir: &Path) -> Result<CompareJob> {
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
pub(super) fn apply<T: Serialize + DeserializeOwned>(
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

/// The comparison `args` describe, or, when the study is resumed and `args.out`
/// already holds a complete one (its `results.json` is written last), that one.
pub(super) fn compare_or_reuse(args: &CompareJob, observer: &mut dyn Observer) -> Result<Compared> {
    if args.resume.is_some() {
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

/// The settings of a study's comparisons, in words, for its report.
pub(super) fn recipe_line(base: &CompareJob, default_max_len: usize) -> String {
    format!(
        "model {}, max_len {}, backend {}, {} seeds from {}",
        base.model.display(),
        base.max_len.unwrap_or(default_max_len),
        base.backend,
        base.seeds.unwrap_or(1),
        base.seed
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_suites_parse_and_name_only_settings_that_exist() {
        for name in SuiteSource::built_in() {
            let source: SuiteSource = name.parse().unwrap();
            let suite = source.load().unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(suite.common.name, name);
        }
    }

    #[test]
    fn a_typo_in_a_suite_is_refused_naming_the_setting() {
        let text = SuiteSource::BuiltIn("imbalance".into())
            .text()
            .unwrap()
            .replace("focal_gamma = 2.0", "focal_gama = 2.0");
        let error = Suite::parse(&text).unwrap_err().to_string();
        assert!(error.contains("focal_gama"), "{error}");
        let bad_value = SuiteSource::BuiltIn("imbalance".into())
            .text()
            .unwrap()
            .replace("\"oversample:0.5\"", "\"oversample:zero\"");
        assert!(Suite::parse(&bad_value).is_err());
        let unknown_key = "study = \"imbalance\"\nname = \"x\"\nbogus = 1\n[[data]]\nname = \"d\"\n[[arms]]\nname = \"baseline\"\ndescription = \"b\"\n";
        assert!(Suite::parse(unknown_key).is_err());
    }

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
        let fixed_default = "study = \"imbalance\"\nname = \"x\"\n[defaults]\nseed = 1\n[[data]]\nname = \"d\"\n[[arms]]\nname = \"baseline\"\ndescription = \"b\"\n";
        let error = Suite::parse(fixed_default).unwrap_err().to_string();
        assert!(error.contains("seed"), "{error}");
    }
}
