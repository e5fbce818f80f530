//! The state cache: the token states after a frozen bottom stack of layers, stored
//! once so that fine-tuning the layers above (`finetune --train-layers K`) reads them
//! instead of running the bottom layers at every step.
//!
//! A folder `NAME.states/` holds `meta.json` (what the states are: spec, fingerprint,
//! each sequence's token count and offset), `states.f16` (a small header, then
//! every sequence's real tokens, `tokens × width` 16-bit floats, no padding;
//! memory-mapped for reading) and bertcls's marker, which records the checksum of both.
//!
//! **Why f16, not bf16.** Both take 2 bytes. After LayerNorm, BERT's states are of
//! order 1 to 10 (MiniLM's largest is under 20), far inside f16's range (±65504), so
//! bf16's one advantage, f32's range, buys nothing here, while f16 keeps 11
//! significant bits to bf16's 8: a relative rounding error of at most 2⁻¹¹ (4.9·10⁻⁴)
//! instead of 2⁻⁸ (3.9·10⁻³). A state beyond f16's range is refused when the cache
//! is built, never stored as infinity. x86's F16C converts both ways in hardware.

use std::path::{Path, PathBuf};

use std::io::Write;

use artifacts::{ArtifactKind, Overwrite, StagedDir};
use half::f16;
use half::slice::HalfFloatSliceExt;
use memmap2::Mmap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use text::Encoding;

use crate::cache::{
    ShardPart, check_stamps, io_error, map_file, read_meta, tile_shards, verify_sealed,
};
use crate::{CacheError, EmbedSummary, ModelChecksums, Shard};

/// Bumped whenever the layout changes; older caches are then rebuilt, not misread.
pub const STATES_FORMAT_VERSION: u32 = 1;
pub(crate) const STATES_MAGIC: &[u8; 8] = b"BCLSSTA\x01";
/// magic (8) + version (4) + dtype (4) + tokens (8) + width (8).
pub(crate) const STATES_HEADER_LEN: usize = 32;
const DTYPE_F16: u32 = 1;

/// Everything that decides the states of a cache. Equal specs mean equal states, so
/// the second run is a hit; any difference is a miss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSpec {
    /// The model folder, for messages; its content is identified by the checksums.
    pub model: String,
    /// What identifies the model folder's content.
    #[serde(flatten)]
    pub files: ModelChecksums,
    /// Tokens per sequence (longer texts were truncated).
    pub max_len: usize,
    /// The layer the states come out of: 0 is the embeddings' output, `k` encoder
    /// layer `k`'s.
    pub after_layer: usize,
    /// SHA-256 of every sequence's token ids and segment ids, in order: the input,
    /// how it was read, any prompt, the tokenizer and max_len all decide them, and
    /// only through them do they decide the states.
    pub tokens_sha256: String,
    /// What the sequences were read from, for messages.
    pub input: String,
    /// The rows held, when this is one shard of several (`tokens_sha256` is then
    /// still the whole input's: all shards of one run share it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
}

impl StateSpec {
    /// The spec of the states of `encodings` (read from `input`, named for messages)
    /// after layer `after_layer` of the model in `model_dir`. Only checksums are
    /// computed; the model is not loaded.
    pub fn for_run(
        model_dir: &Path,
        max_len: usize,
        after_layer: usize,
        encodings: &[Encoding],
        input: &str,
    ) -> Result<Self, CacheError> {
        Ok(Self {
            model: model_dir.display().to_string(),
            files: ModelChecksums::of(model_dir)?,
            max_len,
            after_layer,
            tokens_sha256: tokens_sha256(encodings),
            input: input.to_owned(),
            shard: None,
        })
    }

    /// The same states, of the rows of `shard` only.
    pub fn sharded(self, shard: Shard) -> Self {
        Self {
            shard: Some(shard),
            ..self
        }
    }

    /// The same spec without the shard: what all shards of one run share, and the
    /// spec of the cache they merge into.
    pub fn unsharded(&self) -> Self {
        Self {
            shard: None,
            ..self.clone()
        }
    }

    /// The rows of an input of `total` sequences these states hold.
    pub fn rows(&self, total: usize) -> std::ops::Range<usize> {
        self.shard.map_or(0..total, |s| s.start..s.end)
    }

