//! REST handlers, one module per area, all under `/{org}/{app}`. A handler parses its input,
//! calls a service, and fills `qun-proto` types; it decides nothing itself.
//!
//! The calls groups and chat rooms share are written once in [`venue`], generic over the
//! venue, and routed once for each ([`venue_routes`]).

mod chatfiles;
mod contacts;
mod conversations;
mod group_acks;
mod group_content;
mod group_requests;
mod groups;
mod messages;
mod paging;
mod room_delivery;
mod rooms;
mod uploads;
mod user_metadata;
mod users;
mod venue;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, delete, get, post, put};

use self::groups::Group;
use self::rooms::Room;
use self::venue::{RestVenue, info, members, restrictions};
use crate::state::AppState;

/// The routes under `/{org}/{app}`.
pub(crate) fn routes() -> Router<AppState> {
    all_routes().router
}

/// Every route's path template under `/{org}/{app}` (`/chatgroups/{group}/users`), once each:
/// what a test that must cover every route walks (`tests/it/authorization.rs`).
pub fn route_templates() -> Vec<String> {
    let mut templates = all_routes().templates;
    templates.sort();
    templates.dedup();
    templates
}

/// The router under construction, keeping each route's path template (axum's router cannot
/// list them).
struct Routes {
    router: Router<AppState>,
    templates: Vec<String>,
}

impl Routes {
    fn route(mut self, path: &str, methods: MethodRouter<AppState>) -> Routes {
        self.templates.push(path.to_owned());
        self.router = self.router.route(path, methods);
        self
    }
}

fn all_routes() -> Routes {
    let routes = Routes { router: Router::new(), templates: Vec::new() }
        .route("/token", post(users::token))
        .route("/users", post(users::register).get(users::list))
        .route("/users/{user}", get(users::get).put(users::update).delete(users::delete))
        .route("/users/{user}/password", put(users::change_password).post(users::change_password))
        .route("/users/{user}/activate", post(users::activate))
        .route("/users/{user}/deactivate", post(users::deactivate))
        .route("/sdk/users/{user}/token/expires", get(users::token_expires))
        .route("/settings/registration", get(users::registration_setting).put(users::set_registration_setting))
        // contacts and users' blocklists (items 5 and 6 of issue 11; rest/contacts.rs)
        .route("/settings/contacts", get(contacts::setting).put(contacts::set_setting))
        .route("/users/{user}/contacts", get(contacts::page))
        .route("/users/{user}/contacts/apply", post(contacts::apply))
        .route("/users/{user}/contacts/accept/users/{from}", post(contacts::accept))
        .route("/users/{user}/contacts/decline/users/{from}", post(contacts::decline))
        .route("/users/{user}/contacts/users", get(contacts::list))
        .route(
            "/users/{user}/contacts/users/{contact}",
            post(contacts::add).delete(contacts::remove).put(contacts::set_remark),
        )
        .route("/users/{user}/blocks/users", get(contacts::blocklist).post(contacts::block))
        .route("/users/{user}/blocks/users/{blocked}", delete(contacts::unblock_one))
        .route("/sdk/user/{user}/blocks", post(contacts::block).delete(contacts::unblock_many))
        // user attributes
        .route("/metadata/user/get", post(user_metadata::get_many))
        .route("/metadata/user/{user}", put(user_metadata::set).get(user_metadata::get).delete(user_metadata::delete))
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
        .route("/messages/msg_recall", post(messages::recall))
        .route("/messages/recall", post(messages::recall))
        .route("/settings/recall", get(messages::recall_setting).put(messages::set_recall_setting))
        // message attachments (uploads are up to 10 MB: see below)
        .route("/chatfiles", post(chatfiles::upload).layer(DefaultBodyLimit::max(uploads::UPLOAD_BODY_LIMIT_BYTES)))
        .route("/chatfiles/{file}", get(chatfiles::download))
        // groups: lifecycle and lists
        .route("/chatgroups", post(groups::create).get(groups::list_all))
        .route("/publicchatgroups", get(groups::list_public))
        .route("/chatgroups/user/{user}", get(groups::joined))
        .route("/chatgroups/user/{user}/joined_count", get(groups::joined_count))
        .route("/chatgroups/{group}", put(groups::modify).delete(groups::dissolve))
        .route("/chatgroups/{group}/disable", post(groups::set_disabled::<true>))
        .route("/chatgroups/{group}/enable", post(groups::set_disabled::<false>))
        .route("/chatgroups/{group}/user/{user}/is_joined", get(groups::is_joined))
        // requests, invitations and self-service
        .route("/chatgroups/{group}/apply", post(group_requests::apply))
        .route("/chatgroups/{group}/apply_verify", post(group_requests::apply_verify))
        .route("/chatgroups/{group}/invite", post(group_requests::invite))
        .route("/chatgroups/{group}/invite_verify", post(group_requests::invite_verify))
        .route("/chatgroups/{group}/quit", delete(group_requests::quit).post(group_requests::quit))
        .route("/chatgroups/{group}/shield", post(group_requests::shield).delete(group_requests::unshield))
        .route("/chatgroups/{group}/acks/{message}", get(group_acks::readers))
        // files, member attributes
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
        .route("/chatrooms/{room}", put(rooms::modify).delete(rooms::destroy))
        .route("/metadata/chatroom/{room}", post(rooms::attributes))
        .route(
            "/metadata/chatroom/{room}/user/{user}",
            put(rooms::set_attributes::<false>).delete(rooms::remove_attributes::<false>),
        )
        .route(
            "/metadata/chatroom/{room}/user/{user}/forced",
            put(rooms::set_attributes::<true>).delete(rooms::remove_attributes::<true>),
        );
    venue_routes::<Room>(venue_routes::<Group>(routes))
}

