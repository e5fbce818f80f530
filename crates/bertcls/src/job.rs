//! The contract every workflow of the library keeps: a typed configuration that
//! checks its settings before any work, and runs with its progress told to an
//! [`Observer`].

use crate::Observer;
use crate::error::Result;

/// A workflow: [`EmbedJob`](crate::EmbedJob), [`FineTuneJob`](crate::FineTuneJob),
/// [`CompareJob`](crate::CompareJob), …. Callers call [`run`](Self::run), which
/// validates first, so no work starts on a setting that breaks its rule.
pub trait Job {
    /// What the job made or measured.
    type Output;

    /// Checks every setting that needs no data or model against its rule, with a
    /// typed error in the library's names ([`settings::SettingError`], say).
    fn validate(&self) -> Result<()>;

    /// Does the work of a validated job.
    fn execute(&self, observer: &mut dyn Observer) -> Result<Self::Output>;

    /// Validates, then does the work.
    fn run(&self, observer: &mut dyn Observer) -> Result<Self::Output> {
        self.validate()?;
        self.execute(observer)
    }
}
