//! The checks every user setting passes where a library receives it.
//!
//! Each training entry point validates its whole configuration before any work
//! starts, with these functions, so the same setting follows the same rule in both
//! modes (a learning rate is a positive number for a head and for fine-tuning
//! alike) and a bad value is a [`SettingError`] naming the setting, never a panic
//! deep inside training. The error names the setting as the library does
//! (`learning_rate`); a command line maps it to its own flag (`--lr`).

#![warn(missing_docs)]

mod message;

use std::fmt::Display;

pub use message::Message;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Implements `FromStr` and `Display` for enums of unit variants through their serde
/// names, so that a command line and a config file spell a value the same way and
/// the serde attributes are the one table of names.
///
/// ```
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// #[serde(rename_all = "kebab-case")]
/// enum Monitor { Loss, MacroF1, Accuracy }
/// settings::serde_names!(Monitor);
///
/// assert_eq!("macro-f1".parse::<Monitor>(), Ok(Monitor::MacroF1));
/// assert_eq!(Monitor::Loss.to_string(), "loss");
/// let error = "f1".parse::<Monitor>().unwrap_err();
/// assert!(error.contains("expected one of `loss`, `macro-f1`, `accuracy`"), "{error}");
/// ```
#[macro_export]
macro_rules! serde_names {
    ($($name:ty),+ $(,)?) => {$(
        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $crate::from_name(s)
            }
        }
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&$crate::name_of(self))
            }
        }
    )+};
}

/// Implements serde's `Serialize` and `Deserialize` for types with `Display` and
/// `FromStr`: a setting's value is written as the text a command line takes for it,
/// in a config file, a job's JSON and a list alike (where [`as_text`] serves one field).
///
/// ```
/// #[derive(Debug, PartialEq)]
/// struct Width(usize);
/// impl std::fmt::Display for Width {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         write!(f, "w{}", self.0)
///     }
/// }
/// impl std::str::FromStr for Width {
///     type Err = String;
///     fn from_str(s: &str) -> Result<Self, String> {
///         s.strip_prefix('w').and_then(|n| n.parse().ok()).map(Width).ok_or("w<N>".into())
///     }
/// }
/// settings::text_serde!(Width);
///
/// assert_eq!(serde_json::to_string(&[Width(3)]).unwrap(), r#"["w3"]"#);
/// assert_eq!(serde_json::from_str::<Width>(r#""w4""#).unwrap(), Width(4));
/// assert!(serde_json::from_str::<Width>(r#""4""#).is_err());
/// ```
#[macro_export]
macro_rules! text_serde {
    ($($name:ty),+ $(,)?) => {$(
        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::as_text::serialize(self, serializer)
            }
        }
        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::as_text::deserialize(deserializer)
            }
        }
    )+};
}

/// Serde through `Display` and `FromStr`: a value written as the text a command line
/// takes for it (`oversample:0.5`, `recall:0.9`), for configs that are also command
/// lines. Use as `#[serde(with = "settings::as_text")]`.
pub mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes `value` as its `Display` text.
    pub fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    /// Reads a value from its text with `FromStr`.
    pub fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }

    /// [`as_text`](self) for an optional value: `None` is `null`.
    pub mod option {
        use std::fmt::Display;
        use std::str::FromStr;

        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the value's `Display` text, or `null`.
        pub fn serialize<T: Display, S: Serializer>(
            value: &Option<T>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match value {
                Some(value) => serializer.collect_str(value),
                None => serializer.serialize_none(),
            }
        }

        /// Reads an optional value from its text.
        pub fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
        where
            T: FromStr,
            T::Err: Display,
            D: Deserializer<'de>,
        {
            Option::<String>::deserialize(deserializer)?
                .map(|text| text.parse().map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

/// The value whose serde name is `name`; the error lists the names there are.
pub fn from_name<T: DeserializeOwned>(name: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .map_err(|e| format!("{name:?}: {e}"))
}

/// The serde name of a unit variant.
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        _ => unreachable!("serde_names! is for enums of unit variants"),
    }
}

/// A setting whose value breaks its rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{setting} {value}: {requirement}")]
pub struct SettingError {
    /// The setting's name in the library's configuration (`learning_rate`).
    pub setting: &'static str,
    /// The value given, as written back.
    pub value: String,
    /// What the value must be, in words (`must be a positive number`); it may name
    /// other settings.
    pub requirement: Message,
}

impl SettingError {
    /// `setting` with `value` breaks `requirement`.
    pub fn new(
        setting: &'static str,
        value: impl Display,
        requirement: impl Into<Message>,
    ) -> Self {
        Self {
            setting,
            value: value.to_string(),
            requirement: requirement.into(),
        }
    }
}

/// A count that must be at least 1: epochs, batch sizes, steps, members.
pub fn at_least_one(setting: &'static str, value: usize) -> Result<(), SettingError> {
    if value == 0 {
        return Err(SettingError::new(setting, value, "must be at least 1"));
    }
    Ok(())
}

/// A finite number above 0: learning rates, temperatures.
pub fn positive(setting: &'static str, value: f64) -> Result<(), SettingError> {
    if !(value.is_finite() && value > 0.0) {
        return Err(SettingError::new(
            setting,
            value,
            "must be a positive number",
        ));
    }
    Ok(())
}

/// A finite number of at least 0: penalties, clipping norms, tolerances.
pub fn non_negative(setting: &'static str, value: f64) -> Result<(), SettingError> {
    if !(value.is_finite() && value >= 0.0) {
        return Err(SettingError::new(setting, value, "must be a number ≥ 0"));
    }
    Ok(())
}

/// A probability of dropping or holding out, in `[0, 1)`: 1 would leave nothing.
pub fn rate(setting: &'static str, value: f64) -> Result<(), SettingError> {
    if !(0.0..1.0).contains(&value) {
        return Err(SettingError::new(setting, value, "must be in [0, 1)"));
    }
    Ok(())
}

/// [`rate`] for an optional setting (absent: the model's own value).
pub fn optional_rate(setting: &'static str, value: Option<f64>) -> Result<(), SettingError> {
    value.map_or(Ok(()), |p| rate(setting, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_accepts_its_range_and_names_what_it_refuses() {
        assert!(at_least_one("epochs", 1).is_ok());
        assert_eq!(
            at_least_one("epochs", 0).unwrap_err().to_string(),
            "epochs 0: must be at least 1"
        );
        assert!(positive("learning_rate", 1e-5).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(positive("learning_rate", bad).is_err(), "{bad}");
        }
        assert!(non_negative("l2", 0.0).is_ok() && non_negative("l2", -1e-9).is_err());
        assert!(rate("dropout", 0.0).is_ok() && rate("dropout", 0.999).is_ok());
        for bad in [1.0, 1.5, -0.1, f64::NAN] {
            assert!(rate("dropout", bad).is_err(), "{bad}");
        }
        assert!(optional_rate("hidden_dropout", None).is_ok());
    }
}
