//! A group's content: shared files and member attributes (agora-chat-api.md §2 rows 30–37;
//! the announcement, row 29, is a call groups share with chat rooms, in `rest::venue::info`).
//!
//! Changes go through `services::groups::change_group`; a decision that needs facts the group
//! snapshot does not hold (a file's owner, a member's current attributes) goes through
//! [`change_group_with`](crate::services::groups::change_group_with), which drops the decision if the group moved after the facts
//! were read. Shared files' bytes live in the file storage (`storage.rs`, key
//! `<app_id>/<group_id>/<file_id>`); the database row is what makes a file exist, so the bytes
//! are written before the row is committed and removed after the row is deleted.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use qun_core::rules::GroupAction;
use qun_core::{GroupId, GroupOperation, UserName, limits};
use qun_proto::rest::groups::{
    FileDeleted, FileUploaded, GetMemberAttributes, MemberAttributesBatchResult, MemberAttributesOfUser,
    SetMemberAttributes, SharedFile, UploadedFileReason,
};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, GroupMutation, SharedFileRecord};
use serde::Serialize;

use super::uploads::{self, UploadRefused, header_text, receive_upload};
use crate::http::{Ctx, HttpError, JsonBody};
use crate::services::Caller;
use crate::services::groups::{
    Decision, PlannedEvent, Scene, change_group, change_group_with, load_scene, parse_group_id,
};
use crate::services::{parse_user, store_error};
use crate::state::AppState;
use crate::storage::shared_file_key;

// ------------------------------------------------------------------------ shared files

/// `GET /chatgroups/{g}/share_files?pagenum=&pagesize=` → `data[]` of files.
pub(crate) async fn files(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): Path<(String, String, String)>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let page_size = ctx.number_param("pagesize", 1000, 1..=1000)?;
    // Pages count from 1; a 0 is read as the first page too, since some clients count from 0.
    let page_number = ctx.number_param("pagenum", 1, 0..=u32::MAX)?.max(1);
    readable_scene(&state, &ctx, group_id).await?;
    let offset = (page_number - 1).saturating_mul(page_size);
    let files = state.store.shared_files(ctx.app.id, group_id, offset, page_size).await?;
    Ok(ctx.counted(files.iter().map(shared_file).collect()))
}

/// `POST /chatgroups/{g}/share_files` (multipart, part `file`) → [`FileUploaded`].
///
/// The SDK treats every reply but HTTP 400 as a successful upload (sdk-behaviour.md §5), so
/// every failure here, whatever its cause (bad token, not a member, no `file` part, too
/// large, store down), answers 400 `upload_error` with the cause as its description. That is
/// also why this handler takes `Result<Ctx, _>`: a bad token must not answer 401.
pub(crate) async fn upload_file(
    State(state): State<AppState>,
    ctx: Result<Ctx, HttpError>,
    headers: HeaderMap,
    Path((org, app, group)): Path<(String, String, String)>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, HttpError> {
    // Who calls first; the body is read to its end either way (see `upload`'s docs).
    let ctx = match ctx {
        Ok(ctx) => ctx,
        Err(error) => {
            if let Ok(mut multipart) = multipart {
                uploads::drain(&mut multipart).await;
            }
            return Err(upload_failed(error.0.description));
        }
    };
    let mut multipart = multipart.map_err(|rejection| upload_failed(rejection.body_text()))?;
    let request = UploadRequest { headers: &headers, org: &org, app: &app, group: &group };
    match upload(&state, &ctx, &request, &mut multipart).await {
        Ok(uploaded) => Ok(ctx.data(uploaded)),
        Err(error) => {
            uploads::drain(&mut multipart).await;
            tracing::info!(group = %group, error = %error, "shared file upload refused");
            Err(upload_failed(error.description))
        }
    }
}

/// `GET /chatgroups/{g}/share_files/{f}` → the file's bytes.
pub(crate) async fn download_file(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, file_id)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    readable_scene(&state, &ctx, group_id).await?;
    let file = existing_file(&state, &ctx.app, group_id, &file_id).await?;
    let stored = state.files.get(&shared_file_key(ctx.app.id, group_id, &file.file_id)).await?.ok_or_else(|| {
        tracing::error!(group_id = %group_id, file_id = %file.file_id, "a shared file's bytes are missing");
        HttpError::new(ErrorCode::Internal, "internal error")
    })?;
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream")),
        (header::CONTENT_LENGTH, HeaderValue::from(stored.meta.size)),
        (header::CONTENT_DISPOSITION, uploads::content_disposition("attachment", &file.name)),
    ];
    Ok((headers, Body::from_stream(stored.into_stream())).into_response())
}

