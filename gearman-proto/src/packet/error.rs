//! Error types of the packet layer.

use crate::packet::{Command, Magic};

/// The caller asked for a packet that cannot exist on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The number of fields does not match the command.
    #[error("{command} takes {expected} fields, {given} given")]
    FieldCount {
        /// The command being built.
        command: Command,
        /// Fields the command has.
        expected: usize,
        /// Fields passed.
        given: usize,
    },
    /// A field other than the last contains a NUL byte, which would end it early.
    #[error("{command} field {index} contains a NUL byte")]
    NulInField {
        /// The command being built.
        command: Command,
        /// Index of the offending field.
        index: usize,
    },
    /// The payload has fewer NUL separators than the command needs.
    #[error("{command} needs {expected} fields, payload has {found}")]
    MissingFields {
        /// The command.
        command: Command,
        /// Fields the command has.
        expected: usize,
        /// Fields found in the payload.
        found: usize,
    },
    /// The payload does not fit the 32-bit size field.
    #[error("payload of {size} bytes exceeds the protocol's 4 GiB limit")]
    TooLarge {
        /// Payload size in bytes.
        size: usize,
    },
}

/// The peer sent bytes that are not a valid frame.
///
/// After a decoder returns one of these it stays failed: the stream has lost
/// its framing, so every later call returns the same error and the connection
/// should be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The first four bytes are neither `\0REQ` nor `\0RES` (fewer than four
    /// bytes are given when the prefix already cannot match).
    #[error("bad magic {0:02x?}")]
    BadMagic(Vec<u8>),
    /// The type number is unused, out of range, or does not exist with this magic.
    #[error("unknown command {number} with magic {magic:?}")]
    UnknownCommand {
        /// Magic of the packet.
        magic: Magic,
        /// Type number of the packet.
        number: u32,
    },
    /// The declared payload size is over the configured maximum.
    #[error("declared payload of {size} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Declared size.
        size: u32,
        /// Configured maximum.
        max: u32,
    },
    /// The payload has fewer fields than the command needs.
    #[error("{command} needs {expected} fields, payload has {found}")]
    MissingFields {
        /// The command.
        command: Command,
        /// Fields the command has.
        expected: usize,
        /// Fields found in the payload.
        found: usize,
    },
    /// A text line is longer than the configured maximum.
    #[error("text line longer than {max} bytes")]
    LineTooLong {
        /// Configured maximum.
        max: usize,
    },
    /// A text line arrived where only binary packets are allowed.
    #[error("unexpected text where a binary packet was expected")]
    UnexpectedText,
}
