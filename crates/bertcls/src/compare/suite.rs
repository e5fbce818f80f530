//! Studies as data: a suite is a TOML file (the built-in ones are in
//! `crates/bertcls/suites/`) naming its data sets, its defaults and, per kind of
//! study, its arms. Settings in a suite are a job's own fields, applied to its serde
//! form, so a suite can set anything a command line can and a typo is refused with
//! the list of settings there are.
//!
//! Three kinds of study exist, each with its own report: `imbalance` (arms of
//! comparison settings against a baseline), `few-shot` (k examples per class, three
//! methods against zero-shot) and `robustness` (arms of training recipes, scored on
//! clean and perturbed tests). This module reads a suite and runs its design; what
//! the designs share ([`Study`], settings applied over a job) is [`super::study`],
//! below them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::few_shot::FewShotDesign;
use super::imbalance::ImbalanceDesign;
use super::robustness::RobustnessDesign;
use super::study::{Studied, Study, SuiteCommon, apply, with_defaults};
use super::{CompareJob, fresh_dir};
use crate::error::{Context, Result, refuse, refused};
use crate::machine;
use crate::{Job, Observer};

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

/// What a kind of study runs, beyond what every study has.
#[derive(Debug, Clone, PartialEq)]
pub enum Design {
    /// Arms of comparison settings against a baseline.
    Imbalance(ImbalanceDesign),
    /// k examples per class; three methods against zero-shot.
    FewShot(FewShotDesign),
    /// Arms of training recipes, scored on clean and perturbed tests.
    Robustness(RobustnessDesign),
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

/// A study: many comparisons of the two modes and one report across them
/// (`bertcls compare --suite`). `imbalance`: every imbalance remedy against the plain
/// baseline, in both modes, on R8 and on SpamAssassin with spam cut to 5% (or on the
/// comparison's `data` alone). `few-shot`: k = 8, 16, 32, 64 examples per class, a
/// pipeline head, `[CLS]` and prompt fine-tuning against zero-shot, on R8 and
/// SpamAssassin (or on `data` with `prompt` and `verbalizer`). `robustness`:
/// adversarial training, distillation and ensembles, on clean and perturbed tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudyJob {
    /// The study: a built-in one by name, or a suite file of your own.
    #[serde(with = "settings::as_text")]
    pub suite: SuiteSource,
    /// Continue the study in this folder (after a crash or an interruption, with the
    /// same settings): comparisons whose report is complete are read back, the rest
    /// run.
    pub resume: Option<PathBuf>,
    /// The user's settings for every comparison of the study; where one is left
    /// unset, the suite's `[defaults]` decide, and each arm changes its own.
    #[serde(flatten)]
    pub comparison: CompareJob,
}

impl StudyJob {
    /// The study `suite` with the default settings.
    pub fn new(suite: SuiteSource) -> Self {
        Self {
            suite,
            resume: None,
            comparison: CompareJob::default(),
        }
    }
}

impl Job for StudyJob {
    type Output = Studied;

    /// The comparison's settings, and those a study cannot take.
    fn validate(&self) -> Result<()> {
        let args = &self.comparison;
        if args.quick {
            refuse!(
                [suite] " and " [quick] " do not go together: a study needs the full data to \
                 mean anything; " [seeds] " 1 and " [epochs] " 1 make it cheaper"
            );
        }
        if args.frontier.is_some() {
            refuse!(
                [suite] " and " [frontier] " do not go together: a study's comparisons run \
                 the two modes alone; run the frontier as one comparison, without " [suite]
            );
        }
        args.validate()
    }

    /// Runs the study's comparisons (or reads back those a resumed study finished)
    /// and writes its report.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Studied> {
        let (source, args) = (&self.suite, &self.comparison);
        let suite = source.load()?;
        let dir = match &self.resume {
            Some(dir) if dir.is_dir() => artifacts::claim_dir(
                dir,
                artifacts::ArtifactKind::Study,
                artifacts::Overwrite::SameKind,
            )
            .for_setting("resume")?,
            Some(dir) => {
                let dir = dir.display();
                refuse!([resume] " {dir}: no such study folder")
            }
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
            resuming: self.resume.is_some(),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A study refuses what it cannot take with the settings named as settings, for
    /// the caller to spell (the binary: `--suite and --quick …`).
    #[test]
    fn a_study_names_the_settings_it_refuses() {
        let mut job = StudyJob::new("imbalance".parse().unwrap());
        job.comparison.quick = true;
        let Err(crate::JobError::Refused(message)) = job.validate() else {
            panic!("a quick study is refused");
        };
        let named: Vec<&str> = message.settings().collect();
        assert_eq!(named, ["suite", "quick", "seeds", "epochs"]);
        job.comparison.quick = false;
        job.comparison.frontier = Some(vec![1]);
        let Err(crate::JobError::Refused(message)) = job.validate() else {
            panic!("a study with a frontier is refused");
        };
        assert_eq!(
            message.settings().collect::<Vec<_>>(),
            ["suite", "frontier", "suite"]
        );
    }

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
    fn a_default_for_a_setting_that_has_one_already_is_refused() {
        let fixed_default = "study = \"imbalance\"\nname = \"x\"\n[defaults]\nseed = 1\n[[data]]\nname = \"d\"\n[[arms]]\nname = \"baseline\"\ndescription = \"b\"\n";
        let error = Suite::parse(fixed_default).unwrap_err().to_string();
        assert!(error.contains("seed"), "{error}");
    }
}
