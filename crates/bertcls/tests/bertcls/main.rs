//! The library's jobs as a program calls them: built as typed configs, run in this
//! process with [`bertcls::Quiet`], on the tiny model and toy topic data. The binary's
//! own tests (`crates/cli/tests`) cover parsing, printing and exit codes.

mod examples;
mod jobs;
