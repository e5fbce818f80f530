//! A job as the command line that runs it: the flags are read off the job's own clap
//! definition (each field's flag, default and arity) and filled in from its serde
//! form (each field's value), so a report can say exactly how to rerun any stage by
//! hand, and no command line is ever assembled as a string and parsed back.
//!
//! The two views of a job agree because every field is both a flag (clap's id is the
//! field name) and a serde field of the same name, and groups of settings are
//! flattened in both. The tests render every job and parse the line back into the
//! same job.

use clap::builder::ArgAction;
use clap::{Arg, Args, Command};
use serde::Serialize;
use serde_json::Value;

use crate::error::{Result, refused};

/// `bertcls <subcommand…> <flags…>` for `job`, shell-quoted where needed; flags at
/// their default value are left out.
pub fn command_line<J: Args + Serialize>(subcommand: &[&str], job: &J) -> Result<String> {
    let words = std::iter::once("bertcls".to_owned())
        .chain(subcommand.iter().map(|s| (*s).to_owned()))
        .chain(flags(job)?)
        .map(|word| shell_quote(&word))
        .collect::<Vec<_>>();
    Ok(words.join(" "))
}

/// The flags that make clap parse `job` back, in the order the job declares them.
pub fn flags<J: Args + Serialize>(job: &J) -> Result<Vec<String>> {
    flags_where(job, |_| true)
}

/// The flags of the settings named `fields` only (a study's arm, say).
pub fn flags_of<J: Args + Serialize>(job: &J, fields: &[&str]) -> Result<Vec<String>> {
    flags_where(job, |id| fields.contains(&id))
}

fn flags_where<J: Args + Serialize>(job: &J, keep: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let Value::Object(values) = serde_json::to_value(job)? else {
        return Err(refused!("a job serializes to a table of settings"));
    };
    let mut command = J::augment_args(Command::new("job").no_binary_name(true));
    command.build();
    let mut words = Vec::new();
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        let (Some(long), Some(value), true) = (arg.get_long(), values.get(id), keep(id)) else {
            continue;
        };
        words.extend(flag_words(arg, long, value));
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
    use super::*;
    use clap::FromArgMatches;

    /// Parses `flags` as clap does for the job.
    fn parse<J: Args + FromArgMatches>(flags: &[String]) -> J {
        let command = J::augment_args(Command::new("job").no_binary_name(true));
        let matches = command
            .try_get_matches_from(flags)
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        J::from_arg_matches(&matches).unwrap()
    }

    /// The line of `job` parses back into `job`.
    pub(crate) fn round_trip<J>(job: &J)
    where
        J: Args + FromArgMatches + Serialize + PartialEq + std::fmt::Debug,
    {
        let words = flags(job).unwrap();
        assert_eq!(&parse::<J>(&words), job, "{words:?}");
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
        use crate::*;
        let mut embed = EmbedJob::new("my data/train.jsonl");
        embed.model.max_len = 64;
        embed.normalize = true;
        embed.input.columns.text_b_col = Some("second".into());
        embed.layers = "mean4".parse().unwrap();
        embed.shard = Some("1/4".parse().unwrap());
        round_trip(&embed);
        assert_eq!(
            command_line(&["embed"], &embed).unwrap(),
            "bertcls embed --max-len 64 --input 'my data/train.jsonl' --text-b-col second \
             --layers mean4 --normalize --shard 1/4"
        );
        let mut kept = EmbedJob::new("train.jsonl");
        kept.states_after = vec![4, 5];
        kept.state_cache_dir = "states".into();
        round_trip(&kept);
        assert_eq!(
            command_line(&["embed"], &kept).unwrap(),
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
        round_trip(&sweep);

        let mut finetune = FineTuneJob::new("train.jsonl", "runs/x");
        finetune.learning_rate = 5e-5;
        finetune.epochs = 3;
        finetune.adversary.adv = Some(joint::AdversaryKind::Pgd);
        finetune.adversary.adv_steps = Some(2);
        finetune.decision.logit_adjust = Some(1.0);
        finetune.prompt = Some("{text} [SEP] It was [MASK].".into());
        finetune.verbalizer = vec!["a=good".parse().unwrap(), "b=bad".parse().unwrap()];
        finetune.freeze_embeddings = true;
        finetune.num_layers = Some(2);
        round_trip(&finetune);
        let mut negative = finetune.clone();
        negative.learning_rate = -1.0;
        round_trip(&negative);

        let mut zero_shot = ZeroShotJob::new("t.emb", "z.jsonl");
        zero_shot.calibrate = Some(Vec::new());
        zero_shot.describe = vec!["a=Some text.".parse().unwrap()];
        round_trip(&zero_shot);
        zero_shot.calibrate = Some(vec!["u.emb".into(), "v.emb".into()]);
        round_trip(&zero_shot);

        round_trip(&PredictHeadJob::new("best.head", "t.emb", "p.jsonl"));
        round_trip(&EvaluateJob::new("runs/x", "test.jsonl"));
        round_trip(&EnsembleJob::new(vec!["a".into(), "b".into()], "e"));
        let mut augment = AugmentJob::new("in.jsonl", "out.jsonl", Default::default());
        augment.typo = 0.1;
        round_trip(&augment);
        let mut train = TrainHeadJob::new("a.emb", "b.emb", "h");
        train.bag = Some(5);
        round_trip(&train);
    }
}
