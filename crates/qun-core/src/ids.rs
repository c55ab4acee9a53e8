//! Identifiers with their validation rules: app keys, user names, group and room ids.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("username must be 1 to 64 characters of a-z, 0-9, '_', '-' and '.'")]
    BadUserName,
    #[error("app key must look like org#app")]
    BadAppKey,
    #[error("group id must be a decimal number")]
    BadGroupId,
    #[error("chatroom id must be a decimal number")]
    BadRoomId,
}

/// `org#app`, the tenant every request is scoped to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AppKey {
    pub org: String,
    pub app: String,
}

impl AppKey {
    pub fn parse(key: &str) -> Result<Self, IdError> {
        let (org, app) = key.split_once('#').ok_or(IdError::BadAppKey)?;
        let valid = |part: &str| {
            !part.is_empty()
                && part.len() <= 64
                && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !valid(org) || !valid(app) || app.contains('#') {
            return Err(IdError::BadAppKey);
        }
        Ok(Self { org: org.to_owned(), app: app.to_owned() })
    }
}

impl fmt::Display for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.org, self.app)
    }
}

/// A user id as Agora spells it: at most 64 bytes of `a-z 0-9 _ - .`.
///
/// Easemob treats user ids case-insensitively; Agora forbids upper case. We accept upper case
/// on input and fold it, so `Alice` and `alice` are the same user everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserName(String);

impl UserName {
    pub const MAX_BYTES: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let folded = raw.to_ascii_lowercase();
        let valid = !folded.is_empty()
            && folded.len() <= Self::MAX_BYTES
            && folded.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'));
        if valid { Ok(Self(folded)) } else { Err(IdError::BadUserName) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// For values read back from our own storage, which only ever holds parsed names.
    pub fn from_trusted(raw: String) -> Self {
        Self(raw)
    }
}

impl TryFrom<String> for UserName {
    type Error = IdError;
    fn try_from(raw: String) -> Result<Self, IdError> {
        Self::parse(&raw)
    }
}

impl From<UserName> for String {
    fn from(name: UserName) -> String {
        name.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A 64-bit id shown as a decimal string, like Agora's group and chat room ids.
macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident, $error:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(pub u64);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                if raw.is_empty() || raw.len() > 20 || !raw.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(IdError::$error);
                }
                raw.parse().map($name).map_err(|_| IdError::$error)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

numeric_id!(
    /// A group id: a 64-bit number shown as a decimal string, like Agora's.
    GroupId,
    BadGroupId
);

numeric_id!(
    /// A chat room id: a 64-bit number shown as a decimal string, like a group's (Agora's room
    /// ids are numeric strings too).
    RoomId,
    BadRoomId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for (raw, expected) in [
            ("alice", Some("alice")),
            ("Alice_01.x-y", Some("alice_01.x-y")),
            ("", None),
            ("al ice", None),
            ("élodie", None),
            (&"a".repeat(64), Some(&*"a".repeat(64))),
            (&"a".repeat(65), None),
        ] {
            assert_eq!(UserName::parse(raw).ok().as_ref().map(UserName::as_str), expected, "{raw:?}");
        }
    }

    #[test]
    fn app_keys_and_group_ids() {
        assert_eq!(AppKey::parse("qun#demo").unwrap().to_string(), "qun#demo");
        assert!(AppKey::parse("qundemo").is_err());
        assert!(AppKey::parse("a#b#c").is_err());
        assert!(AppKey::parse("#b").is_err());
        assert_eq!(GroupId::parse("123456789012345").unwrap(), GroupId(123456789012345));
        assert!(GroupId::parse("12a").is_err());
        assert!(GroupId::parse("-1").is_err());
        assert!(GroupId::parse("99999999999999999999").is_err());
        assert_eq!(RoomId::parse("18446744073709551615").unwrap(), RoomId(u64::MAX));
        assert_eq!(RoomId::parse("7").unwrap().to_string(), "7");
        assert_eq!(RoomId::parse("1.5"), Err(IdError::BadRoomId));
        assert_eq!(RoomId::parse(""), Err(IdError::BadRoomId));
    }
}
