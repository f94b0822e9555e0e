//! routing (in progress).
