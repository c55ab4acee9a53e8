//! PROVISION: the login handshake, and registering the new session with the hub.

use bytes::Bytes;
use qun_core::UserName;
use qun_proto::msync::{self, Command, MSync, Provision, StatusCode};
use qun_store::QueueKey;
use tokio::sync::mpsc;

use super::session::{GroupView, Session};
use crate::auth;
use crate::ids::now_ms;
use crate::state::AppState;

/// The SDK caps `loginInfoCustomExt` at 1,024 characters (up to 4 bytes each); longer is
/// not kept.
const LOGIN_INFO_MAX_BYTES: usize = 4 * 1024;

/// A successful login: the session (with its outbound queue) and the reply to send first.
pub(super) struct LoggedIn {
    pub(super) session: (Session, mpsc::Receiver<Bytes>),
    pub(super) reply: Bytes,
}

/// Checks the PROVISION frame. `Err(Some(reply))` is a refusal to send before closing;
/// `Err(None)` closes without a word (the frame was not a login at all).
pub(super) async fn login(state: &AppState, frame: &[u8]) -> Result<LoggedIn, Option<Bytes>> {
    let refuse =
        |code: StatusCode, reason: &str| Some(msync::provision_reply(msync::Status::error(code, reason), None, None));
    let frame: MSync = msync::decode_msync(frame).map_err(|_| None)?;
    if frame.known_command() != Some(Command::Provision) {
        return Err(None);
    }
    let provision: Provision =
        frame.decode_payload().map_err(|_| refuse(StatusCode::WrongParameter, "wrong parameter"))?;
    let guid = frame.guid.clone().unwrap_or_default();
    // NUL is refused in every text a client sends (PostgreSQL cannot store it): here the ids
    // the session is stored under.
    let texts = [&provision.device_uuid, &provision.resource, &guid.client_resource, &guid.app_key, &guid.name];
    if texts.iter().any(|text| text.as_deref().is_some_and(|text| text.contains('\0'))) {
        return Err(refuse(StatusCode::WrongParameter, "wrong parameter"));
    }
    let app_key = guid.app_key.clone().unwrap_or_default();
    let Some((org, app_name)) = app_key.split_once('#') else {
        return Err(refuse(StatusCode::WrongParameter, "Sorry, the appkey is invalid"));
    };
    let app = match state.app(org, app_name).await {
        Ok(Some(app)) => app,
        Ok(None) => return Err(refuse(StatusCode::Unauthorized, "Sorry, the appkey is not found")),
        Err(error) => {
            tracing::error!(%error, "login: store failure");
            return Err(refuse(StatusCode::Fail, "internal error"));
        }
    };
    let token = frame
        .auth
        .as_deref()
        .and_then(msync::token_from_auth)
        .or_else(|| provision.auth_token.as_deref().and_then(token_in_json))
        .unwrap_or("");
    let record = match state.store.token(&auth::token_hash(token), now_ms() as i64).await {
        Ok(Some(record)) if record.app_id == app.id => record,
        Ok(_) => return Err(refuse(StatusCode::Unauthorized, "Sorry, token expired")),
        Err(error) => {
            tracing::error!(%error, "login: store failure");
            return Err(refuse(StatusCode::Fail, "internal error"));
        }
    };
    let claimed = guid.name.as_deref().and_then(|name| UserName::parse(name).ok());
    let user = match (record.user, claimed) {
        (Some(user), Some(claimed)) if user == claimed => user,
        // An app token cannot log in as a user, nor a user token as someone else.
        _ => return Err(refuse(StatusCode::Unauthorized, "Sorry, token expired")),
    };
    let resource = provision
        .resource
        .clone()
        .or_else(|| guid.client_resource.clone())
        .filter(|r| !r.is_empty() && r.len() <= 128)
        .unwrap_or_else(|| format!("qun_{}", state.ids.next()));
    let device =
        provision.device_uuid.clone().filter(|d| !d.is_empty() && d.len() <= 128).unwrap_or_else(|| resource.clone());
    let auth_token = record.expires_ms.map(|expires| msync::auth_token_json(expires as u64));
    let reply = msync::provision_reply(msync::Status::ok(), Some(&resource), auth_token.as_deref());
    tracing::info!(user = %user, app = %app_key, device = %device, "login");
    let login_info = provision.reason.clone().filter(|info| info.len() <= LOGIN_INFO_MAX_BYTES);
    let (session, outbound) = Session::new(app, user, device, resource);
    let session = session.with_login_info(login_info).counting_notices_in(state.metrics.notices.clone());
    Ok(LoggedIn { session: (session, outbound), reply })
}

/// The token in the Provision's `authToken` JSON (`{"token":"$t$…"}`).
fn token_in_json(json: &str) -> Option<&str> {
    let start = json.find(msync::TOKEN_PREFIX)? + msync::TOKEN_PREFIX.len();
    let rest = &json[start..];
    Some(&rest[..rest.find('"')?])
}

/// Registers the session with the hub (with the user's groups), loads the device's cursors,
/// and enforces the device limit.
pub(super) async fn register(state: &AppState, session: &std::sync::Arc<Session>) {
    // Online first, then read the memberships: a change committed after the read finds the
    // session in the hub (and adds or removes the group itself), and one committed before it
    // is in what we read. The other way round, a group joined meanwhile would never notify
    // this session.
    let group_news_before = state.hub.group_news();
    let others = state.hub.register(session.clone(), &[]);
    let (heads, read) = match state.store.user_queues(session.app_id, &session.user, &session.device).await {
        Ok(heads) => (heads, true),
        Err(error) => {
            tracing::error!(%error, "login: cannot read the user's queues");
            (Vec::new(), false)
        }
    };
    session.cursors.load(heads.iter().map(|head| (head.queue.clone(), head.cursor)));
    let mut groups = Vec::new();
    for head in &heads {
        if let QueueKey::Group(group) = head.queue {
            groups.push(group);
            session.remember_group_view(group, GroupView { floor: head.floor_seq, shielded: head.shielded });
        }
    }
    state.hub.add_memberships(session.app_id, &session.user, &groups);
    // What was read serves the client's first UNREAD too, unless group news came meanwhile:
    // the session was not in its groups' lists yet, so it may have missed it (news after this
    // point finds it there, and drops what is kept). News of the user's other queues finds
    // the session in the hub since `register`.
    if read && state.hub.group_news() == group_news_before {
        session.keep_login_queues(heads);
    }
    state.hub.registration_checkpoint().await;
    // The chat rooms the user is in (presence) deliver to this session too.
    state.rooms.session_online(state, &session.app, &session.user).await;
    // The same device logging in again replaces its old connection; beyond the device limit
    // the oldest connections are replaced.
    let (same_device, other_devices): (Vec<_>, Vec<_>) =
        others.iter().partition(|other| other.device == session.device);
    for replaced in &same_device {
        session.cursors.take_over(&replaced.cursors);
    }
    let excess = (other_devices.len() + 1).saturating_sub(state.config.max_devices_per_user as usize);
    for replaced in same_device.into_iter().chain(other_devices.into_iter().take(excess)) {
        super::uplink::kick(replaced, msync::KickReason::LoggedInElsewhere, session.login_info.as_deref());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_from_provision_json() {
        assert_eq!(token_in_json(r#"{"token":"$t$abc"}"#), Some("abc"));
        assert_eq!(token_in_json(r#"{"token":"abc"}"#), None);
    }
}
