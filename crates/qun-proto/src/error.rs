//! The error table: one row per error a client can see, with its HTTP status, Agora's error
//! name and exception class (REST), and the msync status code and reason the official SDK
//! matches (websocket). Every domain error maps into one row.

use serde::Serialize;

macro_rules! error_table {
    ($( $(#[$doc:meta])* $code:ident => $http:literal, $error:literal, $exception:literal, $msync:literal, $reason:literal; )*) => {
        /// One row of the error table.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $( $(#[$doc])* $code, )* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$code),*];

            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$code => $http,)* }
            }
            /// Agora's `error` field.
            pub fn error_name(self) -> &'static str {
                match self { $(ErrorCode::$code => $error,)* }
            }
            /// Agora's `exception` field.
            pub fn exception(self) -> &'static str {
                match self { $(ErrorCode::$code => $exception,)* }
            }
            /// msync `Status.ErrorCode` value for the same failure on the websocket.
            pub fn msync_status(self) -> i32 {
                match self { $(ErrorCode::$code => $msync,)* }
            }
            /// msync `Status.reason`: the exact string the SDK matches.
            pub fn msync_reason(self) -> &'static str {
                match self { $(ErrorCode::$code => $reason,)* }
            }
        }
    };
}

// msync status codes: FAIL 1, UNAUTHORIZED 2, WRONG_PARAMETER 4, TOKEN_EXPIRED 6,
// PERMISSION_DENIED 7, USER_MUTED 15 (msync-schema.md, Status.ErrorCode).
error_table! {
    /// The body is not JSON, or a field has the wrong type.
    JsonParse => 400, "json_parse", "JsonParseException", 4, "wrong parameter";
    /// A value is out of range or malformed.
    IllegalArgument => 400, "illegal_argument", "IllegalArgumentException", 4, "wrong parameter";
    /// A required field is missing, or an unknown field was sent.
    InvalidParameter => 400, "invalid_parameter", "InvalidParameterException", 4, "wrong parameter";
    /// Member attributes break a limit.
    MetadataError => 400, "metadata_error", "MetadataException", 4, "wrong parameter";
    /// The file upload failed (the SDK treats only 400 as a failed upload).
    UploadFailed => 400, "upload_error", "UploadException", 1, "upload failed";
    /// The password is wrong (password grant).
    InvalidGrant => 400, "invalid_grant", "InvalidGrantException", 2, "Sorry, user not found";
    /// A token grant (password, inherit) names a user who does not exist.
    GrantUserNotFound => 404, "invalid_grant", "InvalidGrantException", 2, "Sorry, user not found";
    /// The user exists but is deactivated.
    UserNotActivated => 400, "invalid_grant", "InvalidGrantException", 12, "Sorry, the user is banned";
    /// No token, or an unknown or expired one.
    Unauthorized => 401, "unauthorized", "UnauthorizedException", 2, "Sorry, token expired";
    /// The token exists but is for another app.
    BadAccessToken => 401, "auth_bad_access_token", "UnauthorizedException", 2, "Sorry, token expired";
    /// Valid token, but the caller may not do this.
    ForbiddenOp => 403, "forbidden_op", "ForbiddenOperationException", 7, "permission denied";
    /// The group or one of its members is muted (send refused).
    UserMuted => 403, "forbidden_op", "ForbiddenOperationException", 15, "user is mute";
    /// The group is disabled by the app administrator.
    GroupDisabled => 403, "forbidden_op", "ForbiddenOperationException", 1, "group is disabled";
    /// The caller is not a member.
    NotInGroup => 403, "forbidden_op", "ForbiddenOperationException", 1, "not in group or chatroom";
    /// The caller is on the group's blocklist, or on the blocklist of the user they write to
    /// (the SDK reports PERMISSION_DENIED).
    Blocked => 403, "forbidden_op", "ForbiddenOperationException", 1, "blocked";
    /// The two users are not contacts: a 1:1 message while the app allows chat between contacts
    /// only (msync "nonroster", the SDK's USER_NOT_FRIEND), or a remark on a non-contact (the
    /// SDK matches the description [`NOT_CONTACTS_REMARK`], only on a 400).
    NotContact => 400, "forbidden_op", "ForbiddenOperationException", 1, "nonroster";
    /// A limit of the app's plan or of Agora's documented maxima.
    ExceedLimit => 403, "exceed_limit", "ExceedLimitException", 7, "permission denied";
    /// The user does not exist.
    UserNotFound => 404, "service_resource_not_found", "UserNotFoundException", 4, "Sorry, user not found";
    /// The group does not exist.
    GroupNotFound => 404, "service_resource_not_found", "ResourceNotFoundException", 1, "group not found";
    /// Another resource (file, request, route) does not exist.
    ResourceNotFound => 404, "resource_not_found", "ResourceNotFoundException", 1, "not found";
    /// A chat file (`/chatfiles/{uuid}`) that was never uploaded, or was removed.
    FileNotFound => 404, "entity_not_found", "EntityNotFoundException", 1, "not found";
    /// A chat file past its retention: the SDK matches the error name `file_expired`.
    FileExpired => 404, "file_expired", "FileExpiredException", 1, "file expired";
    /// A restricted chat file asked for without its share secret, or with a wrong one; the
    /// SDK matches the description [`FILE_NO_PERMISSION`].
    FileNoPermission => 403, "forbidden_op", "ForbiddenOperationException", 7, "permission denied";
    /// The org/app in the path does not exist.
    AppNotFound => 404, "organization_application_not_found", "ApplicationNotFoundException", 2, "Sorry, the appkey is not found";
    /// The user name is taken.
    DuplicateUniqueProperty => 400, "duplicate_unique_property_exists", "DuplicateUniquePropertyExistsException", 4, "wrong parameter";
    /// The method is not allowed on this path.
    MethodNotAllowed => 405, "method_not_allowed", "MethodNotAllowedException", 4, "wrong parameter";
    /// A recall past the app's recall time limit (the SDK reports MESSAGE_RECALL_TIME_LIMIT).
    RecallTimeLimit => 403, "forbidden_op", "ForbiddenOperationException", 1, "exceed recall time limit";
    /// The message to recall or edit is not in that conversation, or was recalled (the SDK
    /// reports MODIFY_MESSAGE_NOT_EXIST).
    MessageNotFound => 404, "resource_not_found", "MessageUnavailableException", 1, "Sorry, message does not exist";
    /// Only a message's sender recalls or edits it (the SDK reports PERMISSION_DENIED).
    NotMessageSender => 403, "forbidden_op", "RewriteMessageNotAuthorizedException", 1, "Sorry, You do not have permission";
    /// An edit of anything but a text message, or into anything but text (the SDK reports
    /// MODIFY_MESSAGE_FORMAT_ERROR).
    EditFormat => 400, "invalid_parameter", "UnsupportedMessageTypeException", 1, "Sorry, format is incorrect";
    /// A message edited as often as Agora allows (10; the SDK reports MAX_LIMIT).
    EditLimit => 403, "exceed_limit", "EditLimitExceededException", 1, "Sorry, edit limit reached";
    /// A group read receipt (or the list of a message's readers) for a message that cannot
    /// have one: not in the group, not sent with `allowGroupAck`, or older than the window
    /// (Agora's "group ack msg not found").
    GroupAckMessageNotFound => 404, "resource_not_found", "ResourceNotFoundException", 1, "group ack msg not found";
    /// An operation the server does not serve (an unknown uplink meta, a group delivery receipt).
    NotSupported => 403, "forbidden_op", "ForbiddenOperationException", 1, "not supported";
    /// A message's body and ext are over 5 KB.
    MessageTooLarge => 400, "message_send_error", "MessageSendException", 7, "Sorry, data is too large";
    /// The body is larger than the server accepts.
    PayloadTooLarge => 413, "request_entity_too_large", "RequestEntityTooLargeException", 7, "Sorry, data is too large";
    /// The body is not JSON where JSON is required.
    UnsupportedMediaType => 415, "web_application", "WebApplicationException", 4, "wrong parameter";
    /// Too many calls (app quota or failed logins).
    ReachLimit => 429, "reach_limit", "ReachLimitException", 7, "traffic limit";
    /// The server is at its bound for costly work (password hashing) and the request waited
    /// its turn in vain; the client may retry later.
    ResourceLimited => 429, "resource_limited", "ResourceLimitedException", 7, "traffic limit";
    /// Registration without an app token while the app's open registration is off. The web
    /// SDK matches the text "Open registration doesn't allow" in the description, which it
    /// passes on only for a 400 (a 403 becomes "permission denied").
    RegistrationClosed => 400, "unauthorized", "UnauthorizedException", 7, "permission denied";
    /// Something broke inside the server; details are logged, never sent.
    Internal => 500, "internal_server_error", "InternalServerErrorException", 1, "internal error";
    /// The store is busy with a conflicting change; the client may retry.
    Busy => 503, "service_unavailable", "ServiceUnavailableException", 1, "service unavailable";
}

