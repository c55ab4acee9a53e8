//! Chat room settings, the switch the room rules depend on, and the custom attributes' rules
//! (which keys a set or a removal may touch).
//!
//! A room's roles are held apart from its presence: the owner of record and the admins keep
//! their role when they leave the room (Easemob: "the owner may leave and is still the owner
//! when they come back"); plain members are members only while they are in the room. So in the
//! rules the owner and admins are members by role, present or not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{UserName, limits};

/// What a room is configured with, validated. `PUT /chatrooms/{id}` changes only these
/// (besides `custom`, which only creation sets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSettings {
    pub name: String,
    pub description: String,
    pub max_users: u32,
    pub custom: String,
}

/// The switches of a room that the permission rules depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoomFlags {
    /// Only the owner, admins and allowlisted members may send.
    pub mute_all: bool,
}

/// A setting that breaks a limit; the message names the field as Agora's JSON does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoomSettingsError {
    #[error("name must be provided")]
    NameMissing,
    #[error("name is longer than 128 characters")]
    NameTooLong,
    #[error("description is longer than 512 characters")]
    DescriptionTooLong,
    #[error("custom is longer than 8192 bytes")]
    CustomTooLong,
    #[error("maxusers must be between 1 and {limit}")]
    MaxUsersOutOfRange { limit: u32 },
}

impl RoomSettings {
    /// Checks every limit; `plan_limit` is the app's largest allowed `maxusers`.
    pub fn validate(&self, plan_limit: u32) -> Result<(), RoomSettingsError> {
        if self.name.trim().is_empty() {
            return Err(RoomSettingsError::NameMissing);
        }
        if limits::chars(&self.name) > limits::ROOM_NAME_MAX_CHARS {
            return Err(RoomSettingsError::NameTooLong);
        }
        if limits::chars(&self.description) > limits::ROOM_DESCRIPTION_MAX_CHARS {
            return Err(RoomSettingsError::DescriptionTooLong);
        }
        if self.custom.len() > limits::ROOM_CUSTOM_MAX_BYTES {
            return Err(RoomSettingsError::CustomTooLong);
        }
        if self.max_users < 1 || self.max_users > plan_limit {
            return Err(RoomSettingsError::MaxUsersOutOfRange { limit: plan_limit });
        }
        Ok(())
    }
}

/// `maxusers` of a room created without one: Agora's 1,000, or less if the plan allows less.
pub fn default_room_max_users(plan_limit: u32) -> u32 {
    limits::ROOM_DEFAULT_MAXUSERS.min(plan_limit)
}

// ------------------------------------------------------------------------ custom attributes

/// Why one key of an attribute call was not set or removed. The text goes into Agora's
/// `errorKeys` map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttributeRefusal {
    #[error("key must be 1 to 128 characters of a-z, A-Z, 0-9, '_', '-' and '.'")]
    BadKey,
    #[error("value is longer than 4096 characters")]
    ValueTooLong,
    #[error("the key was set by another user")]
    SetByAnotherUser,
    #[error("the chatroom has 100 attributes already")]
    RoomFull,
    #[error("the key does not exist")]
    NoSuchKey,
}

/// Checks a key: 1 to 128 characters of `[A-Za-z0-9_.-]`.
pub fn check_attribute_key(key: &str) -> Result<(), AttributeRefusal> {
    let valid = !key.is_empty()
        && key.len() <= limits::ROOM_ATTR_KEY_MAX_CHARS
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if valid { Ok(()) } else { Err(AttributeRefusal::BadKey) }
}

/// What an attribute call does, key by key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttributePlan {
    /// Keys to write (with their values) or to remove (with an empty value).
    pub accepted: BTreeMap<String, String>,
    pub refused: BTreeMap<String, AttributeRefusal>,
}

/// Plans setting `changes` for `setter`, given who set each existing key (`owners`).
///
/// A key set by someone else is refused unless `forced`; a new key is refused once the room
/// would hold more than 100 keys (accepted keys are counted in the order given, which for a
/// `BTreeMap` is key order). Refusals leave the other keys alone, as Agora does.
pub fn plan_attribute_set(
    owners: &BTreeMap<String, UserName>,
    setter: &UserName,
    changes: &BTreeMap<String, String>,
    forced: bool,
) -> AttributePlan {
    let mut plan = AttributePlan::default();
    let mut count = owners.len();
    for (key, value) in changes {
        let refusal = if let Err(refusal) = check_attribute_key(key) {
            Some(refusal)
        } else if limits::chars(value) > limits::ROOM_ATTR_VALUE_MAX_CHARS {
            Some(AttributeRefusal::ValueTooLong)
        } else {
            match owners.get(key) {
                Some(owner) if owner != setter && !forced => Some(AttributeRefusal::SetByAnotherUser),
                Some(_) => None,
                None if count >= limits::ROOM_ATTRS_MAX => Some(AttributeRefusal::RoomFull),
                None => {
                    count += 1;
                    None
                }
            }
        };
        match refusal {
            Some(refusal) => {
                plan.refused.insert(key.clone(), refusal);
            }
            None => {
                plan.accepted.insert(key.clone(), value.clone());
            }
        }
    }
    plan
}

