//! The embedding cache: a folder `NAME.emb/` holding `meta.json` (what the vectors
//! are: spec, fingerprint, ids, labels), `vectors.f32` (a small header, then
//! little-endian f32 rows, memory-mapped for reading) and bertcls's marker, which
//! records the checksum of both.
//!
//! A cache under its final name is always complete and sealed: it is assembled in a
//! hidden staging folder beside it and swapped into place. Reading verifies both
//! files against the marker and the stored fingerprint against the stored spec, so
//! a truncated, corrupted or edited cache (a label changed in `meta.json`) is
//! refused, never read as garbage.

use std::io::Write;
use std::path::{Path, PathBuf};

use artifacts::{ArtifactError, ArtifactKind};
use memmap2::Mmap;
use serde::{Deserialize, Serialize};

use crate::{EmbedSummary, EmbeddingSpec, Shard};

/// Bumped whenever the layout changes; older caches are then rebuilt, not misread.
/// 2: sealed by the artifact marker (which covers `meta.json` too); sentence pairs
/// read from `text_b` by default.
pub const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"BCLSEMB\x01";
/// magic (8) + version (4) + dtype (4) + rows (8) + dim (8).
const HEADER_LEN: usize = 32;
const DTYPE_F32: u32 = 0;

/// Errors from reading or writing an embedding cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A cache file could not be read or written.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done: `read`, `write`, `map`, ….
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file is damaged, truncated or not a cache.
    #[error(
        "{path} is not a usable embedding cache: {reason}; embedding the data again with it as \
         the output rebuilds it"
    )]
    Corrupt {
        /// The cache.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The cache holds features of other settings or other data.
    #[error(
        "{path} holds other features than expected:\n  cache:    {found}\n  expected: {expected}"
    )]
    Mismatch {
        /// The cache.
        path: PathBuf,
        /// What it holds, in words.
        found: String,
        /// What was expected, in words.
        expected: String,
    },
    /// Shards that do not fit together (other settings, a gap, an overlap).
    #[error("shards do not form one cache: {0}")]
    Shards(String),
    /// The model folder a spec names cannot be read as a BERT.
    #[error("{path} is not a BERT model folder")]
    Model {
        /// The folder.
        path: PathBuf,
        /// Why it cannot be loaded.
        #[source]
        source: bert::BertError,
    },
    /// The cache may not be written where asked.
    #[error("{0}")]
    Artifact(#[from] ArtifactError),
}

pub(crate) fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> CacheError + 'a {
    move |source| CacheError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// What a cache holds, besides the vectors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheMeta {
    /// The file format's version; other versions are rebuilt, never misread.
    pub format_version: u32,
    /// Everything that made the vectors.
    pub spec: EmbeddingSpec,
    /// The spec's hash: equal fingerprints mean equal vectors.
    pub fingerprint: String,
    /// How many vectors.
    pub rows: usize,
    /// Floats per vector.
    pub dim: usize,
    /// Record ids, one per row.
    pub ids: Vec<String>,
    /// Record labels, one per row (`None` for unlabelled records).
    pub labels: Vec<Option<data::Label>>,
    /// What building it cost (absent for merged shards and caches of older versions),
    /// kept so that a later cache hit can still report the embedding's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<EmbedSummary>,
}

enum Storage {
    Mapped(Mmap),
    Owned(Vec<f32>),
}

/// A verified cache, opened for reading.
pub struct EmbeddingCache {
    /// The cache file.
    pub path: PathBuf,
    /// What it holds.
    pub meta: CacheMeta,
    storage: Storage,
}

