//! State transfer between two implementations of one object.
//!
//! Each implementation lists the formats it can export its state in and
//! import it from, best first. The mediator picks the importer's most
//! preferred format that the exporter also offers; if there is none, or
//! either side fails, the swap rolls back and the old implementation
//! carries on as if nothing happened.

use std::any::Any;
use std::fmt;

/// A way of handing state from one implementation to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One number summing up the state (a counter's total).
    Value,
    /// One number per representative slot (same slot layout on both sides).
    PerRep,
    /// A value of the implementations' own choosing, passed by reference
    /// (for two implementations that know each other's insides).
    Opaque,
}

/// State in one of the [`Format`]s.
pub enum State {
    Value(u64),
    PerRep(Vec<u64>),
    Opaque(Box<dyn Any + Send>),
}

impl State {
    /// The format this state is in.
    pub fn format(&self) -> Format {
        match self {
            State::Value(_) => Format::Value,
            State::PerRep(_) => Format::PerRep,
            State::Opaque(_) => Format::Opaque,
        }
    }
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Value(v) => write!(f, "Value({v})"),
            State::PerRep(v) => write!(f, "PerRep({v:?})"),
            State::Opaque(_) => f.write_str("Opaque(..)"),
        }
    }
}

/// Why a transfer failed (the swap was rolled back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferError {
    /// The two implementations share no format.
    NoCommonFormat { from: String, to: String },
    /// One side refused the state.
    Refused(String),
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::NoCommonFormat { from, to } => {
                write!(f, "`{from}` and `{to}` share no state format")
            }
            TransferError::Refused(why) => write!(f, "state transfer refused: {why}"),
        }
    }
}

impl std::error::Error for TransferError {}

/// The importer's most preferred format that the exporter offers.
pub fn negotiate(exports: &[Format], imports: &[Format]) -> Option<Format> {
    imports.iter().copied().find(|f| exports.contains(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_importers_preference_wins_among_common_formats() {
        use Format::*;
        assert_eq!(negotiate(&[Value, PerRep], &[PerRep, Value]), Some(PerRep));
        assert_eq!(negotiate(&[Value], &[PerRep, Value]), Some(Value));
        assert_eq!(negotiate(&[Opaque], &[PerRep, Value]), None);
        assert_eq!(negotiate(&[], &[Value]), None);
    }
}
