//! Rows as both databases return them, and their conversion into records.
//!
//! The row structs derive `sqlx::FromRow`, which is generic over the database, so one set of
//! them decodes SQLite and PostgreSQL rows alike. The `*_columns!` macros name the columns
//! each struct expects, for `concat!` into the queries.

use qun_core::{GroupId, GroupSettings, MemberRole, RoomId, RoomSettings, UserName};

use crate::{
    AppRecord, GroupRecord, MembershipRecord, RequestKind, RequestRecord, RoomAttributeRecord, RoomMemberRecord,
    RoomPresence, RoomRecord, SharedFileRecord, StoreError, StoreResult, StoredEvent, TimelineEntry, TimelineItem,
    TokenRecord, UserRecord,
};

/// `group_timeline.kind` of an event (payload: `GroupEvent` as JSON).
pub(super) const TIMELINE_EVENT: i16 = 0;
/// `group_timeline.kind` and `chat_timeline.kind` of a message (payload: the realtime layer's
/// bytes).
pub(super) const TIMELINE_MESSAGE: i16 = 1;
/// A notice about an earlier message (its recall or edit; payload as a message's): delivered
/// like a message, never history.
pub(super) const TIMELINE_NOTICE: i16 = 2;
/// A recalled message's row: kept so history can page from its id, read by nobody.
pub(super) const TIMELINE_RECALLED: i16 = 3;

/// A u64 id as stored: the same 64 bits in a BIGINT. Ids are below 2^63, so they keep their
/// order; an id above that still round-trips (a lookup simply finds nothing).
pub(super) fn sql_id(id: u64) -> i64 {
    id as i64
}

pub(super) fn id_from_sql(id: i64) -> u64 {
    id as u64
}

pub(super) fn group_id_from_sql(id: i64) -> GroupId {
    GroupId(id_from_sql(id))
}

pub(super) fn room_id_from_sql(id: i64) -> RoomId {
    RoomId(id_from_sql(id))
}

/// A 1:1 conversation's sides in byte order, whichever order they come in, and its name as
/// stored, `"low|high"` (`|` is never part of a user name).
pub(super) fn chat_name<'a>(a: &'a UserName, b: &'a UserName) -> (&'a UserName, &'a UserName, String) {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    (low, high, format!("{low}|{high}"))
}

/// A unique-key violation is the caller's `AlreadyExists`; anything else stays as it is.
pub(super) fn unique_violation_is_already_exists(error: StoreError) -> StoreError {
    match &error {
        StoreError::Database(sqlx::Error::Database(database_error)) if database_error.is_unique_violation() => {
            StoreError::AlreadyExists
        }
        _ => error,
    }
}

pub(super) fn to_json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|error| StoreError::Corrupt(format!("cannot serialize: {error}")))
}

fn count_from_sql(column: &str, value: i64) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} = {value}")))
}