/// `DELETE /chatgroups/{g}/share_files/{f}` → `{group_id, file_id, result:true}`. Members may
/// delete their own files; the owner, admins and the app administrator any file.
pub(crate) async fn delete_file(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, file_id)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    let deleted = change_group_with(
        &state,
        &ctx.app,
        caller,
        group_id,
        &[],
        || existing_file(&state, &ctx.app, group_id, &file_id),
        |scene, file: &SharedFileRecord| {
            let own = scene.caller_name() == Some(&file.owner);
            scene.authorize(GroupAction::DeleteFile { own }, None)?;
            Ok(Decision {
                mutations: vec![GroupMutation::DeleteFile { file_id: file.file_id.clone() }],
                events: vec![
                    PlannedEvent::new(GroupOperation::DeleteFile, scene.actor_label(), Vec::new())
                        .reason(file.file_id.clone()),
                ],
                output: file.file_id.clone(),
            })
        },
    )
    .await?;
    // The row is gone, so nothing refers to the bytes any more; a failure leaves orphan bytes
    // (logged), never a dangling row.
    let _ = state.files.delete(&shared_file_key(ctx.app.id, group_id, &deleted)).await;
    tracing::info!(group_id = %group_id, file_id = %deleted, "shared file deleted");
    Ok(ctx.data(FileDeleted { group_id: group_id.to_string(), file_id: deleted, result: true }))
}

// ------------------------------------------------------------------------ member attributes

/// `PUT /metadata/chatgroup/{g}/user/{u}` `{metaData:{k:v}}` → `{k:v}` as set. `""` deletes a
/// key. Members set their own attributes; the owner (and the app administrator) anyone's.
pub(crate) async fn set_member_attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): Path<(String, String, String, String)>,
    JsonBody(body): JsonBody<SetMemberAttributes>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let member = parse_user(&user)?;
    let caller = ctx.caller()?;
    let changes = body.metadata.ok_or_else(|| metadata_error("metaData must be provided"))?;
    check_attribute_changes(&changes)?;
    let own = matches!(caller, Caller::User(name) if name == &member);
    let targets = [member.clone()];
    let set = change_group_with(
        &state,
        &ctx.app,
        caller,
        group_id,
        &targets,
        || current_attributes(&state, &ctx.app, group_id, &targets),
        |scene, current: &BTreeMap<UserName, BTreeMap<String, String>>| {
            scene.authorize(GroupAction::SetMemberAttributes { own }, None)?;
            if !scene.standing(&member).is_member() {
                return Err(metadata_error(format!("user {member} is not in group {group_id}")));
            }
            attributes_after(current.get(&member), &changes).map_err(metadata_error)?;
            let mut decision = Decision::new(changes.clone());
            plan_attribute_change(&mut decision, scene.actor_label(), &member, &changes)?;
            Ok(decision)
        },
    )
    .await?;
    tracing::info!(group_id = %group_id, member = %member, keys = set.len(), "member attributes set");
    Ok(ctx.data(set))
}

/// `GET /metadata/chatgroup/{g}/user/{u}` → `{k:v}`.
pub(crate) async fn member_attributes(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group, user)): Path<(String, String, String, String)>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let member = parse_user(&user)?;
    readable_scene(&state, &ctx, group_id).await?;
    let mut by_user = current_attributes(&state, &ctx.app, group_id, std::slice::from_ref(&member)).await?;
    Ok(ctx.data(by_user.remove(&member).unwrap_or_default()))
}

/// `POST /metadata/chatgroup/{g}/get` `{targets:[≤10], properties:[keys]}` → `{user:{k:v}}`,
/// one entry per target (empty when they have none); no properties means every key.
pub(crate) async fn member_attributes_by_keys(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): Path<(String, String, String)>,
    JsonBody(body): JsonBody<GetMemberAttributes>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let raw_targets = body.targets.unwrap_or_default();
    if raw_targets.is_empty() || raw_targets.len() > limits::MEMBER_ATTRS_GET_MAX_USERS {
        return Err(
            metadata_error(format!("targets must name 1 to {} users", limits::MEMBER_ATTRS_GET_MAX_USERS)).into()
        );
    }
    let targets = raw_targets.iter().map(|raw| parse_user(raw)).collect::<Result<Vec<_>, _>>()?;
    let keys = body.properties.unwrap_or_default();
    readable_scene(&state, &ctx, group_id).await?;
    let rows = state.store.member_attributes(ctx.app.id, group_id, &targets, &keys).await?;
    let mut by_user: BTreeMap<String, BTreeMap<String, String>> =
        targets.iter().map(|target| (target.to_string(), BTreeMap::new())).collect();
    for (user, key, value) in rows {
        by_user.entry(user.to_string()).or_default().insert(key, value);
    }
    Ok(ctx.data(by_user))
}

