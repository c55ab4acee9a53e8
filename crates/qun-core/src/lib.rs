//! Qun's domain: identifiers, roles, group settings, limits, the permission rules and the
//! receivers of each group event.
//!
//! Invariant: this crate does no IO (no clock, no database, no network) and cannot fail for
//! reasons outside its inputs. Every "may X do Y to Z?" decision lives in [`rules`], once.

pub mod events;
pub mod group;
pub mod ids;
pub mod limits;
pub mod rules;

pub use events::{Audience, AudienceRule, GroupEvent, GroupOperation};
pub use group::{GroupFlags, GroupSettings, MemberRole, Standing};
pub use ids::{AppKey, GroupId, UserName};
pub use limits::Plan;
