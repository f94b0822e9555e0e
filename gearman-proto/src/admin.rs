//! The admin text protocol.