/// `PUT /metadata/chatgroup/{g}/users/batch` `[{username, metadata}]` (≤20) → succeeded and
/// failed users. The owner or the app administrator only. A malformed key or value refuses
/// the whole call; a user who is not a member, or whose attributes would grow past the limit,
/// is reported in `failed` and the others are set.
pub(crate) async fn set_member_attributes_batch(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((_, _, group)): Path<(String, String, String)>,
    JsonBody(entries): JsonBody<Vec<MemberAttributesOfUser>>,
) -> Result<Response, HttpError> {
    let group_id = parse_group_id(&group)?;
    let caller = ctx.caller()?;
    if entries.is_empty() || entries.len() > limits::MEMBER_ATTRS_BATCH_MAX_USERS {
        return Err(metadata_error(format!(
            "set the attributes of 1 to {} users at a time",
            limits::MEMBER_ATTRS_BATCH_MAX_USERS
        ))
        .into());
    }
    for entry in &entries {
        check_attribute_changes(&entry.metadata)?;
    }
    // A name that does not parse cannot be a member; it is reported in `failed`.
    let parsed: Vec<Option<UserName>> = entries.iter().map(|entry| parse_user(&entry.username).ok()).collect();
    let mut targets: Vec<UserName> = Vec::new();
    for name in parsed.iter().flatten() {
        if !targets.contains(name) {
            targets.push(name.clone());
        }
    }
    let result = change_group_with(
        &state,
        &ctx.app,
        caller,
        group_id,
        &targets,
        || current_attributes(&state, &ctx.app, group_id, &targets),
        |scene, current: &BTreeMap<UserName, BTreeMap<String, String>>| {
            scene.authorize(GroupAction::SetMemberAttributes { own: false }, None)?;
            let mut decision = Decision::new(MemberAttributesBatchResult { failed: Vec::new(), succeeded: Vec::new() });
            // Entries apply in order, so a user named twice is checked against their first change.
            let mut working = current.clone();
            for (entry, name) in entries.iter().zip(&parsed) {
                let reported =
                    MemberAttributesOfUser { username: entry.username.clone(), metadata: entry.metadata.clone() };
                let Some(name) = name.as_ref().filter(|name| scene.standing(name).is_member()) else {
                    decision.output.failed.push(reported);
                    continue;
                };
                match attributes_after(working.get(name), &entry.metadata) {
                    Ok(after) => {
                        plan_attribute_change(&mut decision, scene.actor_label(), name, &entry.metadata)?;
                        working.insert(name.clone(), after);
                        decision.output.succeeded.push(reported);
                    }
                    Err(_) => decision.output.failed.push(reported),
                }
            }
            Ok(decision)
        },
    )
    .await?;
    tracing::info!(
        group_id = %group_id,
        succeeded = result.succeeded.len(),
        failed = result.failed.len(),
        "member attributes set in batch"
    );
    Ok(ctx.data(result))
}

/// The group as the caller may read it (members only), or the error to answer.
async fn readable_scene(state: &AppState, ctx: &Ctx, group_id: GroupId) -> Result<Scene, HttpError> {
    let scene = load_scene(state, &ctx.app, ctx.caller()?, group_id, &[]).await?;
    scene.authorize(GroupAction::ReadContent, None)?;
    Ok(scene)
}

// ------------------------------------------------------------------------ upload steps

/// The parts of the upload request that shape the reply.
struct UploadRequest<'a> {
    headers: &'a HeaderMap,
    org: &'a str,
    app: &'a str,
    group: &'a str,
}

