//! The comparison's stages are the ordinary `bertcls` commands: each is described by
//! the flags a user would type, parsed by that command's own parser and run by its
//! own code. The report lists the command lines, so any stage can be rerun by hand.

use anyhow::Result;
use clap::{Args, Command, FromArgMatches};

/// A command line being assembled: `bertcls <subcommand…> <flags…>`.
pub struct CommandLine {
    subcommand: Vec<&'static str>,
    args: Vec<String>,
}

impl CommandLine {
    pub fn new(subcommand: &[&'static str]) -> Self {
        Self {
            subcommand: subcommand.to_vec(),
            args: Vec::new(),
        }
    }

    /// Adds `--flag value`.
    pub fn arg(mut self, flag: &str, value: impl ToString) -> Self {
        self.args.push(flag.to_owned());
        self.args.push(value.to_string());
        self
    }

    /// Adds flags as they are (switches, or flag/value pairs already split).
    pub fn args(mut self, args: impl IntoIterator<Item = String>) -> Self {
        self.args.extend(args);
        self
    }

    /// Parses the flags with the subcommand's own argument parser.
    pub fn parse<T: Args + FromArgMatches>(&self) -> Result<T> {
        let name = self.subcommand.last().copied().unwrap_or("bertcls");
        let command = T::augment_args(Command::new(name).no_binary_name(true));
        let matches = command.try_get_matches_from(&self.args)?;
        Ok(T::from_arg_matches(&matches)?)
    }

    /// The line a user would type, shell-quoted where needed.
    pub fn display(&self) -> String {
        let quote = |s: &String| {
            if s.is_empty()
                || s.chars()
                    .any(|c| c.is_whitespace() || "'\"\\$`*?".contains(c))
            {
                format!("'{}'", s.replace('\'', r"'\''"))
            } else {
                s.clone()
            }
        };
        let mut words = vec!["bertcls".to_owned()];
        words.extend(self.subcommand.iter().map(|s| s.to_string()));
        words.extend(self.args.iter().map(quote));
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::embed::EmbedArgs;

    #[test]
    fn a_stage_is_parsed_by_its_command_and_displayed_as_typed() {
        let line = CommandLine::new(&["embed"])
            .arg("--input", "my data/train.jsonl")
            .arg("--max-len", 64)
            .args(["--normalize".to_owned()]);
        let args: EmbedArgs = line.parse().unwrap();
        assert_eq!(args.input.input.to_str(), Some("my data/train.jsonl"));
        assert_eq!(args.model.max_len, 64);
        assert!(args.normalize);
        assert_eq!(
            line.display(),
            "bertcls embed --input 'my data/train.jsonl' --max-len 64 --normalize"
        );
        let bad = CommandLine::new(&["embed"]).arg("--max-len", "many");
        assert!(bad.parse::<EmbedArgs>().is_err());
    }
}
