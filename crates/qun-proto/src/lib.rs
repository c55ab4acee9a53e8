//! Wire types: the Agora-compatible REST request and response JSON, and the one error table
//! every client-visible error maps into.
//!
//! Invariant: this is the only crate that defines wire shapes; handlers fill these types and
//! never build JSON by hand.

pub mod error;
pub mod msync;
pub mod rest;

pub use error::{ApiError, ErrorCode, FILE_NO_PERMISSION, NOT_CONTACTS_REMARK};