/// The description of [`ErrorCode::FileNoPermission`]: the web SDK's download reports
/// `WEBIM_DOWNLOADFILE_ERROR_NO_PERMISSION` for a 403 with exactly this text.
pub const FILE_NO_PERMISSION: &str = "chatfile no permission";

/// The description of [`ErrorCode::NotContact`] for a remark on a user who is not a contact:
/// the web SDK's `setContactRemark` reports USER_NOT_FRIEND for exactly this text.
pub const NOT_CONTACTS_REMARK: &str = "updateRemark | they are not friends, please add as a friend first.";

/// A client-visible error: a row of the table plus a human description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub description: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        ApiError { code, description: description.into() }
    }

    /// The REST error envelope (`error`, `exception`, `timestamp`, `duration`,
    /// `error_description`).
    pub fn envelope(&self, timestamp_ms: i64, duration_ms: i64) -> ErrorEnvelope<'_> {
        ErrorEnvelope {
            error: self.code.error_name(),
            exception: self.code.exception(),
            timestamp: timestamp_ms,
            duration: duration_ms,
            error_description: &self.description,
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.error_name(), self.description)
    }
}

impl std::error::Error for ApiError {}

/// Agora's error body.
#[derive(Debug, Serialize)]
pub struct ErrorEnvelope<'a> {
    pub error: &'static str,
    pub exception: &'static str,
    pub timestamp: i64,
    pub duration: i64,
    pub error_description: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_an_error_status_with_a_name() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code:?}");
            assert!(!code.error_name().is_empty() && !code.exception().is_empty(), "{code:?}");
            assert!(code.msync_status() > 0, "{code:?}");
        }
    }

    #[test]
    fn envelope_has_agoras_field_names() {
        let error = ApiError::new(ErrorCode::GroupNotFound, "grpID 1 does not exist!");
        let json = serde_json::to_value(error.envelope(5, 0)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error":"service_resource_not_found","exception":"ResourceNotFoundException",
                "timestamp":5,"duration":0,"error_description":"grpID 1 does not exist!"})
        );
    }

    #[test]
    fn sdk_matched_reasons_are_exact() {
        assert_eq!((ErrorCode::UserMuted.msync_status(), ErrorCode::UserMuted.msync_reason()), (15, "user is mute"));
        assert_eq!(ErrorCode::NotInGroup.msync_reason(), "not in group or chatroom");
        assert_eq!(ErrorCode::GroupNotFound.msync_reason(), "group not found");
        assert_eq!(ErrorCode::Unauthorized.msync_reason(), "Sorry, token expired");
        // FAIL with these reasons is what the SDK maps to its recall and edit error types.
        assert_eq!(
            (ErrorCode::RecallTimeLimit.msync_status(), ErrorCode::RecallTimeLimit.msync_reason()),
            (1, "exceed recall time limit")
        );
        assert_eq!(ErrorCode::MessageNotFound.msync_reason(), "Sorry, message does not exist");
        assert_eq!(ErrorCode::NotMessageSender.msync_reason(), "Sorry, You do not have permission");
        assert_eq!(ErrorCode::EditFormat.msync_reason(), "Sorry, format is incorrect");
        assert_eq!(ErrorCode::EditLimit.msync_reason(), "Sorry, edit limit reached");
        // FAIL "blocked" is PERMISSION_DENIED, FAIL "nonroster" USER_NOT_FRIEND.
        assert_eq!((ErrorCode::Blocked.msync_status(), ErrorCode::Blocked.msync_reason()), (1, "blocked"));
        assert_eq!((ErrorCode::NotContact.msync_status(), ErrorCode::NotContact.msync_reason()), (1, "nonroster"));
        assert_eq!(ErrorCode::NotContact.http_status(), 400);
    }
}