async fn upload(
    state: &AppState,
    ctx: &Ctx,
    request: &UploadRequest<'_>,
    multipart: &mut Multipart,
) -> Result<FileUploaded, ApiError> {
    let group_id = parse_group_id(request.group)?;
    let caller = ctx.caller().map_err(|error| error.0)?;
    // Refuse before receiving up to 10 MB from someone who may not upload; the commit below
    // decides again on fresh state.
    load_scene(state, &ctx.app, caller, group_id, &[]).await?.authorize(GroupAction::UploadFile, None)?;

    let _turn = state.files.upload_turn().await;
    let received = receive_upload(multipart, &[])
        .await
        .map_err(|refused: UploadRefused| ApiError::new(ErrorCode::UploadFailed, refused.to_string()))?
        .file;
    let size = received.size as i64;
    let file_id = state.ids.next().to_string();
    let key = shared_file_key(ctx.app.id, group_id, &file_id);
    state.files.put(&key, received.payload()).await?;

    let committed = change_group(state, &ctx.app, caller, group_id, &[], |scene| {
        scene.authorize(GroupAction::UploadFile, None)?;
        // An app-token upload has no user behind it; the group's owner holds the file of record,
        // so the file stays deletable by someone in the group.
        let owner = scene.caller_name().cloned().unwrap_or_else(|| scene.group().owner.clone());
        let record = SharedFileRecord {
            file_id: file_id.clone(),
            name: received.name.clone(),
            owner,
            size,
            created_ms: scene.now_ms,
        };
        let reason = to_json(&UploadedFileReason { data: shared_file(&record) })?;
        Ok(Decision {
            mutations: vec![GroupMutation::AddFile(record.clone())],
            events: vec![PlannedEvent::new(GroupOperation::UploadFile, scene.actor_label(), Vec::new()).reason(reason)],
            output: record,
        })
    })
    .await;
    let (record, _) = match committed {
        Ok(committed) => committed,
        Err(error) => {
            let _ = state.files.delete(&key).await;
            return Err(error);
        }
    };
    tracing::info!(group_id = %group_id, file_id = %record.file_id, size = record.size, owner = %record.owner, "shared file uploaded");
    let file_url = file_url(request, group_id, &record.file_id);
    Ok(FileUploaded {
        file_url,
        group_id: group_id.to_string(),
        file_name: record.name,
        created: record.created_ms,
        file_id: record.file_id,
        file_size: record.size,
    })
}

/// The download URL of a file, absolute when the request named its Host.
fn file_url(request: &UploadRequest<'_>, group_id: GroupId, file_id: &str) -> String {
    let path = format!("/{}/{}/chatgroups/{group_id}/share_files/{file_id}", request.org, request.app);
    match header_text(request.headers, header::HOST.as_str()) {
        // Behind a TLS-terminating proxy the scheme the client used is in X-Forwarded-Proto.
        Some(host) => format!("{}://{host}{path}", header_text(request.headers, "x-forwarded-proto").unwrap_or("http")),
        None => path,
    }
}

fn upload_failed(description: impl Into<String>) -> HttpError {
    HttpError::new(ErrorCode::UploadFailed, description)
}

// ------------------------------------------------------------------------ stored files

/// The file's row, or 404. File ids are server ids (decimal), checked here before a
/// client-given id reaches a storage key.
async fn existing_file(
    state: &AppState,
    app: &AppRecord,
    group_id: GroupId,
    file_id: &str,
) -> Result<SharedFileRecord, ApiError> {
    let not_found =
        || ApiError::new(ErrorCode::ResourceNotFound, format!("file {file_id} does not exist in group {group_id}"));
    if file_id.is_empty() || !file_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_found());
    }
    state.store.shared_file(app.id, group_id, file_id).await.map_err(store_error)?.ok_or_else(not_found)
}

fn shared_file(record: &SharedFileRecord) -> SharedFile {
    SharedFile {
        file_id: record.file_id.clone(),
        file_name: record.name.clone(),
        file_owner: record.owner.to_string(),
        file_size: record.size,
        created: record.created_ms,
    }
}

// ------------------------------------------------------------------------ attribute rules

fn metadata_error(description: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::MetadataError, description)
}

/// Checks the form of requested changes: at least one; keys of 1 to 16 bytes of
/// `[A-Za-z0-9_]`; values of at most 512 bytes (`""` deletes the key).
fn check_attribute_changes(changes: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if changes.is_empty() {
        return Err(metadata_error("metaData must name at least one attribute"));
    }
    for (key, value) in changes {
        let key_ok = !key.is_empty()
            && key.len() <= limits::MEMBER_ATTR_KEY_MAX_BYTES
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !key_ok {
            return Err(metadata_error(format!(
                "attribute key {key:?} must be 1 to {} bytes of letters, digits and '_'",
                limits::MEMBER_ATTR_KEY_MAX_BYTES
            )));
        }
        if value.len() > limits::MEMBER_ATTR_VALUE_MAX_BYTES {
            return Err(metadata_error(format!(
                "the value of attribute {key:?} is longer than {} bytes",
                limits::MEMBER_ATTR_VALUE_MAX_BYTES
            )));
        }
    }
    Ok(())
}