/// The calls groups and chat rooms share, under `/{venues}/{id}` (`/chatgroups/{group}`,
/// `/chatrooms/{room}`): details, the announcement, members, admins, the blocklist, mutes,
/// mute-all and the allowlist; and a user's venues (`/users/{u}/joined_{venues}`). A path the venue also routes itself (`PUT /{venues}/{id}`)
/// adds its methods to these.
fn venue_routes<V: RestVenue>(routes: Routes) -> Routes {
    let venue = format!("/{}/{{{}}}", V::COLLECTION, V::ID_PARAM);
    let at = |tail: &str| format!("{venue}{tail}");
    routes
        .route(&format!("/users/{{user}}/joined_{}", V::COLLECTION), get(info::joined::<V>))
        .route(&at(""), get(info::details::<V>))
        .route(&at("/announcement"), get(info::announcement::<V>).post(info::set_announcement::<V>))
        .route(&at("/users"), get(members::members::<V>).post(members::add_members::<V>))
        .route(&at("/users/{users}"), post(members::add_member::<V>).delete(members::remove_members::<V>))
        .route(&at("/admin"), get(members::admins::<V>).post(members::add_admin::<V>))
        .route(&at("/admin/{user}"), delete(members::remove_admin::<V>))
        .route(&at("/blocks/users"), get(restrictions::blocklist::<V>).post(restrictions::block_many::<V>))
        .route(&at("/blocks/users/{users}"), post(restrictions::block_one::<V>).delete(restrictions::unblock::<V>))
        .route(&at("/mute"), get(restrictions::mute_list::<V>).post(restrictions::mute::<V>))
        .route(&at("/mute/{users}"), delete(restrictions::unmute::<V>))
        .route(&format!("/sdk{venue}/mute/{{user}}"), get(restrictions::is_muted::<V>))
        .route(&at("/ban"), post(restrictions::set_mute_all::<V, true>).delete(restrictions::set_mute_all::<V, false>))
        .route(&at("/white/users"), get(restrictions::allowlist::<V>).post(restrictions::allowlist_add_many::<V>))
        .route(
            &at("/white/users/{users}"),
            get(restrictions::is_allowlisted::<V>)
                .post(restrictions::allowlist_add_one::<V>)
                .delete(restrictions::allowlist_remove::<V>),
        )
}