/// Plans removing `keys` for `remover`: only their own keys unless `forced`; keys that do not
/// exist are refused. Accepted keys carry an empty value.
pub fn plan_attribute_removal(
    owners: &BTreeMap<String, UserName>,
    remover: &UserName,
    keys: &[String],
    forced: bool,
) -> AttributePlan {
    let mut plan = AttributePlan::default();
    for key in keys {
        let refusal = match owners.get(key) {
            None => Some(AttributeRefusal::NoSuchKey),
            Some(owner) if owner != remover && !forced => Some(AttributeRefusal::SetByAnotherUser),
            Some(_) => None,
        };
        match refusal {
            Some(refusal) => {
                plan.refused.insert(key.clone(), refusal);
            }
            None => {
                plan.accepted.insert(key.clone(), String::new());
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserName {
        UserName::parse(name).expect("valid user name")
    }

    fn settings() -> RoomSettings {
        RoomSettings { name: "room".into(), description: String::new(), max_users: 1000, custom: String::new() }
    }

    #[test]
    fn settings_are_checked_against_the_limits_and_the_plan() {
        assert_eq!(settings().validate(20_000), Ok(()));
        let mut s = settings();
        s.name = "  ".into();
        assert_eq!(s.validate(20_000), Err(RoomSettingsError::NameMissing));
        s.name = "房".repeat(128);
        assert_eq!(s.validate(20_000), Ok(()));
        s.name.push('房');
        assert_eq!(s.validate(20_000), Err(RoomSettingsError::NameTooLong));
        let mut s = settings();
        s.description = "d".repeat(513);
        assert_eq!(s.validate(20_000), Err(RoomSettingsError::DescriptionTooLong));
        let mut s = settings();
        s.custom = "c".repeat(8192);
        assert_eq!(s.validate(20_000), Ok(()));
        s.custom.push('c');
        assert_eq!(s.validate(20_000), Err(RoomSettingsError::CustomTooLong));
        let mut s = settings();
        s.max_users = 101;
        assert_eq!(s.validate(100), Err(RoomSettingsError::MaxUsersOutOfRange { limit: 100 }));
        s.max_users = 0;
        assert!(s.validate(100).is_err());
        s.max_users = 1;
        assert_eq!(s.validate(100), Ok(()));
        assert_eq!((default_room_max_users(100), default_room_max_users(20_000)), (100, 1000));
    }

    #[test]
    fn attribute_keys_are_128_characters_of_a_small_alphabet() {
        for key in ["a", "Key_1.x-y", &"k".repeat(128)] {
            assert_eq!(check_attribute_key(key), Ok(()), "{key}");
        }
        for key in ["", "a b", "ключ", "a/b", "a:b", &"k".repeat(129)] {
            assert_eq!(check_attribute_key(key), Err(AttributeRefusal::BadKey), "{key}");
        }
    }

    #[test]
    fn a_set_leaves_others_keys_alone_unless_forced() {
        let owners: BTreeMap<String, UserName> =
            [("mine".to_owned(), user("ann")), ("theirs".to_owned(), user("bob"))].into_iter().collect();
        let changes: BTreeMap<String, String> = [("mine", "1"), ("theirs", "2"), ("new", "3"), ("bad key", "4")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let plan = plan_attribute_set(&owners, &user("ann"), &changes, false);
        assert_eq!(plan.accepted.keys().collect::<Vec<_>>(), ["mine", "new"]);
        assert_eq!(
            plan.refused,
            [
                ("bad key".to_owned(), AttributeRefusal::BadKey),
                ("theirs".to_owned(), AttributeRefusal::SetByAnotherUser)
            ]
            .into_iter()
            .collect()
        );
        let forced = plan_attribute_set(&owners, &user("ann"), &changes, true);
        assert_eq!(forced.accepted.keys().collect::<Vec<_>>(), ["mine", "new", "theirs"]);
        assert_eq!(forced.refused.len(), 1);
    }

    #[test]
    fn values_are_4096_characters_and_a_room_holds_100_keys() {
        let ann = user("ann");
        let long: BTreeMap<String, String> =
            [("a".to_owned(), "v".repeat(4096)), ("b".to_owned(), "v".repeat(4097))].into_iter().collect();
        let plan = plan_attribute_set(&BTreeMap::new(), &ann, &long, false);
        assert_eq!(plan.accepted.len(), 1);
        assert_eq!(plan.refused.get("b"), Some(&AttributeRefusal::ValueTooLong));

        let full: BTreeMap<String, UserName> = (0..99).map(|i| (format!("k{i:02}"), ann.clone())).collect();
        let changes: BTreeMap<String, String> =
            ["k00", "x1", "x2"].into_iter().map(|k| (k.to_owned(), "v".to_owned())).collect();
        let plan = plan_attribute_set(&full, &ann, &changes, true);
        // k00 exists (an update is always room); x1 is the 100th key; x2 would be the 101st.
        assert_eq!(plan.accepted.keys().collect::<Vec<_>>(), ["k00", "x1"]);
        assert_eq!(plan.refused.get("x2"), Some(&AttributeRefusal::RoomFull));
    }

    #[test]
    fn a_removal_takes_only_own_existing_keys_unless_forced() {
        let owners: BTreeMap<String, UserName> =
            [("mine".to_owned(), user("ann")), ("theirs".to_owned(), user("bob"))].into_iter().collect();
        let keys: Vec<String> = ["mine", "theirs", "gone"].into_iter().map(str::to_owned).collect();
        let plan = plan_attribute_removal(&owners, &user("ann"), &keys, false);
        assert_eq!(plan.accepted, [("mine".to_owned(), String::new())].into_iter().collect());
        assert_eq!(plan.refused.get("theirs"), Some(&AttributeRefusal::SetByAnotherUser));
        assert_eq!(plan.refused.get("gone"), Some(&AttributeRefusal::NoSuchKey));
        let forced = plan_attribute_removal(&owners, &user("ann"), &keys, true);
        assert_eq!(forced.accepted.keys().collect::<Vec<_>>(), ["mine", "theirs"]);
    }
}
