//! What a logged-in client sends: UNREAD (also the heartbeat), SYNC with a `meta` (a message
//! or another operation) or with a `queue` (a pull, acknowledging up to `key`).

use qun_proto::msync::{self, CommSyncUl, Command, KickReason, MSync, Meta, pb};

use super::queues;
use super::session::{CloseReason, Session};
use crate::ids::now_ms;
use crate::services::messages::{self, Acked};
use crate::state::AppState;

/// Handles one decoded frame of a logged-in session.
pub(super) async fn handle(state: &AppState, session: &Session, command: Command, frame: &MSync) {
    // The queues the login read serve the first frame only, if it is the SDK's UNREAD.
    let read_at_login = session.take_login_queues();
    match command {
        Command::Unread => match queues::unread_frame(state, session, read_at_login).await {
            Ok(reply) => {
                session.send(reply);
            }
            Err(error) => tracing::error!(%error, user = %session.user, "unread failed"),
        },
        Command::Sync => {
            let Ok(sync) = frame.decode_payload::<CommSyncUl>() else {
                session.send(msync::sync_ack(
                    0,
                    None,
                    msync::Status::error(msync::StatusCode::PbParserError, "wrong parameter"),
                    now_ms(),
                ));
                return;
            };
            if let Some(meta) = sync.meta {
                uplink_meta(state, session, meta).await;
            } else if let Some(queue) = sync.queue {
                let Some(queue) = queues::queue_of(&queue, &session.user) else {
                    session.send(msync::pull_batch(queue, &[], None, true, now_ms()));
                    return;
                };
                let jid = queues::queue_jid(&session.app_key, &queue);
                match queues::pull(state, session, queue.clone(), sync.key).await {
                    Ok(batch) => {
                        session.answer_pull(&queue, batch);
                    }
                    Err(error) => {
                        // Answer anyway, so the client's pull loop does not stall; it pulls
                        // again at the next notice or login.
                        tracing::error!(%error, user = %session.user, "pull failed");
                        session.answer_pull(&queue, msync::pull_batch(jid, &[], None, true, now_ms()));
                    }
                }
            }
        }
        // A second login on the same connection, or a server-only command: nothing to do.
        Command::Provision | Command::Notice | Command::Logout => {}
    }
}

/// An uplink meta: a message to send (CHAT), statistics (nothing to answer), or an operation
/// not supported yet (answered with FAIL so the SDK does not wait for its 15 s timeout).
async fn uplink_meta(state: &AppState, session: &Session, meta: Meta) {
    let meta_id = meta.id.unwrap_or(0);
    match meta.ns() {
        pb::meta::NameSpace::Statistic => {}
        pb::meta::NameSpace::Chat => {
            let ack = match messages::send_from_client(state, &session.app, &session.user, session, meta).await {
                Ok(Acked::Sent(sent)) => {
                    msync::sync_ack(meta_id, Some(sent.id), msync::Status::ok(), sent.timestamp_ms)
                }
                Ok(Acked::Edited(edit)) => msync::edit_ack(meta_id, edit.message_id, &edit.info, edit.timestamp_ms),
                Err(error) => msync::sync_ack(meta_id, None, msync::Status::from(error.code), now_ms()),
            };
            session.send(ack);
        }
        // Chat room join and leave (gateway::rooms answers them).
        pb::meta::NameSpace::Muc => super::rooms::uplink_muc(state, session, meta).await,
        _ => {
            session.send(msync::sync_ack(
                meta_id,
                None,
                msync::Status::error(msync::StatusCode::Fail, "not supported"),
                now_ms(),
            ));
        }
    }
}

/// Tells a session why the server closes it (in the frame the SDK parses, see
/// [`msync::kick_frame`]), then closes it. `login_info` is what the replacing login said.
pub(crate) fn kick(session: &Session, reason: KickReason, login_info: Option<&str>) {
    session.send(msync::kick_frame(&session.app_key, session.user.as_str(), reason, login_info, now_ms()));
    session.close(match reason {
        KickReason::PasswordChanged => CloseReason::PasswordChanged,
        KickReason::UserRemoved => CloseReason::UserRemoved,
        KickReason::LoggedInElsewhere => CloseReason::ReplacedByNewDevice,
    });
}