/// A member's attributes after `changes`, or why they may not have them (too large in all).
fn attributes_after(
    current: Option<&BTreeMap<String, String>>,
    changes: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut after = current.cloned().unwrap_or_default();
    for (key, value) in changes {
        if value.is_empty() {
            after.remove(key);
        } else {
            after.insert(key.clone(), value.clone());
        }
    }
    // Keys count towards the total as well as values: both are what the member stores.
    let total: usize = after.iter().map(|(key, value)| key.len() + value.len()).sum();
    if total > limits::MEMBER_ATTRS_TOTAL_MAX_BYTES {
        return Err(format!(
            "a member's attributes may not exceed {} bytes in all",
            limits::MEMBER_ATTRS_TOTAL_MAX_BYTES
        ));
    }
    Ok(after)
}

/// The mutation and the `memberAttributesUpdate` event of one member's change. The event is
/// about the member (`from` and `to`), whoever made the change; its reason is the changed
/// attributes as JSON.
/// The change and its event: from the operator (the member, or the owner or app administrator
/// who set someone's attributes), about the member, with the attributes set as JSON.
fn plan_attribute_change<T>(
    decision: &mut Decision<T>,
    operator: String,
    member: &UserName,
    changes: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    decision.mutations.push(GroupMutation::SetMemberAttributes {
        user: member.clone(),
        attributes: changes.iter().map(|(key, value)| (key.clone(), value.clone())).collect(),
    });
    decision.events.push(
        PlannedEvent::new(GroupOperation::MemberMetadataUpdate, operator, vec![member.clone()])
            .reason(to_json(changes)?),
    );
    Ok(())
}

async fn current_attributes(
    state: &AppState,
    app: &AppRecord,
    group_id: GroupId,
    users: &[UserName],
) -> Result<BTreeMap<UserName, BTreeMap<String, String>>, ApiError> {
    let rows = state.store.member_attributes(app.id, group_id, users, &[]).await.map_err(store_error)?;
    let mut by_user: BTreeMap<UserName, BTreeMap<String, String>> = BTreeMap::new();
    for (user, key, value) in rows {
        by_user.entry(user).or_default().insert(key, value);
    }
    Ok(by_user)
}

fn to_json(value: &impl Serialize) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|error| {
        tracing::error!(%error, "serializing an event reason failed");
        ApiError::new(ErrorCode::Internal, "internal error")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(key, value)| (key.to_string(), value.to_string())).collect()
    }

    #[test]
    fn attribute_keys_and_values_are_checked_in_bytes() {
        let sixteen = "k".repeat(16);
        let long_value = "v".repeat(512);
        for (changes, accepted) in [
            (attributes(&[("nick", "x")]), true),
            (attributes(&[("A_z09", "")]), true),
            (attributes(&[(&sixteen, &long_value)]), true),
            (attributes(&[]), false),
            (attributes(&[("", "x")]), false),
            (attributes(&[(&"k".repeat(17), "x")]), false),
            (attributes(&[("with-dash", "x")]), false),
            (attributes(&[("é", "x")]), false),
            (attributes(&[("k", &"v".repeat(513))]), false),
            // 171 three-byte characters are 513 bytes.
            (attributes(&[("k", &"語".repeat(171))]), false),
        ] {
            assert_eq!(check_attribute_changes(&changes).is_ok(), accepted, "{changes:?}");
        }
    }

    #[test]
    fn empty_values_delete_and_the_total_is_capped() {
        let current = attributes(&[("a", "1"), ("b", "2")]);
        assert_eq!(
            attributes_after(Some(&current), &attributes(&[("a", ""), ("c", "3")])),
            Ok(attributes(&[("b", "2"), ("c", "3")]))
        );
        // Eight keys of 1 + 511 bytes are 4,096 bytes exactly; one more byte is refused.
        let full: BTreeMap<String, String> = (0..8).map(|i| (i.to_string(), "v".repeat(511))).collect();
        assert!(attributes_after(None, &full).is_ok());
        assert!(attributes_after(Some(&full), &attributes(&[("x", "")])).is_ok());
        assert!(attributes_after(Some(&full), &attributes(&[("x", "y")])).is_err());
        assert!(attributes_after(Some(&full), &attributes(&[("0", &"v".repeat(510)), ("x", "")])).is_ok());
    }
}
