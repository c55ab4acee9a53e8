//! Qun's domain: identifiers, roles, group and room settings, limits, the permission rules and
//! the receivers of each group and room event.
//!
//! Invariant: this crate does no IO (no clock, no database, no network) and cannot fail for
//! reasons outside its inputs. Every "may X do Y to Z?" decision lives in [`rules`], once.

pub mod contacts;
pub mod events;
pub mod group;
pub mod ids;
pub mod limits;
pub mod receipts;
pub mod room;
pub mod room_delivery;
pub mod room_events;
pub mod rules;

pub use contacts::{ContactChange, ContactEvent};
pub use events::{Audience, AudienceRule, GroupEvent, GroupOperation};
pub use group::{GroupFlags, GroupSettings, MemberRole, Standing};
pub use ids::{AppKey, GroupId, RoomId, UserName};
pub use limits::Plan;
pub use receipts::{GroupReceipt, PersonalItem, Receipt, ReceiptKind};
pub use room::{RoomFlags, RoomSettings};
pub use room_delivery::{RoomDelivery, RoomDeliveryDefaults, RoomPriority};
pub use room_events::{RoomAudience, RoomAudienceRule, RoomEvent, RoomOperation};
