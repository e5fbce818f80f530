//! A job as the command line that runs it, for the reports of jobs that run others
//! ([`Stage`]): each setting's flag, default and arity are read off this binary's
//! own clap definition of the stage's command, and its value off the job's serde
//! form. The two agree because a flag's clap id is its setting's name (see
//! [`flags`](crate::flags)); no command line is assembled as a string and parsed back.

use anyhow::{Context, bail};
use bertcls::Stage;
use clap::builder::ArgAction;
use clap::{Arg, CommandFactory};
use serde_json::Value;

use crate::flags::Cli;

/// `bertcls <subcommand…> <flags…>` for `stage`, shell-quoted where needed; flags at
/// their default value are left out.
pub(crate) fn command_line(stage: Stage<'_>) -> anyhow::Result<String> {
    let words = words(stage)?;
    Ok(words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The words of `stage`'s command line, as the shell hands them to the binary.
fn words(stage: Stage<'_>) -> anyhow::Result<Vec<String>> {
    let subcommand = subcommand(stage).iter().map(|s| (*s).to_owned());
    Ok(std::iter::once("bertcls".to_owned())
        .chain(subcommand)
        .chain(flags(stage, None)?)
        .collect())
}

/// The flags that set `only` of `stage`'s settings (a study's arm, say), quoted.
pub(crate) fn settings_line(stage: Stage<'_>, only: &[&str]) -> anyhow::Result<String> {
    let words = flags(stage, Some(only))?;
    Ok(words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" "))
}

/// The subcommand that runs a stage's job.
fn subcommand(stage: Stage<'_>) -> &'static [&'static str] {
    match stage {
        Stage::Embed(_) => &["embed"],
        Stage::TrainHead(_) => &["head", "train"],
        Stage::Sweep(_) => &["head", "sweep"],
        Stage::PredictHead(_) => &["head", "predict"],
        Stage::FineTune(_) => &["finetune"],
        Stage::DistillFineTune(_) => &["distill", "finetune"],
        Stage::DistillHead(_) => &["distill", "head"],
        Stage::Evaluate(_) => &["evaluate"],
        Stage::Ensemble(_) => &["ensemble"],
        Stage::Augment(_) => &["augment"],
        Stage::ZeroShot(_) => &["zero-shot"],
        Stage::Compare(_) => &["compare"],
    }
}

/// The flags (of `only`'s settings, or of all) that make clap parse `stage` back, in
/// the order its command declares them.
fn flags(stage: Stage<'_>, only: Option<&[&str]>) -> anyhow::Result<Vec<String>> {
    let settings = stage.settings()?;
    let mut command = Cli::command();
    command.build();
    let mut command = &command;
    for name in subcommand(stage) {
        command = command
            .find_subcommand(name)
            .with_context(|| format!("bertcls has no command {name:?}"))?;
    }
    let mut words = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        let (Some(long), Some(value)) = (arg.get_long(), settings.get(id)) else {
            continue;
        };
        if only.is_none_or(|only| only.contains(&id)) {
            words.extend(flag_words(arg, long, value));
        }
    }
    if let Some(missing) = only
        .into_iter()
        .flatten()
        .find(|name| !command.get_arguments().any(|a| a.get_id() == **name))
    {
        bail!(
            "`bertcls {}` has no flag for {missing:?}",
            subcommand(stage).join(" ")
        );
    }
    Ok(words)
}

/// The words of one flag: none at its default, `--flag` for a switch, else the flag
/// and its value(s) as clap reads them.
fn flag_words(arg: &Arg, long: &str, value: &Value) -> Vec<String> {
    let flag = format!("--{long}");
    if let ArgAction::SetTrue = arg.get_action() {
        return if value == &Value::Bool(true) {
            vec![flag]
        } else {
            Vec::new()
        };
    }
    let values = match value {
        Value::Null => return Vec::new(),
        Value::Array(items) => items.iter().map(scalar).collect(),
        one => vec![scalar(one)],
    };
    let range = arg.get_num_args();
    if values.is_empty() {
        // `Some(vec![])` of a flag that may stand alone (`--calibrate`); otherwise an
        // empty list is the flag left out.
        return match range {
            Some(range) if range.min_values() == 0 && value.is_array() => vec![flag],
            _ => Vec::new(),
        };
    }
    if is_default(arg, &values) {
        return Vec::new();
    }
    match arg.get_value_delimiter() {
        Some(delimiter) => vec![flag, values.join(&delimiter.to_string())],
        None if range.is_some_and(|r| r.max_values() > 1) => {
            std::iter::once(flag).chain(values).collect()
        }
        // One value per occurrence; `--flag=-1` so that a leading dash is a value.
        None => values
            .into_iter()
            .flat_map(|v| {
                if v.starts_with('-') {
                    vec![format!("{flag}={v}")]
                } else {
                    vec![flag.clone(), v]
                }
            })
            .collect(),
    }
}

/// A setting's value as the word clap parses.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// True when `values` are the flag's default (numbers compared as numbers, since
/// serde writes `5e-5` where the default reads `0.00005`).
fn is_default(arg: &Arg, values: &[String]) -> bool {
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    if defaults.is_empty() {
        return false;
    }
    let split = |words: &[String]| -> Vec<String> {
        match arg.get_value_delimiter() {
            Some(delimiter) => words
                .iter()
                .flat_map(|w| w.split(delimiter).map(str::to_owned).collect::<Vec<_>>())
                .collect(),
            None => words.to_vec(),
        }
    };
    let (defaults, values) = (split(&defaults), split(values));
    defaults.len() == values.len()
        && defaults.iter().zip(&values).all(|(d, v)| {
            d == v || matches!((d.parse::<f64>(), v.parse::<f64>()), (Ok(d), Ok(v)) if d == v)
        })
}

/// `word` as a POSIX shell reads it back.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use bertcls::*;
    use clap::FromArgMatches;
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::*;
    use crate::flags::tests::job_of;
    use crate::flags::*;

    /// `job`'s command line parses back into `job`.
    fn round_trip<'a, F>(job: &'a F::Job)
    where
        F: FromArgMatches + IntoJob,
        F::Job: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
        Stage<'a>: From<&'a F::Job>,
    {
        let words = words(job.into()).unwrap();
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        assert_eq!(&job_of::<F>(&args), job, "{words:?}");
    }

    #[test]
    fn quoting_survives_the_shell() {
        assert_eq!(shell_quote("runs/a-b_c.emb"), "runs/a-b_c.emb");
        assert_eq!(shell_quote("my data/train.jsonl"), "'my data/train.jsonl'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("{text} [SEP]"), "'{text} [SEP]'");
    }

    #[test]
    fn every_job_round_trips_through_its_command_line() {
        let mut embed = EmbedJob::new("my data/train.jsonl");
        embed.model.max_len = 64;
        embed.normalize = true;
        embed.input.columns.text_b_col = Some("second".into());
        embed.layers = "mean4".parse().unwrap();
        embed.shard = Some("1/4".parse().unwrap());
        round_trip::<EmbedFlags>(&embed);
        assert_eq!(
            command_line((&embed).into()).unwrap(),
            "bertcls embed --max-len 64 --input 'my data/train.jsonl' --text-b-col second \
             --layers mean4 --normalize --shard 1/4"
        );
        let mut kept = EmbedJob::new("train.jsonl");
        kept.states_after = vec![4, 5];
        kept.state_cache_dir = "states".into();
        round_trip::<EmbedFlags>(&kept);
        assert_eq!(
            command_line((&kept).into()).unwrap(),
            "bertcls embed --input train.jsonl --states-after 4,5 --state-cache-dir states"
        );

        let mut sweep = SweepJob::new("a.emb", "b.emb", "out");
        sweep.grid.learning_rates = Some(vec![1e-3, 0.01]);
        sweep.grid.hidden = Some(vec![
            training::HiddenSizes::linear(),
            "256".parse().unwrap(),
        ]);
        sweep.grid.loss.class_weights = Some("balanced".parse().unwrap());
        sweep.grid.seed = Some(7);
        sweep.random = Some(8);
        round_trip::<SweepFlags>(&sweep);

        let mut finetune = FineTuneJob::new("train.jsonl", "runs/x");
        finetune.optimization.learning_rate = 5e-5;
        finetune.optimization.epochs = 3;
        finetune.optimization.head_learning_rate = Some(1e-3);
        finetune.optimization.layer_decay = 0.9;
        finetune.adversary.adv = Some(joint::AdversaryKind::Pgd);
        finetune.adversary.adv_steps = Some(2);
        finetune.decision.logit_adjust = Some(1.0);
        finetune.prompt = Some("{text} [SEP] It was [MASK].".into());
        finetune.verbalizer = vec!["a=good".parse().unwrap(), "b=bad".parse().unwrap()];
        finetune.optimization.freeze_embeddings = true;
        finetune.num_layers = Some(2);
        round_trip::<FineTuneFlags>(&finetune);
        let mut negative = finetune.clone();
        negative.optimization.learning_rate = -1.0;
        round_trip::<FineTuneFlags>(&negative);
        let mut contrastive = FineTuneJob::new("train.jsonl", "runs/setfit");
        contrastive.contrastive = true;
        contrastive.contrastive_pairs.pair_iterations = 5;
        contrastive.pooling = joint::ClassifierPooling::Mean;
        round_trip::<FineTuneFlags>(&contrastive);
        assert_eq!(
            command_line((&contrastive).into()).unwrap(),
            "bertcls finetune --train train.jsonl --out runs/setfit --pooling mean \
             --contrastive --pair-iterations 5"
        );

        let mut zero_shot = ZeroShotJob::new("t.emb", "z.jsonl");
        zero_shot.calibrate = Some(Vec::new());
        zero_shot.describe = vec!["a=Some text.".parse().unwrap()];
        round_trip::<ZeroShotFlags>(&zero_shot);
        zero_shot.calibrate = Some(vec!["u.emb".into(), "v.emb".into()]);
        round_trip::<ZeroShotFlags>(&zero_shot);

        round_trip::<PredictHeadFlags>(&PredictHeadJob::new("best.head", "t.emb", "p.jsonl"));
        round_trip::<EvaluateFlags>(&EvaluateJob::new("runs/x", "test.jsonl"));
        round_trip::<EnsembleFlags>(&EnsembleJob::new(vec!["a".into(), "b".into()], "e"));
        let mut augment = AugmentJob::new("in.jsonl", "out.jsonl", Default::default());
        augment.typo = 0.1;
        round_trip::<AugmentFlags>(&augment);
        let mut train = TrainHeadJob::new("a.emb", "b.emb", "h");
        train.bag = Some(5);
        round_trip::<TrainHeadFlags>(&train);
        let mut compare = CompareJob {
            data: Some("spam".into()),
            frontier: Some(vec![0, 2, 6]),
            learning_rate: Some(1e-4),
            head_learning_rate: Some(1e-3),
            layer_decay: Some(0.8),
            head_start: bertcls::HeadStart::Random,
            contrastive: Some(true),
            pair_iterations: Some(3),
            freeze_embeddings: Some(false),
            holdout: vec![0.2, 0.3],
            ..CompareJob::default()
        };
        compare.loss.class_weights = Some("balanced".parse().unwrap());
        round_trip::<ComparisonFlags>(&compare);
    }

    /// A study's arm is shown by the flags of the settings it changes, and only those.
    #[test]
    fn an_arm_shows_the_flags_of_its_settings() {
        let mut compare = CompareJob {
            sampling: Some("oversample".parse().unwrap()),
            learning_rate: Some(1e-4),
            ..CompareJob::default()
        };
        compare.loss.class_weights = Some("balanced".parse().unwrap());
        assert_eq!(
            settings_line((&compare).into(), &["sampling", "class_weights"]).unwrap(),
            "--class-weights balanced --sampling oversample:1"
        );
        assert!(settings_line((&compare).into(), &["no_such_setting"]).is_err());
    }
}