impl EmbeddingCache {
    /// Opens and verifies `path` (a `NAME.emb` folder): its files against the
    /// checksums sealed when it was written, its fingerprint against its spec.
    pub fn open(path: &Path) -> Result<Self, CacheError> {
        let corrupt = |reason: String| CacheError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        verify_sealed(path, ArtifactKind::EmbeddingCache)?;
        let meta: CacheMeta = read_meta(path)?;
        check_stamps(
            path,
            (meta.format_version, FORMAT_VERSION),
            (&meta.fingerprint, &meta.spec.fingerprint()),
        )?;
        if meta.ids.len() != meta.rows || meta.labels.len() != meta.rows {
            return Err(corrupt("ids or labels do not match the row count".into()));
        }
        let vectors_path = path.join("vectors.f32");
        let map = map_file(&vectors_path)?;
        let expected_len = meta
            .rows
            .checked_mul(meta.dim)
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(HEADER_LEN));
        if Some(map.len()) != expected_len {
            return Err(corrupt(format!(
                "vectors.f32 has {} bytes, not the {} × {} rows meta.json describes (truncated?)",
                map.len(),
                meta.rows,
                meta.dim
            )));
        }
        let header = read_header(&map[..HEADER_LEN]).map_err(&corrupt)?;
        if header != (meta.rows, meta.dim) {
            return Err(corrupt(format!(
                "header says {:?} rows × dim, meta.json {:?}",
                header,
                (meta.rows, meta.dim)
            )));
        }
        Ok(Self {
            path: path.to_owned(),
            meta,
            storage: Storage::Mapped(map),
        })
    }

    /// Opens the shards of one sharded run (`embed --shard i/N` for every i) as one
    /// cache, checking that they come from the same spec and cover the input once.
    pub fn open_shards(paths: &[PathBuf]) -> Result<Self, CacheError> {
        if paths.is_empty() {
            return Err(CacheError::Shards("no cache given".into()));
        }
        let mut shards = paths
            .iter()
            .map(|p| Self::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        if shards.len() == 1 && shards[0].meta.spec.shard.is_none() {
            return Ok(shards.remove(0));
        }
        let (shards, first) = tile_shards(shards)?;
        let spec = shards[0].meta.spec.unsharded();
        let dim = shards[0].meta.dim;
        let mut values = Vec::with_capacity(first.total * dim);
        let (mut ids, mut labels) = (Vec::new(), Vec::new());
        for cache in &shards {
            values.extend_from_slice(cache.vectors());
            ids.extend(cache.meta.ids.iter().cloned());
            labels.extend(cache.meta.labels.iter().cloned());
        }
        let meta = CacheMeta {
            format_version: FORMAT_VERSION,
            fingerprint: spec.fingerprint(),
            spec,
            rows: first.total,
            dim,
            ids,
            labels,
            build: None,
        };
        Ok(Self {
            path: paths[0].clone(),
            meta,
            storage: Storage::Owned(values),
        })
    }

    /// All vectors, row-major: `rows × dim`.
    pub fn vectors(&self) -> &[f32] {
        match &self.storage {
            // The header is 32 bytes and maps are page-aligned, so the payload is
            // 4-byte aligned; cast_slice checks it anyway.
            Storage::Mapped(map) => bytemuck::cast_slice(&map[HEADER_LEN..]),
            Storage::Owned(values) => values,
        }
    }

    /// The vector of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.vectors()[i * self.meta.dim..(i + 1) * self.meta.dim]
    }

    /// Refuses the cache unless it holds features made as `expected` says, naming both.
    pub fn check_spec(&self, expected: &EmbeddingSpec) -> Result<(), CacheError> {
        if self.meta.spec.fingerprint() == expected.fingerprint() {
            return Ok(());
        }
        Err(CacheError::Mismatch {
            path: self.path.clone(),
            found: self.meta.spec.describe(),
            expected: expected.describe(),
        })
    }
}

/// A cache made by one shard of a sharded run: what [`tile_shards`] needs to check
/// that the shards fit together.
pub(crate) trait ShardPart {
    /// The spec without its shard: what all shards of one run share.
    type Settings: PartialEq;
    /// Its shard, `None` for a cache of a whole input.
    fn shard(&self) -> Option<Shard>;
    /// Where it is, for messages.
    fn location(&self) -> &Path;
    /// Its spec without the shard.
    fn settings(&self) -> Self::Settings;
    /// Its spec, in words.
    fn describe(&self) -> String;
}

/// Sorts the shards of one sharded run by index and checks that they fit together:
/// the same settings, all `N` present, none repeated, covering the input's rows
/// exactly once. Returns them in order, with the first one's shard.
pub(crate) fn tile_shards<T: ShardPart>(mut shards: Vec<T>) -> Result<(Vec<T>, Shard), CacheError> {
    let shard = |part: &T| {
        part.shard().ok_or_else(|| {
            CacheError::Shards(format!("{} is not a shard", part.location().display()))
        })
    };
    let Some(first) = shards.first() else {
        return Err(CacheError::Shards("no cache given".into()));
    };
    let first = shard(first)?;
    if shards.len() != first.count {
        return Err(CacheError::Shards(format!(
            "{} of {} shards given",
            shards.len(),
            first.count
        )));
    }
    for part in &shards {
        shard(part)?;
    }
    shards.sort_by_key(|part| part.shard().map(|s| s.index));
    let expected = shards[0].settings();
    let mut next_row = 0;
    for (i, part) in shards.iter().enumerate() {
        let this = shard(part)?;
        if part.settings() != expected {
            return Err(CacheError::Shards(format!(
                "{} was made with other settings:\n  {}\n  {}",
                part.location().display(),
                part.describe(),
                shards[0].describe()
            )));
        }
        if this.index != i || this.count != first.count || this.start != next_row {
            return Err(CacheError::Shards(format!(
                "shard {} of {} is missing or repeated",
                i, first.count
            )));
        }
        next_row = this.end;
    }
    if next_row != first.total {
        return Err(CacheError::Shards(format!(
            "the shards cover {next_row} of {} rows",
            first.total
        )));
    }
    Ok((shards, first))
}

