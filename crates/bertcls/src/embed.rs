//! Pipeline mode, stage 1, as a job: a frozen BERT over a data file into an
//! embedding cache, reused while nothing that decides its vectors changes.

use std::path::PathBuf;
use std::time::Duration;

use bert::{Pooling, Precision};
use encoder::{
    BuildOutcome, EmbedOptions, EmbeddingCache, EmbeddingSpec, FrozenEncoder, LayerSelection,
    Shard, StateCache, StateTarget, build_cache_with_states, write_npy,
};
use serde::{Deserialize, Serialize};

use crate::Job;
use crate::Observer;
use crate::error::{Context, Result, refuse};
use crate::options::{Force, Input, ModelOptions};
use crate::states::{DEFAULT_STATE_CACHE_DIR, data_name, state_targets};

/// The folder caches go to when no output is named.
pub const DEFAULT_CACHE_DIR: &str = ".cache/embeddings";

/// One vector per record, stored in a reusable embedding cache (`bertcls embed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedJob {
    /// The encoder.
    #[serde(flatten)]
    pub model: ModelOptions,
    /// The data file to embed.
    #[serde(flatten)]
    pub input: Input,
    /// The cache to write (a NAME.emb folder). Default: in `cache_dir`, named after the
    /// input and the fingerprint of everything that decides the vectors.
    pub output: Option<PathBuf>,
    /// Where caches go when `output` is not given.
    pub cache_dir: PathBuf,
    /// How token states become one vector: cls, mean (mask-aware) or max.
    pub pooling: Pooling,
    /// Which layers: last, meanK (mean of the last K) or concatK (last K side by side).
    #[serde(with = "settings::as_text")]
    pub layers: LayerSelection,
    /// Scale each vector to unit length.
    pub normalize: bool,
    /// What the encoder layers' linear layers compute in: fp32; int8 (CPU backends:
    /// weights quantised per output channel, activations per token, about twice as
    /// fast); or bf16 (CPU backends: about 1.5 times as fast, within 1e-4 of fp32's
    /// vectors). Part of the cache's fingerprint: a head trained on fp32 features
    /// refuses int8 ones, as it refuses another encoder's.
    #[serde(default)]
    pub precision: Precision,
    /// Sequences per forward pass (texts are sorted by length first, so padding is small).
    pub batch_size: usize,
    /// Rows per checkpointed chunk: what an interrupted run can lose at most.
    pub chunk_size: usize,
    /// Embed only the i-th of N deterministic slices of the input (0-based), e.g. 2/8.
    #[serde(with = "settings::as_text::option")]
    pub shard: Option<Shard>,
    /// Also write the vectors as a float32 .npy matrix (records × width) for numpy.
    /// An existing file there is never replaced (an .npy carries no mark of who
    /// wrote it), unless it holds exactly these vectors already. `-`: standard output
    /// (the cache's path is then not printed).
    pub export_npy: Option<PathBuf>,
    /// Also cache the token states after each of these layers (0: the embeddings'
    /// output), kept from the same forward pass, in `state_cache_dir`: the states that
    /// `bertcls finetune --train-layers K` reads (layer N − K) for the same file at the
    /// same `max_len`, so that fine-tuning the top layers skips its own pass.
    pub states_after: Vec<usize>,
    /// Where state caches go (shared with `bertcls finetune --train-layers`).
    pub state_cache_dir: PathBuf,
    /// Whether a bertcls artifact of another kind may be replaced.
    #[serde(flatten)]
    pub force: Force,
}

/// What [`EmbedJob::run`] made: the cache (opened and verified) and how it came to be.
pub struct Embedded {
    /// The cache, memory-mapped.
    pub cache: EmbeddingCache,
    /// A cache hit, or what building it cost.
    pub outcome: BuildOutcome,
    /// The state caches of `--states-after`, in that order.
    pub states: Vec<StateCache>,
}

impl EmbedJob {
    /// The default job for the data file `input`.
    pub fn new(input: impl Into<PathBuf>) -> Self {
        Self {
            model: ModelOptions::default(),
            input: Input::new(input),
            output: None,
            cache_dir: DEFAULT_CACHE_DIR.into(),
            pooling: Pooling::Mean,
            layers: LayerSelection::Last,
            normalize: false,
            precision: Precision::Fp32,
            batch_size: 32,
            chunk_size: 1024,
            shard: None,
            export_npy: None,
            states_after: Vec::new(),
            state_cache_dir: DEFAULT_STATE_CACHE_DIR.into(),
            force: Force::default(),
        }
    }

    /// The embedding settings (what decides how texts become vectors).
    pub fn options(&self) -> EmbedOptions {
        EmbedOptions {
            batch_size: self.batch_size,
            pooling: self.pooling,
            layers: self.layers,
            normalize: self.normalize,
            precision: self.precision,
        }
    }

    /// The state caches `--states-after` asks for (of `shard`'s rows, with one): the
    /// input's sequences as the tokenizer alone makes them (fine-tuning makes the
    /// same ones), checksums only.
    fn state_targets(
        &self,
        records: &[data::Record],
        shard: Option<Shard>,
    ) -> Result<Vec<StateTarget>> {
        if self.states_after.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .model
            .tokenize(records)
            .with_context(|| format!("in {}", self.input.input.display()))?;
        state_targets(
            &self.model,
            &self.state_cache_dir,
            &encodings,
            &data_name(&self.input.input),
            &self.states_after,
            shard,
        )
    }