    /// SHA-256 of the fields that decide the states (not the display names).
    pub fn fingerprint(&self) -> String {
        let content = Self {
            model: String::new(),
            input: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_string(&content).expect("a spec always serialises");
        format!("{:x}", Sha256::digest(json.as_bytes()))
    }

    /// One line for messages.
    pub fn describe(&self) -> String {
        format!(
            "states after layer {} of {} (weights {}), max_len {}, {} (tokens {})",
            self.after_layer,
            self.model,
            &self.files.weights_sha256[..12.min(self.files.weights_sha256.len())],
            self.max_len,
            self.input,
            &self.tokens_sha256[..12.min(self.tokens_sha256.len())]
        ) + &self.shard.map_or(String::new(), |s| format!(", shard {s}"))
    }
}

/// SHA-256 of every encoding's length, ids and segment ids, in order.
pub(crate) fn tokens_sha256(encodings: &[Encoding]) -> String {
    let mut hasher = Sha256::new();
    hasher.update((encodings.len() as u64).to_le_bytes());
    for encoding in encodings {
        hasher.update((encoding.len() as u64).to_le_bytes());
        for (&id, &type_id) in encoding.ids.iter().zip(&encoding.type_ids) {
            hasher.update(id.to_le_bytes());
            hasher.update(type_id.to_le_bytes());
        }
    }
    format!("{:x}", hasher.finalize())
}

/// What a state cache holds, besides the states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateMeta {
    /// The file format's version; other versions are rebuilt, never misread.
    pub format_version: u32,
    /// Everything that made the states.
    pub spec: StateSpec,
    /// The spec's hash: equal fingerprints mean equal states.
    pub fingerprint: String,
    /// Floats per token: the model's hidden size.
    pub width: usize,
    /// Each sequence's token count, in input order.
    pub lengths: Vec<usize>,
    /// Where each sequence's first token is in `states.f16`, counted in tokens
    /// (sequences are stored in the order they were computed: by length).
    pub offsets: Vec<usize>,
    /// What building it cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<EmbedSummary>,
}

impl StateMeta {
    /// Tokens stored: the sum of the sequences' lengths.
    pub fn tokens(&self) -> usize {
        self.lengths.iter().sum()
    }
}

/// A verified state cache, memory-mapped for reading.
pub struct StateCache {
    /// The cache folder.
    pub path: PathBuf,
    /// What it holds.
    pub meta: StateMeta,
    map: Mmap,
}

impl std::fmt::Debug for StateCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateCache")
            .field("path", &self.path)
            .field("after_layer", &self.meta.spec.after_layer)
            .field("rows", &self.meta.lengths.len())
            .finish()
    }
}

