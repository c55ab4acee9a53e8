//! REST handlers, one module per area, all under `/{org}/{app}`. A handler parses its input,
//! calls a service, and fills `qun-proto` types; it decides nothing itself.

mod chatfiles;
mod conversations;
mod group_content;
mod group_requests;
mod groups;
mod messages;
mod room_delivery;
mod rooms;
mod uploads;
mod user_lists;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};

use crate::state::AppState;

/// The routes under `/{org}/{app}`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/token", post(users::token))
        .route("/users", post(users::register).get(users::list))
        .route("/users/{user}", get(users::get).put(users::update).delete(users::delete))
        .route("/users/{user}/password", put(users::change_password).post(users::change_password))
        .route("/users/{user}/activate", post(users::activate))
        .route("/users/{user}/deactivate", post(users::deactivate))
        .route("/sdk/users/{user}/token/expires", get(users::token_expires))
        .route("/settings/registration", get(users::registration_setting).put(users::set_registration_setting))
        .route("/users/{user}/joined_chatgroups", get(groups::joined_legacy))
        .route("/users/{user}/messageroaming", post(messages::roaming))
        // the conversation list
        .route("/sdk/user/{user}/user_channels/list", get(conversations::list))
        .route("/sdk/user/{user}/user_channels/mark/search", get(conversations::list_marked))
        .route("/sdk/user/{user}/user_channels/mark", post(conversations::add_mark).delete(conversations::remove_mark))
        .route("/sdk/user/{user}/user_channel/top", post(conversations::pin).delete(conversations::unpin))
        .route("/user/{user}/user_channel", delete(conversations::delete))
        .route("/users/{user}/user_channel", delete(conversations::delete))
        // removals from the caller's own history (the REST API's `/rest/…` spelling too)
        .route("/sdk/message/roaming/{kind}/user/{user}", delete(messages::remove_history))
        .route("/sdk/message/roaming/{kind}/user/{user}/time", delete(messages::remove_history_before))
        .route("/rest/message/roaming/{kind}/user/{user}", delete(messages::remove_history))
        .route("/rest/message/roaming/{kind}/user/{user}/time", delete(messages::remove_history_before))
        .route("/messages/chatgroups", post(messages::send_to_groups))
        .route("/messages/chatrooms", post(messages::send_to_rooms))
        .route("/messages/users", post(messages::send_to_users))
        // message attachments (uploads are up to 10 MB: see below)
        .route("/chatfiles", post(chatfiles::upload).layer(DefaultBodyLimit::max(uploads::UPLOAD_BODY_LIMIT_BYTES)))
        .route("/chatfiles/{file}", get(chatfiles::download))
        // groups: lifecycle and lists
        .route("/chatgroups", post(groups::create).get(groups::list_all))
        .route("/publicchatgroups", get(groups::list_public))
        .route("/chatgroups/user/{user}", get(groups::joined))
        .route("/chatgroups/user/{user}/joined_count", get(groups::joined_count))
        .route("/chatgroups/{group}", get(groups::details).put(groups::modify).delete(groups::dissolve))
        .route("/chatgroups/{group}/disable", post(groups::disable))
        .route("/chatgroups/{group}/enable", post(groups::enable))
        .route("/chatgroups/{group}/user/{user}/is_joined", get(groups::is_joined))
        // members and roles
        .route("/chatgroups/{group}/users", get(groups::members).post(groups::add_members))
        .route("/chatgroups/{group}/users/{users}", post(groups::add_member).delete(groups::remove_members))
        .route("/chatgroups/{group}/admin", get(groups::admins).post(groups::add_admin))
        .route("/chatgroups/{group}/admin/{user}", delete(groups::remove_admin))
        .route("/chatgroups/{group}/blocks/users", get(groups::blocklist).post(groups::block_many))
        .route("/chatgroups/{group}/blocks/users/{users}", post(groups::block_one).delete(groups::unblock))
        .route("/chatgroups/{group}/mute", get(groups::mute_list).post(groups::mute))
        .route("/chatgroups/{group}/mute/{users}", delete(groups::unmute))
        .route("/sdk/chatgroups/{group}/mute/{user}", get(groups::is_muted))
        .route("/chatgroups/{group}/ban", post(groups::mute_all).delete(groups::unmute_all))
        .route("/chatgroups/{group}/white/users", get(groups::allowlist).post(groups::allowlist_add_many))
        .route(
            "/chatgroups/{group}/white/users/{users}",
            get(groups::is_allowlisted).post(groups::allowlist_add_one).delete(groups::allowlist_remove),
        )
        // requests, invitations and self-service
        .route("/chatgroups/{group}/apply", post(group_requests::apply))
        .route("/chatgroups/{group}/apply_verify", post(group_requests::apply_verify))
        .route("/chatgroups/{group}/invite", post(group_requests::invite))
        .route("/chatgroups/{group}/invite_verify", post(group_requests::invite_verify))
        .route("/chatgroups/{group}/quit", delete(group_requests::quit).post(group_requests::quit))
        .route("/chatgroups/{group}/shield", post(group_requests::shield).delete(group_requests::unshield))
        // announcement, files, member attributes
        .route(
            "/chatgroups/{group}/announcement",
            get(group_content::announcement).post(group_content::set_announcement),
        )
        // Uploads are up to 10 MB; axum's default body limit is 2 MB. (GET has no body.)
        .route(
            "/chatgroups/{group}/share_files",
            get(group_content::files)
                .post(group_content::upload_file)
                .layer(DefaultBodyLimit::max(uploads::UPLOAD_BODY_LIMIT_BYTES)),
        )
        .route(
            "/chatgroups/{group}/share_files/{file}",
            get(group_content::download_file).delete(group_content::delete_file),
        )
        .route(
            "/metadata/chatgroup/{group}/user/{user}",
            put(group_content::set_member_attributes).get(group_content::member_attributes),
        )
        .route(
            "/sdk/metadata/chatgroup/{group}/user/{user}",
            put(group_content::set_member_attributes).get(group_content::member_attributes),
        )
        .route("/metadata/chatgroup/{group}/get", post(group_content::member_attributes_by_keys))
        .route("/sdk/metadata/chatgroup/{group}/get", post(group_content::member_attributes_by_keys))
        .route("/metadata/chatgroup/{group}/users/batch", put(group_content::set_member_attributes_batch))
        // chat rooms (agora-chat-api.md §3; the SDK's `/sdk/…` and `?version=v3` variants)
        .route("/chatrooms", post(rooms::create).get(rooms::list))
        .route("/chatrooms/super_admin", post(rooms::super_admin_add).get(rooms::super_admin_list))
        .route("/chatrooms/super_admin/{user}", delete(rooms::super_admin_remove))
        // Qun's own: how rooms deliver (history ring, rate limit), per app and per room.
        .route("/chatrooms/delivery", get(room_delivery::app_defaults).put(room_delivery::set_app_defaults))
        .route("/chatrooms/{room}/delivery", get(room_delivery::room_settings).put(room_delivery::set_room_settings))
        .route("/users/{user}/joined_chatrooms", get(rooms::joined))
        .route("/chatrooms/{room}", get(rooms::details).put(rooms::modify).delete(rooms::destroy))
        .route("/chatrooms/{room}/announcement", get(rooms::announcement).post(rooms::set_announcement))
        .route("/chatrooms/{room}/users", get(rooms::members).post(rooms::add_members))
        .route("/chatrooms/{room}/users/{users}", post(rooms::add_member).delete(rooms::remove_members))
        .route("/chatrooms/{room}/admin", get(rooms::admins).post(rooms::add_admin))
        .route("/chatrooms/{room}/admin/{user}", delete(rooms::remove_admin))
        .route("/chatrooms/{room}/blocks/users", get(rooms::blocklist).post(rooms::block_many))
        .route("/chatrooms/{room}/blocks/users/{users}", post(rooms::block_one).delete(rooms::unblock))
        .route("/chatrooms/{room}/white/users", get(rooms::allowlist).post(rooms::allowlist_add_many))
        .route(
            "/chatrooms/{room}/white/users/{users}",
            get(rooms::is_allowlisted).post(rooms::allowlist_add_one).delete(rooms::allowlist_remove),
        )
        .route("/chatrooms/{room}/mute", get(rooms::mute_list).post(rooms::mute))
        .route("/chatrooms/{room}/mute/{users}", delete(rooms::unmute))
        .route("/sdk/chatrooms/{room}/mute/{user}", get(rooms::is_muted))
        .route("/chatrooms/{room}/ban", post(rooms::mute_all).delete(rooms::unmute_all))
        .route("/metadata/chatroom/{room}", post(rooms::attributes))
        .route("/metadata/chatroom/{room}/user/{user}", put(rooms::set_attributes).delete(rooms::remove_attributes))
        .route(
            "/metadata/chatroom/{room}/user/{user}/forced",
            put(rooms::force_set_attributes).delete(rooms::force_remove_attributes),
        )
}