    fn build(
        &self,
        records: &[data::Record],
        spec: &EmbeddingSpec,
        path: &std::path::Path,
        states: &[StateTarget],
        observer: &mut dyn Observer,
    ) -> Result<(EmbeddingCache, BuildOutcome, Vec<StateCache>)> {
        let (bert, device) = self.model.load()?;
        observer.note(&bert.report.to_string());
        let encoder = FrozenEncoder::new(bert, device, self.options())?;
        let rows = spec.shard.map_or(records.len(), |s| s.end - s.start);
        observer.begin("embedding", rows);
        let built = build_cache_with_states(
            &encoder,
            records,
            spec,
            path,
            states,
            self.chunk_size,
            self.force.overwrite(),
            &mut |n| observer.advance(n),
        )
        .with_context(|| format!("embedding {}", self.input.input.display()));
        observer.end();
        built
    }

    fn default_cache_path(&self, spec: &EmbeddingSpec) -> PathBuf {
        let stem = data_name(&self.input.input);
        let shard = spec
            .shard
            .map_or(String::new(), |s| format!("-shard{}of{}", s.index, s.count));
        self.cache_dir
            .join(format!("{stem}-{}{shard}.emb", &spec.fingerprint()[..12]))
    }
}

impl Job for EmbedJob {
    type Output = Embedded;

    /// Checks the settings that need no data or model.
    fn validate(&self) -> Result<()> {
        settings::at_least_one("batch_size", self.batch_size)?;
        settings::at_least_one("chunk_size", self.chunk_size)?;
        if !self.states_after.is_empty() && self.precision != Precision::Fp32 {
            let precision = self.precision;
            refuse!(
                [states_after] " with " [precision] " {precision}: the states feed \
                 fine-tuning, which runs in fp32; embed them with " [precision] " fp32"
            );
        }
        Ok(())
    }

    /// Opens the cache this job describes when it is up to date, else embeds the
    /// input into it (resuming an interrupted build); exports the `.npy` if asked.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Embedded> {
        crate::observe::note_missing_instructions(observer, self.precision);
        let read = self
            .input
            .columns
            .read_outcome(&self.input.input, false, observer)?;
        let records = read.records;
        let shard = self
            .shard
            .map(|s| Shard::new(s.index, s.count, records.len()))
            .transpose()
            .with_context(|| {
                let input = self.input.input.display();
                settings::message!([shard] " in {input}")
            })?;
        let spec = EmbeddingSpec::for_run(
            &self.model.model,
            self.model.max_len,
            &self.options(),
            &self.input.input,
            read.sha256,
            self.input.columns.describe(),
            shard,
        )
        .for_setting("model")?;
        let path = self
            .output
            .clone()
            .unwrap_or_else(|| self.default_cache_path(&spec));
        let states = self.state_targets(&records, shard)?;
        // A hit needs no model: only checksums were computed so far.
        let hit = EmbeddingCache::open(&path)
            .ok()
            .filter(|cache| cache.meta.spec.fingerprint() == spec.fingerprint());
        let state_hits: Option<Vec<StateCache>> =
            states.iter().map(StateTarget::open_current).collect();
        let (cache, outcome, states) = match (hit, state_hits) {
            (Some(cache), Some(state_hits)) => (cache, BuildOutcome::Hit, state_hits),
            _ => self.build(&records, &spec, &path, &states, observer)?,
        };
        if let Some(npy) = &self.export_npy {
            write_npy(npy, cache.vectors(), cache.meta.rows, cache.meta.dim)
                .for_setting("export_npy")?;
            observer.note(&format!("exported {}", npy.display()));
        }
        Ok(Embedded {
            cache,
            outcome,
            states,
        })
    }
}

impl Embedded {
    /// What happened, in words: a hit, or what embedding cost; then each state cache.
    pub fn summary(&self) -> Vec<String> {
        let mut lines = self.cache_summary();
        lines.extend(self.states.iter().map(|states| {
            format!(
                "states after layer {}: {} ({:.1} MiB{})",
                states.meta.spec.after_layer,
                states.path.display(),
                states.payload_bytes() as f64 / (1 << 20) as f64,
                states
                    .meta
                    .build
                    .map_or(String::new(), |b| format!(", built in {:.1} s", b.seconds))
            )
        }));
        lines
    }

    fn cache_summary(&self) -> Vec<String> {
        let (path, rows, dim) = (&self.cache.path, self.cache.meta.rows, self.cache.meta.dim);
        match &self.outcome {
            BuildOutcome::Hit => vec![format!("cache hit: {} ({rows} × {dim})", path.display())],
            BuildOutcome::Built {
                chunks,
                resumed_chunks,
                summary,
            } => {
                let mut lines = Vec::new();
                if *resumed_chunks > 0 {
                    lines.push(format!(
                        "resumed: {resumed_chunks} of {chunks} chunks were already done"
                    ));
                }
                lines.push(format!(
                    "embedded {} documents ({} tokens, {:.1}% padding) in {:.1} s: {:.1} docs/s",
                    summary.documents,
                    summary.tokens,
                    100.0 * (1.0 - summary.tokens as f64 / summary.padded_tokens.max(1) as f64),
                    summary.seconds,
                    summary.docs_per_second(),
                ));
                lines.push(format!(
                    "cache: {} ({rows} × {dim}, {:.1} MiB)",
                    path.display(),
                    (rows * dim * 4) as f64 / (1 << 20) as f64
                ));
                lines
            }
        }
    }

    /// The time embedding took, zero for a hit.
    pub fn seconds(&self) -> Duration {
        match &self.outcome {
            BuildOutcome::Hit => Duration::ZERO,
            BuildOutcome::Built { summary, .. } => Duration::from_secs_f64(summary.seconds),
        }
    }
}