impl StateCache {
    /// Opens and verifies `path` (a `NAME.states` folder): its files against the
    /// checksums sealed when it was written, its fingerprint against its spec, every
    /// sequence's place against the file's size.
    pub fn open(path: &Path) -> Result<Self, CacheError> {
        let corrupt = |reason: String| CacheError::Corrupt {
            path: path.to_owned(),
            reason,
        };
        verify_sealed(path, ArtifactKind::StateCache)?;
        let meta: StateMeta = read_meta(path)?;
        check_stamps(
            path,
            (meta.format_version, STATES_FORMAT_VERSION),
            (&meta.fingerprint, &meta.spec.fingerprint()),
        )?;
        let rows = meta.lengths.len();
        if meta.offsets.len() != rows {
            return Err(corrupt("lengths and offsets differ in number".into()));
        }
        let tokens = meta.tokens();
        if let Some(row) = (0..rows).find(|&i| {
            meta.offsets[i]
                .checked_add(meta.lengths[i])
                .is_none_or(|end| end > tokens)
        }) {
            return Err(corrupt(format!(
                "sequence {row} lies outside the stored tokens"
            )));
        }
        let states_path = path.join("states.f16");
        let map = map_file(&states_path)?;
        let expected_len = tokens
            .checked_mul(meta.width)
            .and_then(|n| n.checked_mul(2))
            .and_then(|n| n.checked_add(STATES_HEADER_LEN));
        if Some(map.len()) != expected_len {
            return Err(corrupt(format!(
                "states.f16 has {} bytes, not the {tokens} tokens × {} floats meta.json \
                 describes (truncated?)",
                map.len(),
                meta.width
            )));
        }
        if read_states_header(&map[..STATES_HEADER_LEN]) != Some((tokens, meta.width)) {
            return Err(corrupt(
                "the header of states.f16 does not match meta.json".into(),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            meta,
            map,
        })
    }

    /// Refuses the cache unless it holds the states `expected` describes, naming both.
    pub fn check_spec(&self, expected: &StateSpec) -> Result<(), CacheError> {
        if self.meta.fingerprint == expected.fingerprint() {
            return Ok(());
        }
        Err(CacheError::Mismatch {
            path: self.path.clone(),
            found: self.meta.spec.describe(),
            expected: expected.describe(),
        })
    }

    /// The stored states of sequence `row`, `tokens × width`, token-major.
    pub fn row_f16(&self, row: usize) -> &[f16] {
        let width = self.meta.width;
        let start = self.meta.offsets[row] * width;
        &self.values()[start..start + self.meta.lengths[row] * width]
    }

    fn values(&self) -> &[f16] {
        // The header is 32 bytes and maps are page-aligned: the payload is 2-byte
        // aligned (cast_slice checks it anyway).
        bytemuck::cast_slice(&self.map[STATES_HEADER_LEN..])
    }

    /// Bytes of the stored states (the header and meta.json excluded).
    pub fn payload_bytes(&self) -> usize {
        self.map.len() - STATES_HEADER_LEN
    }

    /// Merges the shards of one sharded run (`embed --shard i/N --states-after L` for
    /// every i, in any order) into one cache at `path`: the cache one unsharded run
    /// writes, with the same spec and fingerprint and every sequence's states
    /// bit for bit (only the order they are stored in differs: shard after shard).
    /// The shards are checked as embedding shards are: the same settings, all of
    /// them, each row once. What `path` may hold already is decided by `overwrite`.
    pub fn merge_shards(
        shards: &[PathBuf],
        path: &Path,
        overwrite: Overwrite,
    ) -> Result<Self, CacheError> {
        let opened = shards
            .iter()
            .map(|p| Self::open(p))
            .collect::<Result<Vec<_>, _>>()?;
        let (shards, _) = tile_shards(opened)?;
        let spec = shards[0].meta.spec.unsharded();
        let width = shards[0].meta.width;
        let staged = StagedDir::new(path, ArtifactKind::StateCache, overwrite)?;
        let (mut lengths, mut offsets) = (Vec::new(), Vec::new());
        let mut tokens = 0;
        for shard in &shards {
            lengths.extend_from_slice(&shard.meta.lengths);
            offsets.extend(shard.meta.offsets.iter().map(|&offset| offset + tokens));
            tokens += shard.meta.tokens();
        }
        let states_path = staged.path().join("states.f16");
        let mut file = artifacts::AtomicFile::create(&states_path)?;
        file.write_all(&states_header(tokens, width))
            .map_err(io_error("write", &states_path))?;
        for shard in &shards {
            file.write_all(&shard.map[STATES_HEADER_LEN..])
                .map_err(io_error("write", &states_path))?;
        }
        file.commit()?;
        let meta = StateMeta {
            format_version: STATES_FORMAT_VERSION,
            fingerprint: spec.fingerprint(),
            spec,
            width,
            lengths,
            offsets,
            // The shards' builds ran apart, maybe on other machines: no one time.
            build: None,
        };
        artifacts::write_json(&staged.path().join("meta.json"), &meta)?;
        staged.commit(true)?;
        Self::open(path)
    }
}

impl ShardPart for StateCache {
    type Settings = StateSpec;
    fn shard(&self) -> Option<Shard> {
        self.meta.spec.shard
    }
    fn location(&self) -> &Path {
        &self.path
    }
    fn settings(&self) -> StateSpec {
        self.meta.spec.unsharded()
    }
    fn describe(&self) -> String {
        self.meta.spec.describe()
    }
}

impl bert::LayerStates for StateCache {
    fn after_layer(&self) -> usize {
        self.meta.spec.after_layer
    }

    fn width(&self) -> usize {
        self.meta.width
    }

    fn rows(&self) -> usize {
        self.meta.lengths.len()
    }

    fn tokens(&self, row: usize) -> usize {
        self.meta.lengths[row]
    }

    fn read_row(&self, row: usize, out: &mut [f32]) {
        self.row_f16(row).convert_to_f32_slice(out);
    }
}

/// The header of `states.f16`.
pub(crate) fn states_header(tokens: usize, width: usize) -> Vec<u8> {
    let mut header = Vec::with_capacity(STATES_HEADER_LEN);
    header.extend_from_slice(STATES_MAGIC);
    header.extend_from_slice(&STATES_FORMAT_VERSION.to_le_bytes());
    header.extend_from_slice(&DTYPE_F16.to_le_bytes());
    header.extend_from_slice(&(tokens as u64).to_le_bytes());
    header.extend_from_slice(&(width as u64).to_le_bytes());
    header
}

/// `(tokens, width)` from a header of this version, `None` for anything else.
fn read_states_header(bytes: &[u8]) -> Option<(usize, usize)> {
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    (&bytes[..8] == STATES_MAGIC && u32_at(8) == STATES_FORMAT_VERSION && u32_at(12) == DTYPE_F16)
        .then(|| (u64_at(16) as usize, u64_at(24) as usize))
}

/// `values` rounded to f16 (to nearest, ties to even), or the first value beyond
/// f16's range.
pub(crate) fn to_f16(values: &[f32]) -> Result<Vec<f16>, f32> {
    let mut out = vec![f16::ZERO; values.len()];
    out.convert_from_f32_slice(values);
    match out.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(values[i]),
        None => Ok(out),
    }
}