impl ShardPart for EmbeddingCache {
    type Settings = EmbeddingSpec;
    fn shard(&self) -> Option<Shard> {
        self.meta.spec.shard
    }
    fn location(&self) -> &Path {
        &self.path
    }
    fn settings(&self) -> EmbeddingSpec {
        self.meta.spec.unsharded()
    }
    fn describe(&self) -> String {
        self.meta.spec.describe()
    }
}

/// Checks that `path` is a folder of `kind` whose files are those bertcls sealed:
/// what both caches verify before reading anything.
pub(crate) fn verify_sealed(path: &Path, kind: ArtifactKind) -> Result<(), CacheError> {
    let corrupt = |reason: String| CacheError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if !path.is_dir() {
        return Err(corrupt("there is no cache folder there".into()));
    }
    match artifacts::verify(path, kind) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(corrupt(
            "it carries no bertcls marker (an older version's cache, or not a cache)".into(),
        )),
        Err(ArtifactError::Tampered { file, problem, .. }) => {
            Err(corrupt(format!("{file} {problem} since bertcls wrote it")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Refuses a cache of another format version `(found, read)`, or whose recorded
/// fingerprint is not that of the spec it records `(recorded, computed)`.
pub(crate) fn check_stamps(
    path: &Path,
    (found, read): (u32, u32),
    (recorded, computed): (&str, &str),
) -> Result<(), CacheError> {
    let reason = if found != read {
        format!("format version {found} (this build reads {read})")
    } else if recorded != computed {
        "its fingerprint does not match the settings it records".to_owned()
    } else {
        return Ok(());
    };
    Err(CacheError::Corrupt {
        path: path.to_owned(),
        reason,
    })
}

/// The cache's `meta.json`.
pub(crate) fn read_meta<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CacheError> {
    let meta_path = path.join("meta.json");
    let meta_text = std::fs::read_to_string(&meta_path).map_err(io_error("read", &meta_path))?;
    serde_json::from_str(&meta_text).map_err(|e| CacheError::Corrupt {
        path: path.to_owned(),
        reason: format!("meta.json: {e}"),
    })
}

/// Maps `file` for reading.
pub(crate) fn map_file(file: &Path) -> Result<Mmap, CacheError> {
    let handle = std::fs::File::open(file).map_err(io_error("read", file))?;
    // SAFETY: the file is ours and not modified while mapped; a concurrent writer
    // builds in a staging folder and swaps it in, never writes in place.
    unsafe { Mmap::map(&handle) }.map_err(io_error("map", file))
}

fn read_header(bytes: &[u8]) -> Result<(usize, usize), String> {
    if &bytes[..8] != MAGIC {
        return Err("bad magic in vectors.f32".into());
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    if u32_at(8) != FORMAT_VERSION || u32_at(12) != DTYPE_F32 {
        return Err("unsupported version or dtype in vectors.f32".into());
    }
    Ok((u64_at(16) as usize, u64_at(24) as usize))
}

/// Writes `vectors.f32` and `meta.json` into `dir` (a staging folder, which the
/// caller seals and swaps into place).
pub(crate) fn write_cache(dir: &Path, meta: &CacheMeta, values: &[f32]) -> Result<(), CacheError> {
    let bytes: &[u8] = bytemuck::cast_slice(values);
    let vectors_path = dir.join("vectors.f32");
    let mut file = artifacts::AtomicFile::create(&vectors_path)?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&DTYPE_F32.to_le_bytes());
    header.extend_from_slice(&(meta.rows as u64).to_le_bytes());
    header.extend_from_slice(&(meta.dim as u64).to_le_bytes());
    file.write_all(&header)
        .map_err(io_error("write", &vectors_path))?;
    // f32 rows are little-endian on every platform this builds for (x86-64, aarch64).
    file.write_all(bytes)
        .map_err(io_error("write", &vectors_path))?;
    file.commit()?;
    artifacts::write_json(&dir.join("meta.json"), meta)?;
    Ok(())
}