macro_rules! app_columns {
    () => {
        "id, uuid, org, name, client_id, client_secret_hash, settings, created_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct AppRow {
    id: i64,
    uuid: String,
    org: String,
    name: String,
    client_id: String,
    client_secret_hash: Vec<u8>,
    settings: String,
    created_ms: i64,
}

impl TryFrom<AppRow> for AppRecord {
    type Error = StoreError;

    fn try_from(row: AppRow) -> StoreResult<AppRecord> {
        let settings = serde_json::from_str(&row.settings)
            .map_err(|error| StoreError::Corrupt(format!("settings of app {}: {error}", row.id)))?;
        Ok(AppRecord {
            id: row.id,
            uuid: row.uuid,
            org: row.org,
            name: row.name,
            client_id: row.client_id,
            client_secret_hash: row.client_secret_hash,
            settings,
            created_ms: row.created_ms,
        })
    }
}

macro_rules! user_columns {
    () => {
        "name, uuid, password_hash, nickname, activated, created_ms, modified_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct UserRow {
    name: String,
    uuid: String,
    password_hash: String,
    nickname: String,
    activated: bool,
    created_ms: i64,
    modified_ms: i64,
}

impl From<UserRow> for UserRecord {
    fn from(row: UserRow) -> UserRecord {
        UserRecord {
            name: UserName::from_trusted(row.name),
            uuid: row.uuid,
            password_hash: row.password_hash,
            nickname: row.nickname,
            activated: row.activated,
            created_ms: row.created_ms,
            modified_ms: row.modified_ms,
        }
    }
}

macro_rules! token_columns {
    () => {
        "hash, app_id, user_name, created_ms, expires_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct TokenRow {
    hash: Vec<u8>,
    app_id: i64,
    user_name: Option<String>,
    created_ms: i64,
    expires_ms: Option<i64>,
}

impl From<TokenRow> for TokenRecord {
    fn from(row: TokenRow) -> TokenRecord {
        TokenRecord {
            hash: row.hash,
            app_id: row.app_id,
            user: row.user_name.map(UserName::from_trusted),
            created_ms: row.created_ms,
            expires_ms: row.expires_ms,
        }
    }
}

/// Group columns, qualified: queries name the table `groups v` (a venue, joined with members).
macro_rules! group_columns {
    () => {
        "v.id, v.owner, v.name, v.description, v.avatar, v.public, v.approval_required, \
         v.allow_invites, v.invite_need_confirm, v.max_users, v.custom, v.mute_all, v.disabled, \
         v.announcement, v.member_count, v.admin_count, v.version, v.last_seq, v.created_ms, \
         v.modified_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct GroupRow {
    id: i64,
    owner: String,
    name: String,
    description: String,
    avatar: String,
    public: bool,
    approval_required: bool,
    allow_invites: bool,
    invite_need_confirm: bool,
    max_users: i64,
    custom: String,
    mute_all: bool,
    disabled: bool,
    announcement: String,
    member_count: i64,
    admin_count: i64,
    version: i64,
    last_seq: i64,
    created_ms: i64,
    modified_ms: i64,
}

impl TryFrom<GroupRow> for GroupRecord {
    type Error = StoreError;

    fn try_from(row: GroupRow) -> StoreResult<GroupRecord> {
        Ok(GroupRecord {
            id: group_id_from_sql(row.id),
            owner: UserName::from_trusted(row.owner),
            settings: GroupSettings {
                name: row.name,
                description: row.description,
                avatar: row.avatar,
                public: row.public,
                approval_required: row.approval_required,
                allow_invites: row.allow_invites,
                invite_need_confirm: row.invite_need_confirm,
                max_users: count_from_sql("max_users", row.max_users)?,
                custom: row.custom,
            },
            mute_all: row.mute_all,
            disabled: row.disabled,
            announcement: row.announcement,
            member_count: count_from_sql("member_count", row.member_count)?,
            admin_count: count_from_sql("admin_count", row.admin_count)?,
            version: row.version,
            last_seq: row.last_seq,
            created_ms: row.created_ms,
            modified_ms: row.modified_ms,
        })
    }
}

/// Membership columns, qualified: queries name the table `group_members m`.
macro_rules! member_columns {
    () => {
        "m.user_name, m.role, m.joined_ms, m.join_order, m.muted_until_ms, m.allowlisted, \
         m.shielded, m.cursor_seq"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct MemberRow {
    user_name: String,
    role: i16,
    joined_ms: i64,
    join_order: i64,
    muted_until_ms: Option<i64>,
    allowlisted: bool,
    shielded: bool,
    cursor_seq: i64,
}

impl From<MemberRow> for MembershipRecord {
    fn from(row: MemberRow) -> MembershipRecord {
        MembershipRecord {
            user: UserName::from_trusted(row.user_name),
            role: MemberRole::from_code(row.role),
            joined_ms: row.joined_ms,
            join_order: row.join_order,
            muted_until_ms: row.muted_until_ms,
            allowlisted: row.allowlisted,
            shielded: row.shielded,
            cursor_seq: row.cursor_seq,
        }
    }
}

macro_rules! file_columns {
    () => {
        "file_id, name, owner, size, created_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct FileRow {
    file_id: String,
    name: String,
    owner: String,
    size: i64,
    created_ms: i64,
}

impl From<FileRow> for SharedFileRecord {
    fn from(row: FileRow) -> SharedFileRecord {
        SharedFileRecord {
            file_id: row.file_id,
            name: row.name,
            owner: UserName::from_trusted(row.owner),
            size: row.size,
            created_ms: row.created_ms,
        }
    }
}

macro_rules! request_columns {
    () => {
        "user_name, kind, inviter, message, created_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct RequestRow {
    user_name: String,
    kind: i16,
    inviter: Option<String>,
    message: String,
    created_ms: i64,
}

impl TryFrom<RequestRow> for RequestRecord {
    type Error = StoreError;

    fn try_from(row: RequestRow) -> StoreResult<RequestRecord> {
        let kind = [RequestKind::Application, RequestKind::Invitation]
            .into_iter()
            .find(|kind| kind.code() == row.kind)
            .ok_or_else(|| StoreError::Corrupt(format!("request kind {}", row.kind)))?;
        Ok(RequestRecord {
            user: UserName::from_trusted(row.user_name),
            kind,
            inviter: row.inviter.map(UserName::from_trusted),
            message: row.message,
            created_ms: row.created_ms,
        })
    }
}

macro_rules! timeline_columns {
    () => {
        "seq, id, kind, except_user, payload, created_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct TimelineRow {
    seq: i64,
    id: i64,
    kind: i16,
    except_user: Option<String>,
    payload: Vec<u8>,
    created_ms: i64,
}

impl TryFrom<TimelineRow> for TimelineEntry {
    type Error = StoreError;

    fn try_from(row: TimelineRow) -> StoreResult<TimelineEntry> {
        let item = match row.kind {
            TIMELINE_EVENT => TimelineItem::Event(
                serde_json::from_slice(&row.payload)
                    .map_err(|error| StoreError::Corrupt(format!("timeline event {}: {error}", row.seq)))?,
            ),
            TIMELINE_MESSAGE | TIMELINE_NOTICE => TimelineItem::Message(row.payload),
            other => return Err(StoreError::Corrupt(format!("timeline kind {other}"))),
        };
        Ok(TimelineEntry {
            seq: row.seq,
            id: id_from_sql(row.id),
            except: row.except_user.map(UserName::from_trusted),
            item,
            created_ms: row.created_ms,
        })
    }
}

macro_rules! chat_timeline_columns {
    () => {
        "seq, id, payload, created_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct ChatTimelineRow {
    seq: i64,
    id: i64,
    payload: Vec<u8>,
    created_ms: i64,
}

impl From<ChatTimelineRow> for TimelineEntry {
    fn from(row: ChatTimelineRow) -> TimelineEntry {
        TimelineEntry {
            seq: row.seq,
            id: id_from_sql(row.id),
            except: None,
            item: TimelineItem::Message(row.payload),
            created_ms: row.created_ms,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct EventRow {
    id: i64,
    payload: String,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<StoredEvent> {
        let item = serde_json::from_str(&row.payload)
            .map_err(|error| StoreError::Corrupt(format!("user event {}: {error}", row.id)))?;
        Ok(StoredEvent { id: id_from_sql(row.id), item })
    }
}

/// Room columns, qualified: queries name the table `rooms v` (a venue, joined with members).
macro_rules! room_columns {
    () => {
        "v.id, v.owner, v.name, v.description, v.max_users, v.custom, v.announcement, v.mute_all, \
         v.member_count, v.admin_count, v.version, v.created_ms, v.modified_ms, v.delivery"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct RoomRow {
    id: i64,
    owner: String,
    name: String,
    description: String,
    max_users: i64,
    custom: String,
    announcement: String,
    mute_all: bool,
    member_count: i64,
    admin_count: i64,
    version: i64,
    created_ms: i64,
    modified_ms: i64,
    delivery: String,
}

impl TryFrom<RoomRow> for RoomRecord {
    type Error = StoreError;

    fn try_from(row: RoomRow) -> StoreResult<RoomRecord> {
        Ok(RoomRecord {
            id: room_id_from_sql(row.id),
            owner: UserName::from_trusted(row.owner),
            settings: RoomSettings {
                name: row.name,
                description: row.description,
                max_users: count_from_sql("max_users", row.max_users)?,
                custom: row.custom,
            },
            announcement: row.announcement,
            mute_all: row.mute_all,
            member_count: count_from_sql("member_count", row.member_count)?,
            admin_count: count_from_sql("admin_count", row.admin_count)?,
            version: row.version,
            created_ms: row.created_ms,
            modified_ms: row.modified_ms,
            delivery: serde_json::from_str(&row.delivery)
                .map_err(|error| StoreError::Corrupt(format!("room {} delivery: {error}", row.id)))?,
        })
    }
}

/// Room member columns, qualified: queries name the table `room_members m`; `allowlisted` is
/// looked up in `room_allowlist`.
macro_rules! room_member_columns {
    () => {
        "m.user_name, m.joined_ms, m.join_order, \
         EXISTS (SELECT 1 FROM room_allowlist a \
                 WHERE a.app_id = m.app_id AND a.room_id = m.room_id AND a.user_name = m.user_name) AS allowlisted"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct RoomMemberRow {
    user_name: String,
    joined_ms: i64,
    join_order: i64,
    allowlisted: bool,
}

impl From<RoomMemberRow> for RoomMemberRecord {
    fn from(row: RoomMemberRow) -> RoomMemberRecord {
        RoomMemberRecord {
            user: UserName::from_trusted(row.user_name),
            joined_ms: row.joined_ms,
            join_order: row.join_order,
            allowlisted: row.allowlisted,
        }
    }
}

/// A venue and one membership in it, from one row of the venue's and the member's columns.
#[derive(sqlx::FromRow)]
pub(super) struct VenueMemberRow<V, M> {
    #[sqlx(flatten)]
    pub(super) venue: V,
    #[sqlx(flatten)]
    pub(super) member: M,
}

/// Someone in a room, with the app and room: `a.org, a.name AS app_name, m.room_id` and
/// `room_member_columns!`.
#[derive(sqlx::FromRow)]
pub(super) struct RoomPresenceRow {
    org: String,
    app_name: String,
    room_id: i64,
    #[sqlx(flatten)]
    member: RoomMemberRow,
}

impl From<RoomPresenceRow> for RoomPresence {
    fn from(row: RoomPresenceRow) -> RoomPresence {
        RoomPresence {
            org: row.org,
            app: row.app_name,
            room_id: room_id_from_sql(row.room_id),
            member: row.member.into(),
        }
    }
}

macro_rules! room_attribute_columns {
    () => {
        "attr_key, attr_value, owner, auto_delete, updated_ms"
    };
}

#[derive(sqlx::FromRow)]
pub(super) struct RoomAttributeRow {
    attr_key: String,
    attr_value: String,
    owner: String,
    auto_delete: bool,
    updated_ms: i64,
}

impl From<RoomAttributeRow> for RoomAttributeRecord {
    fn from(row: RoomAttributeRow) -> RoomAttributeRecord {
        RoomAttributeRecord {
            key: row.attr_key,
            value: row.attr_value,
            owner: UserName::from_trusted(row.owner),
            auto_delete: row.auto_delete,
            updated_ms: row.updated_ms,
        }
    }
}

/// Converts every row, failing on the first that does not convert.
pub(super) fn convert_all<Row, Record>(rows: Vec<Row>) -> StoreResult<Vec<Record>>
where
    Record: TryFrom<Row, Error = StoreError>,
{
    rows.into_iter().map(Record::try_from).collect()
}
