//! The golden record of every group and chat room REST reply (`replies.golden`, next to this
//! file), so a refactor of the handlers can show it changed no reply, success or refusal.
//!
//! One fixed script calls every group and chat room route of `rest/mod.rs` (and the sends and
//! history that go through the same group and room checks), each at least once successfully
//! and at least once refused, with the app token and with user tokens. Each call appends a
//! record to the transcript:
//!
//! ```text
//! ### METHOD /path?query [as caller]
//! > the request body, one line (when there is one)
//! < status
//! the reply body: pretty JSON with sorted keys (or `text: "…"` when it is not JSON)
//! ```
//!
//! What changes from run to run is redacted, the same way everywhere (paths included):
//! - generated ids (snowflakes: group, room, file and message ids, member join orders; 16 digits
//!   or more, as numbers, as strings or inside strings) become `<id#N>`, N numbering distinct
//!   values in order of first appearance;
//! - `timestamp`, `duration` and every epoch-ms value (`created`, `lastModified`, `joined_time`,
//!   a mute's `expire`, …: 13-digit numbers, or strings of them) become `<time>`; a mute's
//!   `expire: -1` (for ever) is kept;
//! - `application` (the app's uuid) becomes `<uuid>`, `access_token` `<token>`, the server's
//!   `address:port` `<host>`, and a history page's base64 `msg` `<meta>`.
//!
//! A redacted number is written bare (`"created": <time>`) and a redacted string quoted
//! (`"lastModified": "<time>"`), so a change of type still shows.
//!
//! No list is sorted here: every list these routes answer has an order the server defines
//! (newest first by join order, id or creation time, then by name). Lists ordered by creation
//! time would depend on whether two calls fall in the same millisecond, so the script waits a
//! few milliseconds after each call: what is added by separate calls is always in different
//! milliseconds, and what one call adds shares one, so its order is by name.
//!
//! `QUN_UPDATE_GOLDEN=1 cargo test -p qun-server --test it replies` rewrites the golden file;
//! without it the test compares and shows the first records that differ.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::harness::TestServer;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/replies.golden");
const UPDATE_VARIABLE: &str = "QUN_UPDATE_GOLDEN";
const PREAMBLE: &str = "# The replies of Qun's group and chat room REST routes, as crates/qun-server/tests/it/replies.rs \
calls them.\n# Regenerate (after checking the change is wanted): QUN_UPDATE_GOLDEN=1 cargo test -p qun-server --test it \
replies\n";

/// After each call, so that what separate calls add never shares a millisecond (see the docs).
const PAUSE: Duration = Duration::from_millis(3);

/// An id that was never generated: short, so it is not redacted.
const UNKNOWN: &str = "424242";

/// Every group and chat room route of `rest/mod.rs` (method, path with `{}` for parameters),
/// plus the sends and the history call that check group and room rules.
const ROUTES: &[(&str, &str)] = &[
    // groups: lifecycle and lists
    ("POST", "/chatgroups"),
    ("GET", "/chatgroups"),
    ("GET", "/publicchatgroups"),
    ("GET", "/chatgroups/user/{}"),
    ("GET", "/chatgroups/user/{}/joined_count"),
    ("GET", "/users/{}/joined_chatgroups"),
    ("GET", "/chatgroups/{}"),
    ("PUT", "/chatgroups/{}"),
    ("DELETE", "/chatgroups/{}"),
    ("POST", "/chatgroups/{}/disable"),
    ("POST", "/chatgroups/{}/enable"),
    ("GET", "/chatgroups/{}/user/{}/is_joined"),
    // members and roles
    ("GET", "/chatgroups/{}/users"),
    ("POST", "/chatgroups/{}/users"),
    ("POST", "/chatgroups/{}/users/{}"),
    ("DELETE", "/chatgroups/{}/users/{}"),
    ("GET", "/chatgroups/{}/admin"),
    ("POST", "/chatgroups/{}/admin"),
    ("DELETE", "/chatgroups/{}/admin/{}"),
    ("GET", "/chatgroups/{}/blocks/users"),
    ("POST", "/chatgroups/{}/blocks/users"),
    ("POST", "/chatgroups/{}/blocks/users/{}"),
    ("DELETE", "/chatgroups/{}/blocks/users/{}"),
    ("GET", "/chatgroups/{}/mute"),
    ("POST", "/chatgroups/{}/mute"),
    ("DELETE", "/chatgroups/{}/mute/{}"),
    ("GET", "/sdk/chatgroups/{}/mute/{}"),
    ("POST", "/chatgroups/{}/ban"),
    ("DELETE", "/chatgroups/{}/ban"),
    ("GET", "/chatgroups/{}/white/users"),
    ("POST", "/chatgroups/{}/white/users"),
    ("GET", "/chatgroups/{}/white/users/{}"),
    ("POST", "/chatgroups/{}/white/users/{}"),
    ("DELETE", "/chatgroups/{}/white/users/{}"),
    // requests, invitations and self-service
    ("POST", "/chatgroups/{}/apply"),
    ("POST", "/chatgroups/{}/apply_verify"),
    ("POST", "/chatgroups/{}/invite"),
    ("POST", "/chatgroups/{}/invite_verify"),
    ("DELETE", "/chatgroups/{}/quit"),
    ("POST", "/chatgroups/{}/quit"),
    ("POST", "/chatgroups/{}/shield"),
    ("DELETE", "/chatgroups/{}/shield"),
    // announcement, files, member attributes
    ("GET", "/chatgroups/{}/announcement"),
    ("POST", "/chatgroups/{}/announcement"),
    ("GET", "/chatgroups/{}/share_files"),
    ("POST", "/chatgroups/{}/share_files"),
    ("GET", "/chatgroups/{}/share_files/{}"),
    ("DELETE", "/chatgroups/{}/share_files/{}"),
    ("PUT", "/metadata/chatgroup/{}/user/{}"),
    ("GET", "/metadata/chatgroup/{}/user/{}"),
    ("PUT", "/sdk/metadata/chatgroup/{}/user/{}"),
    ("GET", "/sdk/metadata/chatgroup/{}/user/{}"),
    ("POST", "/metadata/chatgroup/{}/get"),
    ("POST", "/sdk/metadata/chatgroup/{}/get"),
    ("PUT", "/metadata/chatgroup/{}/users/batch"),
    // group messages
    ("POST", "/messages/chatgroups"),
    ("POST", "/users/{}/messageroaming"),
    // chat rooms
    ("POST", "/chatrooms"),
    ("GET", "/chatrooms"),
    ("POST", "/chatrooms/super_admin"),
    ("GET", "/chatrooms/super_admin"),
    ("DELETE", "/chatrooms/super_admin/{}"),
    ("GET", "/chatrooms/delivery"),
    ("PUT", "/chatrooms/delivery"),
    ("GET", "/chatrooms/{}/delivery"),
    ("PUT", "/chatrooms/{}/delivery"),
    ("GET", "/users/{}/joined_chatrooms"),
    ("GET", "/chatrooms/{}"),
    ("PUT", "/chatrooms/{}"),
    ("DELETE", "/chatrooms/{}"),
    ("GET", "/chatrooms/{}/announcement"),
    ("POST", "/chatrooms/{}/announcement"),
    ("GET", "/chatrooms/{}/users"),
    ("POST", "/chatrooms/{}/users"),
    ("POST", "/chatrooms/{}/users/{}"),
    ("DELETE", "/chatrooms/{}/users/{}"),
    ("GET", "/chatrooms/{}/admin"),
    ("POST", "/chatrooms/{}/admin"),
    ("DELETE", "/chatrooms/{}/admin/{}"),
    ("GET", "/chatrooms/{}/blocks/users"),
    ("POST", "/chatrooms/{}/blocks/users"),
    ("POST", "/chatrooms/{}/blocks/users/{}"),
    ("DELETE", "/chatrooms/{}/blocks/users/{}"),
    ("GET", "/chatrooms/{}/white/users"),
    ("POST", "/chatrooms/{}/white/users"),
    ("GET", "/chatrooms/{}/white/users/{}"),
    ("POST", "/chatrooms/{}/white/users/{}"),
    ("DELETE", "/chatrooms/{}/white/users/{}"),
    ("GET", "/chatrooms/{}/mute"),
    ("POST", "/chatrooms/{}/mute"),
    ("DELETE", "/chatrooms/{}/mute/{}"),
    ("GET", "/sdk/chatrooms/{}/mute/{}"),
    ("POST", "/chatrooms/{}/ban"),
    ("DELETE", "/chatrooms/{}/ban"),
    ("POST", "/metadata/chatroom/{}"),
    ("PUT", "/metadata/chatroom/{}/user/{}"),
    ("DELETE", "/metadata/chatroom/{}/user/{}"),
    ("PUT", "/metadata/chatroom/{}/user/{}/forced"),
    ("DELETE", "/metadata/chatroom/{}/user/{}/forced"),
    // room messages
    ("POST", "/messages/chatrooms"),
];

#[tokio::test]
async fn group_and_room_replies_match_the_golden_file() {
    let server = TestServer::start("sqlite").await;
    let mut script = Script::new(&server).await;
    groups(&mut script).await;
    rooms(&mut script).await;
    let transcript = script.transcript();

    if std::env::var(UPDATE_VARIABLE).is_ok_and(|value| value == "1") {
        std::fs::write(GOLDEN, &transcript).expect("write replies.golden");
        eprintln!("wrote {GOLDEN} ({} calls, {} bytes)", script.records.len(), transcript.len());
    } else {
        let golden = std::fs::read_to_string(GOLDEN).unwrap_or_else(|error| {
            panic!("cannot read {GOLDEN} ({error}); create it with {UPDATE_VARIABLE}=1 cargo test -p qun-server --test it replies")
        });
        if golden != transcript {
            panic!("{}", differences(&golden, &transcript));
        }
    }
    script.check_coverage();
}

// ------------------------------------------------------------------------ groups

async fn groups(s: &mut Script<'_>) {
    // Lifecycle: creation with the app token and with a user token, and its refusals.
    let reply = s
        .post(
            "app",
            "/chatgroups",
            json!({"groupname": "alpha", "description": "the first group", "public": true, "maxusers": 50,
                "owner": "ann", "members": ["bob", "cat", "dan"], "custom": "team=alpha"}),
        )
        .await;
    let g1 = text(&reply["data"]["groupid"]);
    let reply = s
        .post(
            "eve",
            "/chatgroups",
            json!({"groupname": "beta", "description": "eve's private group", "public": false,
                "allowinvites": true, "members": ["fay"]}),
        )
        .await;
    let g2 = text(&reply["data"]["groupid"]);
    let reply = s
        .post("app", "/chatgroups", json!({"groupname": "gamma", "public": true, "membersonly": true, "owner": "ann"}))
        .await;
    let g3 = text(&reply["data"]["groupid"]);
    s.post("app", "/chatgroups", json!({"groupname": "no public", "owner": "ann"})).await;
    s.post("app", "/chatgroups", json!({"groupname": "no owner", "public": true})).await;
    s.post("app", "/chatgroups", json!({"groupname": "ghost's", "public": true, "owner": "ghost"})).await;
    s.post("app", "/chatgroups", json!({"groupname": "x", "public": true, "owner": "ann", "members": ["Bad Name!"]}))
        .await;
    s.post("app", "/chatgroups", json!({"groupname": "x", "public": "yes", "owner": "ann"})).await;
    s.raw("app", Method::POST, "/chatgroups", r#"{"groupname":"#).await;
    s.post("none", "/chatgroups", json!({"groupname": "x", "public": true, "owner": "ann"})).await;
    s.post("bad", "/chatgroups", json!({"groupname": "x", "public": true, "owner": "ann"})).await;

    // Details.
    s.get("app", &format!("/chatgroups/{g1}")).await;
    s.get("cat", &format!("/chatgroups/{g1}?joined_time=true")).await;
    s.get("ann", &format!("/chatgroups/{g1},{g3}")).await;
    s.get("ann", &format!("/chatgroups/{g2}")).await;
    s.get("app", &format!("/chatgroups/{UNKNOWN}")).await;
    s.get("app", "/chatgroups/not-an-id").await;

    // Settings.
    s.put("ann", &format!("/chatgroups/{g1}"), json!({"description": "alpha, updated", "maxusers": 60})).await;
    s.put("cat", &format!("/chatgroups/{g1}"), json!({"description": "cat's"})).await;
    s.put("app", &format!("/chatgroups/{g1}"), json!({"groupid": "1", "color": "red"})).await;
    s.put("app", &format!("/chatgroups/{g1}"), json!({"maxusers": 1})).await;
    s.put("app", &format!("/chatgroups/{g1}"), json!(["groupname"])).await;
    s.put("app", &format!("/chatgroups/{UNKNOWN}"), json!({"groupname": "x"})).await;

    // Admins.
    s.post("ann", &format!("/chatgroups/{g1}/admin"), json!({"newadmin": "bob"})).await;
    s.post("bob", &format!("/chatgroups/{g1}/admin"), json!({"newadmin": "cat"})).await;
    s.post("ann", &format!("/chatgroups/{g1}/admin"), json!({})).await;
    s.post("ann", &format!("/chatgroups/{g1}/admin"), json!({"newadmin": "eve"})).await;
    s.post("app", &format!("/chatgroups/{g1}/admin"), json!({"newadmin": "dan"})).await;
    s.get("cat", &format!("/chatgroups/{g1}/admin")).await;
    s.get("eve", &format!("/chatgroups/{g1}/admin")).await;
    s.delete("bob", &format!("/chatgroups/{g1}/admin/dan")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/admin/dan")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/admin/cat")).await;
    s.delete("app", &format!("/chatgroups/{g1}/admin/ghost")).await;

    // Members: add and remove.
    s.post_empty("bob", &format!("/chatgroups/{g1}/users/eve")).await;
    s.post_empty("bob", &format!("/chatgroups/{g1}/users/eve")).await;
    s.post_empty("cat", &format!("/chatgroups/{g1}/users/hal")).await;
    s.post_empty("app", &format!("/chatgroups/{g1}/users/ghost")).await;
    s.post("app", &format!("/chatgroups/{g1}/users"), json!({"usernames": ["hal", "ivy", "cat", "ghost"]})).await;
    s.post("app", &format!("/chatgroups/{g1}/users"), json!({})).await;
    s.post("cat", &format!("/chatgroups/{g1}/users"), json!({"usernames": ["joe"]})).await;
    s.post("app", &format!("/chatgroups/{g1}/users"), json!({"usernames": ["Bad Name!"]})).await;
    s.delete("bob", &format!("/chatgroups/{g1}/users/ivy")).await;
    s.delete("app", &format!("/chatgroups/{g1}/users/hal,ghost,ann")).await;
    s.delete("bob", &format!("/chatgroups/{g1}/users/ann")).await;
    s.delete("cat", &format!("/chatgroups/{g1}/users/eve")).await;

    // Member lists (alpha: ann, bob admin, cat, dan, eve).
    s.get("cat", &format!("/chatgroups/{g1}/users")).await;
    s.get("app", &format!("/chatgroups/{g1}/users?pagenum=1&pagesize=2")).await;
    let reply = s.get("ann", &format!("/chatgroups/{g1}/users?version=v3&limit=2")).await;
    let cursor = text(&reply["cursor"]);
    s.get("ann", &format!("/chatgroups/{g1}/users?limit=2&cursor={cursor}")).await;
    s.get("bob", &format!("/chatgroups/{g1}/users?joined_time=true")).await;
    s.get("fay", &format!("/chatgroups/{g1}/users")).await;
    s.get("cat", &format!("/chatgroups/{g1}/users?pagesize=0")).await;

    // Blocklist.
    s.post_empty("ann", &format!("/chatgroups/{g1}/blocks/users/hal")).await;
    s.post_empty("ann", &format!("/chatgroups/{g1}/blocks/users/hal")).await;
    s.post_empty("bob", &format!("/chatgroups/{g1}/blocks/users/ivy,ghost")).await;
    s.post("app", &format!("/chatgroups/{g1}/blocks/users"), json!({"usernames": ["joe", "ann"]})).await;
    s.post("cat", &format!("/chatgroups/{g1}/blocks/users"), json!({"usernames": ["joe"]})).await;
    s.post("app", &format!("/chatgroups/{g1}/blocks/users"), json!({})).await;
    s.get("bob", &format!("/chatgroups/{g1}/blocks/users")).await;
    s.get("cat", &format!("/chatgroups/{g1}/blocks/users")).await;
    s.get("hal", &format!("/chatgroups/{g1}")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/blocks/users/hal")).await;
    s.delete("app", &format!("/chatgroups/{g1}/blocks/users/ivy,joe")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/blocks/users/cat")).await;
    s.delete("cat", &format!("/chatgroups/{g1}/blocks/users/hal")).await;

    // Mutes.
    s.post("ann", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["cat"], "mute_duration": -1})).await;
    s.post("bob", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["dan", "ghost"], "mute_duration": 60000}))
        .await;
    s.post("ann", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["cat"]})).await;
    s.post("ann", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["cat"], "mute_duration": 0})).await;
    s.post("cat", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["dan"], "mute_duration": 1000})).await;
    s.post("ann", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["fay"], "mute_duration": 1000})).await;
    s.post("bob", &format!("/chatgroups/{g1}/mute"), json!({"usernames": ["ann"], "mute_duration": 1000})).await;
    s.get("bob", &format!("/chatgroups/{g1}/mute")).await;
    s.get("cat", &format!("/chatgroups/{g1}/mute")).await;
    s.get("cat", &format!("/sdk/chatgroups/{g1}/mute/cat")).await;
    s.get("bob", &format!("/sdk/chatgroups/{g1}/mute/dan")).await;
    s.get("dan", &format!("/sdk/chatgroups/{g1}/mute/cat")).await;
    s.get("app", &format!("/sdk/chatgroups/{g1}/mute/eve")).await;
    s.post("cat", "/messages/chatgroups", json!({"to": [g1], "type": "txt", "body": {"msg": "am I muted?"}})).await;
    s.delete("ann", &format!("/chatgroups/{g1}/mute/cat")).await;
    s.delete("app", &format!("/chatgroups/{g1}/mute/dan,ghost")).await;
    s.delete("dan", &format!("/chatgroups/{g1}/mute/cat")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/mute/fay")).await;

    // Mute all.
    s.post_empty("cat", &format!("/chatgroups/{g1}/ban")).await;
    s.post_empty("bob", &format!("/chatgroups/{g1}/ban")).await;
    s.post_empty("app", &format!("/chatgroups/{g1}/ban")).await;
    s.post("cat", "/messages/chatgroups", json!({"to": [g1], "type": "txt", "body": {"msg": "anyone?"}})).await;
    s.post("bob", "/messages/chatgroups", json!({"to": [g1], "type": "txt", "body": {"msg": "quiet please"}})).await;
    s.delete("cat", &format!("/chatgroups/{g1}/ban")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/ban")).await;

    // Messages and history.
    s.post(
        "app",
        "/messages/chatgroups",
        json!({"from": "ann", "to": [g1], "type": "txt", "body": {"msg": "hello alpha"}, "ext": {"mood": "sunny"}}),
    )
    .await;
    s.post("fay", "/messages/chatgroups", json!({"to": [g1], "type": "txt", "body": {"msg": "let me talk"}})).await;
    s.post("cat", "/messages/chatgroups", json!({"to": [g1], "type": "sticker", "body": {}})).await;
    s.post("app", "/messages/chatgroups", json!({"to": [UNKNOWN], "type": "txt", "body": {"msg": "anybody?"}})).await;
    s.post("app", "/messages/chatgroups", json!({"to": [g1, g2, g3, UNKNOWN], "type": "txt", "body": {"msg": "all"}}))
        .await;
    s.post(
        "cat",
        "/users/cat/messageroaming",
        json!({"queue": format!("{g1}@conference.easemob.com"), "pull_number": 10}),
    )
    .await;
    s.post("fay", "/users/fay/messageroaming", json!({"queue": format!("{g1}@conference.easemob.com")})).await;
    s.post("dan", "/users/cat/messageroaming", json!({"queue": format!("{g1}@conference.easemob.com")})).await;

    // Allowlist.
    s.post_empty("ann", &format!("/chatgroups/{g1}/white/users/cat")).await;
    s.post_empty("ann", &format!("/chatgroups/{g1}/white/users/fay")).await;
    s.post("bob", &format!("/chatgroups/{g1}/white/users"), json!({"usernames": ["dan", "fay"]})).await;
    s.post("cat", &format!("/chatgroups/{g1}/white/users"), json!({"usernames": ["dan"]})).await;
    s.post("app", &format!("/chatgroups/{g1}/white/users"), json!({})).await;
    s.get("ann", &format!("/chatgroups/{g1}/white/users")).await;
    s.get("cat", &format!("/chatgroups/{g1}/white/users")).await;
    s.get("cat", &format!("/chatgroups/{g1}/white/users/cat")).await;
    s.get("ann", &format!("/chatgroups/{g1}/white/users/eve")).await;
    s.get("dan", &format!("/chatgroups/{g1}/white/users/cat")).await;
    s.delete("ann", &format!("/chatgroups/{g1}/white/users/cat")).await;
    s.delete("app", &format!("/chatgroups/{g1}/white/users/dan,ghost")).await;
    s.delete("cat", &format!("/chatgroups/{g1}/white/users/dan")).await;

    // Announcement.
    s.get("cat", &format!("/chatgroups/{g1}/announcement")).await;
    s.post("bob", &format!("/chatgroups/{g1}/announcement"), json!({"announcement": "Welcome to alpha!"})).await;
    s.get("cat", &format!("/chatgroups/{g1}/announcement")).await;
    s.post("cat", &format!("/chatgroups/{g1}/announcement"), json!({"announcement": "cat was here"})).await;
    s.post("ann", &format!("/chatgroups/{g1}/announcement"), json!({})).await;
    s.post("ann", &format!("/chatgroups/{g1}/announcement"), json!({"announcement": "a".repeat(513)})).await;
    s.get("fay", &format!("/chatgroups/{g1}/announcement")).await;
    s.post("app", &format!("/chatgroups/{g1}/announcement"), json!({"announcement": ""})).await;
    s.get("app", &format!("/chatgroups/{g1}/announcement")).await;

    // Shared files.
    let files = format!("/chatgroups/{g1}/share_files");
    let reply = s.upload("cat", &files, "notes.txt", b"hello from cat").await;
    let f1 = text(&reply["data"]["file_id"]);
    let reply = s.upload("app", &files, "readme.md", b"# alpha").await;
    let f2 = text(&reply["data"]["file_id"]);
    s.upload("fay", &files, "intruder.txt", b"let me in").await;
    s.upload("cat", &format!("/chatgroups/{UNKNOWN}/share_files"), "lost.txt", b"nowhere").await;
    s.get("cat", &files).await;
    s.get("app", &format!("{files}?pagenum=1&pagesize=1")).await;
    s.get("fay", &files).await;
    s.get("cat", &format!("{files}?pagesize=0")).await;
    s.get("dan", &format!("{files}/{f1}")).await;
    s.get("dan", &format!("{files}/{UNKNOWN}")).await;
    s.get("fay", &format!("{files}/{f1}")).await;
    s.get("dan", &format!("{files}/not-a-file")).await;
    s.delete("cat", &format!("{files}/{f2}")).await;
    s.delete("cat", &format!("{files}/{f1}")).await;
    s.delete("cat", &format!("{files}/{f1}")).await;
    s.delete("bob", &format!("{files}/{f2}")).await;
    s.get("cat", &files).await;

    // Member attributes, and their `/sdk/…` variants.
    let attributes = |user: &str| format!("/metadata/chatgroup/{g1}/user/{user}");
    let sdk_attributes = |user: &str| format!("/sdk/metadata/chatgroup/{g1}/user/{user}");
    s.put("cat", &attributes("cat"), json!({"metaData": {"nickname": "kitty", "color": "red"}})).await;
    s.put("cat", &sdk_attributes("cat"), json!({"metaData": {"color": ""}})).await;
    s.put("cat", &attributes("dan"), json!({"metaData": {"nickname": "doggo"}})).await;
    s.put("ann", &attributes("dan"), json!({"metaData": {"role": "dj"}})).await;
    s.put("cat", &attributes("cat"), json!({})).await;
    s.put("cat", &attributes("cat"), json!({"metaData": {"bad-key": "x"}})).await;
    s.put("app", &attributes("fay"), json!({"metaData": {"k": "v"}})).await;
    s.put("cat", &sdk_attributes("dan"), json!({"metaData": {"x": "y"}})).await;
    s.get("dan", &attributes("cat")).await;
    s.get("cat", &sdk_attributes("cat")).await;
    s.get("fay", &attributes("cat")).await;
    s.get("cat", &format!("/sdk/metadata/chatgroup/{UNKNOWN}/user/cat")).await;
    s.post(
        "cat",
        &format!("/metadata/chatgroup/{g1}/get"),
        json!({"targets": ["cat", "dan", "eve"], "properties": ["nickname", "role"]}),
    )
    .await;
    s.post("app", &format!("/sdk/metadata/chatgroup/{g1}/get"), json!({"targets": ["cat"]})).await;
    s.post("fay", &format!("/metadata/chatgroup/{g1}/get"), json!({"targets": ["cat"]})).await;
    s.post("cat", &format!("/sdk/metadata/chatgroup/{g1}/get"), json!({"targets": []})).await;
    let batch = format!("/metadata/chatgroup/{g1}/users/batch");
    s.put(
        "ann",
        &batch,
        json!([{"username": "cat", "metadata": {"level": "3"}}, {"username": "fay", "metadata": {"level": "1"}},
            {"username": "Bad Name!", "metadata": {"level": "2"}}]),
    )
    .await;
    s.put("cat", &batch, json!([{"username": "cat", "metadata": {"level": "9"}}])).await;
    s.put("app", &batch, json!([])).await;
    s.put("app", &batch, json!([{"username": "dan", "metadata": {"bad-key": "x"}}])).await;

    // Applications (gamma: public, approval required; beta: private, members may invite).
    s.post("fay", &format!("/chatgroups/{g3}/apply"), json!({"message": "let me in"})).await;
    s.post("fay", &format!("/chatgroups/{g3}/apply"), json!({"message": "let me in"})).await;
    s.post("app", &format!("/chatgroups/{g3}/apply"), json!({"message": "the app applies"})).await;
    s.post("ann", &format!("/chatgroups/{g3}/apply"), json!({})).await;
    s.post("gus", &format!("/chatgroups/{g2}/apply"), json!({"message": "hi"})).await;
    s.post("gus", &format!("/chatgroups/{g1}/apply"), json!({})).await;
    s.post("hal", &format!("/chatgroups/{g3}/apply"), json!({"message": "me too"})).await;
    s.post("joe", &format!("/chatgroups/{g3}/apply"), json!({"message": "x".repeat(513)})).await;
    s.post("cat", &format!("/chatgroups/{g3}/apply_verify"), json!({"applicant": "fay", "verifyResult": true})).await;
    s.post("ann", &format!("/chatgroups/{g3}/apply_verify"), json!({"applicant": "fay", "verifyResult": true})).await;
    s.post("ann", &format!("/chatgroups/{g3}/apply_verify"), json!({"applicant": "gus", "verifyResult": true})).await;
    s.post("ann", &format!("/chatgroups/{g3}/apply_verify"), json!({"applicant": "hal"})).await;
    s.post(
        "app",
        &format!("/chatgroups/{g3}/apply_verify"),
        json!({"applicant": "hal", "verifyResult": false, "reason": "not now"}),
    )
    .await;
    s.post("app", &format!("/chatgroups/{g3}/apply_verify"), json!({"verifyResult": true})).await;

    // Invitations.
    s.post(
        "eve",
        &format!("/chatgroups/{g2}/invite"),
        json!({"usernames": ["gus", "ghost", "fay", "Bad Name!"], "reason": "join us"}),
    )
    .await;
    s.post("fay", &format!("/chatgroups/{g2}/invite"), json!({"usernames": ["hal"]})).await;
    s.post("ann", &format!("/chatgroups/{g2}/invite"), json!({"usernames": ["ivy"]})).await;
    s.post("eve", &format!("/chatgroups/{g2}/invite"), json!({})).await;
    s.post("cat", &format!("/chatgroups/{g1}/invite"), json!({"usernames": ["joe"]})).await;
    s.post("app", &format!("/chatgroups/{g1}/invite"), json!({"usernames": ["joe"], "reason": "from the app"})).await;
    s.post("gus", &format!("/chatgroups/{g2}/invite_verify"), json!({"verifyResult": true})).await;
    s.post(
        "hal",
        &format!("/chatgroups/{g2}/invite_verify"),
        json!({"invitee": "hal", "verifyResult": false, "reason": "busy"}),
    )
    .await;
    s.post("ivy", &format!("/chatgroups/{g2}/invite_verify"), json!({"verifyResult": true})).await;
    s.post("gus", &format!("/chatgroups/{g2}/invite_verify"), json!({"invitee": "hal", "verifyResult": true})).await;
    s.post("app", &format!("/chatgroups/{g2}/invite_verify"), json!({"verifyResult": true})).await;
    s.post("app", &format!("/chatgroups/{g2}/invite_verify"), json!({"invitee": "hal", "verifyResult": true})).await;
    s.post("gus", &format!("/chatgroups/{g2}/invite_verify"), json!({})).await;

    // Quitting and shielding.
    s.delete("gus", &format!("/chatgroups/{g2}/quit")).await;
    s.post_empty("fay", &format!("/chatgroups/{g2}/quit")).await;
    s.delete("eve", &format!("/chatgroups/{g2}/quit")).await;
    s.post_empty("gus", &format!("/chatgroups/{g2}/quit")).await;
    s.delete("app", &format!("/chatgroups/{g2}/quit")).await;
    s.post_empty("cat", &format!("/chatgroups/{g1}/shield?version=v3")).await;
    s.post_empty("cat", &format!("/chatgroups/{g1}/shield?version=v3")).await;
    s.delete("cat", &format!("/chatgroups/{g1}/shield?version=v3")).await;
    s.post_empty("fay", &format!("/chatgroups/{g1}/shield?version=v3")).await;
    s.delete("app", &format!("/chatgroups/{g1}/shield?version=v3")).await;

    // Owner transfer.
    s.put("ann", &format!("/chatgroups/{g1}"), json!({"newowner": "bob"})).await;
    s.put("ann", &format!("/chatgroups/{g1}"), json!({"newowner": "cat"})).await;
    s.put("bob", &format!("/chatgroups/{g1}"), json!({"newowner": "bob"})).await;
    s.put("app", &format!("/chatgroups/{g1}"), json!({"newowner": "fay"})).await;
    s.put("app", &format!("/chatgroups/{g1}"), json!({"newowner": "ghost"})).await;
    s.get("app", &format!("/chatgroups/{g1}")).await;

    // Disable and enable.
    s.post_empty("ann", &format!("/chatgroups/{g3}/disable")).await;
    s.post_empty("app", &format!("/chatgroups/{g3}/disable")).await;
    s.post("ann", &format!("/chatgroups/{g3}/announcement"), json!({"announcement": "closed"})).await;
    s.post("ann", "/messages/chatgroups", json!({"to": [g3], "type": "txt", "body": {"msg": "still here?"}})).await;
    s.get("ann", &format!("/chatgroups/{g3}")).await;
    s.post_empty("ann", &format!("/chatgroups/{g3}/enable")).await;
    s.post_empty("app", &format!("/chatgroups/{g3}/enable")).await;
    s.post_empty("app", &format!("/chatgroups/{UNKNOWN}/disable")).await;
    s.post_empty("app", &format!("/chatgroups/{UNKNOWN}/enable")).await;

    // Lists of groups.
    s.get("app", "/chatgroups").await;
    let reply = s.get("app", "/chatgroups?limit=1").await;
    let cursor = text(&reply["cursor"]);
    s.get("app", &format!("/chatgroups?limit=1&cursor={cursor}")).await;
    s.get("ann", "/chatgroups").await;
    s.get("app", "/chatgroups?limit=0").await;
    s.get("app", "/chatgroups?cursor=abc").await;
    s.get("eve", "/publicchatgroups").await;
    s.get("eve", "/publicchatgroups?limit=1").await;
    s.get("none", "/publicchatgroups").await;
    s.get("eve", "/publicchatgroups?limit=abc").await;
    s.get("cat", "/chatgroups/user/cat").await;
    s.get("app", "/chatgroups/user/cat?pagenum=0&pagesize=1").await;
    s.get("eve", "/chatgroups/user/cat").await;
    s.get("cat", "/chatgroups/user/cat?pagesize=101").await;
    s.get("cat", "/chatgroups/user/cat/joined_count").await;
    s.get("dan", "/chatgroups/user/cat/joined_count").await;
    s.get("cat", "/users/cat/joined_chatgroups").await;
    s.get("app", "/users/fay/joined_chatgroups?pagenum=1&pagesize=1").await;
    s.get("dan", "/users/cat/joined_chatgroups").await;
    s.get("cat", &format!("/chatgroups/{g1}/user/cat/is_joined")).await;
    s.get("app", &format!("/chatgroups/{g1}/user/fay/is_joined")).await;
    s.get("dan", &format!("/chatgroups/{g1}/user/cat/is_joined")).await;
    s.get("app", &format!("/chatgroups/{UNKNOWN}/user/cat/is_joined")).await;

    // Dissolution.
    s.delete("fay", &format!("/chatgroups/{g3}")).await;
    s.delete("ann", &format!("/chatgroups/{g3}")).await;
    s.delete("app", &format!("/chatgroups/{g3}")).await;
    s.delete("app", &format!("/chatgroups/{g2}")).await;
    s.get("app", &format!("/chatgroups/{g3}")).await;
}

// ------------------------------------------------------------------------ chat rooms

async fn rooms(s: &mut Script<'_>) {
    // Super admins.
    s.post("app", "/chatrooms/super_admin", json!({"superadmin": "eve"})).await;
    s.post("app", "/chatrooms/super_admin", json!({"superadmin": "dan"})).await;
    s.post("app", "/chatrooms/super_admin", json!({"superadmin": "ghost"})).await;
    s.post("app", "/chatrooms/super_admin", json!({})).await;
    s.post("eve", "/chatrooms/super_admin", json!({"superadmin": "fay"})).await;
    s.get("app", "/chatrooms/super_admin").await;
    s.get("app", "/chatrooms/super_admin?pagenum=2&pagesize=1").await;
    s.get("eve", "/chatrooms/super_admin").await;
    s.get("app", "/chatrooms/super_admin?pagesize=0").await;
    s.delete("app", "/chatrooms/super_admin/dan").await;
    s.delete("app", "/chatrooms/super_admin/dan").await;
    s.delete("eve", "/chatrooms/super_admin/eve").await;

    // Creation.
    let reply = s
        .post(
            "app",
            "/chatrooms",
            json!({"name": "lobby", "description": "the lobby", "owner": "ann", "members": ["bob", "cat", "dan"],
                "maxusers": 100, "custom": "floor=1"}),
        )
        .await;
    let r1 = text(&reply["data"]["id"]);
    let reply = s.post("eve", "/chatrooms", json!({"name": "stage", "description": "eve's stage"})).await;
    let r2 = text(&reply["data"]["id"]);
    s.post("cat", "/chatrooms", json!({"name": "cat's", "description": "not a super admin"})).await;
    s.post("eve", "/chatrooms", json!({"name": "for ann", "description": "someone else's", "owner": "ann"})).await;
    s.post("app", "/chatrooms", json!({"description": "no name", "owner": "ann"})).await;
    s.post("app", "/chatrooms", json!({"name": "no description", "owner": "ann"})).await;
    s.post("app", "/chatrooms", json!({"name": "no owner", "description": "d"})).await;
    s.post("app", "/chatrooms", json!({"name": "n", "description": "d", "owner": "ann", "members": ["ghost"]})).await;
    s.post("app", "/chatrooms", json!({"name": "n", "description": "d", "owner": "ann", "maxusers": -1})).await;
    s.raw("app", Method::POST, "/chatrooms", r#"{"name": "#).await;
    s.post("none", "/chatrooms", json!({"name": "n", "description": "d", "owner": "ann"})).await;

    // Details.
    s.get("fay", &format!("/chatrooms/{r1}")).await;
    s.get("app", &format!("/chatrooms/{r1}?joined_time=true")).await;
    s.get("cat", &format!("/chatrooms/{r1},{r2}")).await;
    s.get("app", &format!("/chatrooms/{UNKNOWN}")).await;
    s.get("app", "/chatrooms/not-an-id").await;

    // Settings.
    s.put(
        "ann",
        &format!("/chatrooms/{r1}"),
        json!({"name": "main lobby", "description": "the main lobby", "maxusers": 200}),
    )
    .await;
    s.put("cat", &format!("/chatrooms/{r1}"), json!({"description": "cat's lobby"})).await;
    s.put("app", &format!("/chatrooms/{r1}"), json!({"custom": "x"})).await;
    s.put("app", &format!("/chatrooms/{r1}"), json!({"groupname": "lobby"})).await;
    s.put("app", &format!("/chatrooms/{r1}"), json!({"maxusers": 1})).await;
    s.put("app", &format!("/chatrooms/{UNKNOWN}"), json!({"name": "x"})).await;

    // Announcement.
    s.get("cat", &format!("/chatrooms/{r1}/announcement")).await;
    s.post("ann", &format!("/chatrooms/{r1}/announcement"), json!({"announcement": "Be nice."})).await;
    s.get("cat", &format!("/chatrooms/{r1}/announcement")).await;
    s.post("cat", &format!("/chatrooms/{r1}/announcement"), json!({"announcement": "cat rules"})).await;
    s.post("ann", &format!("/chatrooms/{r1}/announcement"), json!({})).await;
    s.get("ivy", &format!("/chatrooms/{r1}/announcement")).await;
    s.post("app", &format!("/chatrooms/{r1}/announcement"), json!({"announcement": ""})).await;

    // Members: add, list, remove.
    s.post_empty("ann", &format!("/chatrooms/{r1}/users/fay")).await;
    s.post_empty("ann", &format!("/chatrooms/{r1}/users/fay")).await;
    s.post_empty("app", &format!("/chatrooms/{r1}/users/ghost")).await;
    s.post_empty("cat", &format!("/chatrooms/{r1}/users/gus")).await;
    s.post("app", &format!("/chatrooms/{r1}/users"), json!({"usernames": ["gus", "hal", "cat", "ghost"]})).await;
    s.post("cat", &format!("/chatrooms/{r1}/users"), json!({"usernames": ["ivy"]})).await;
    s.post("app", &format!("/chatrooms/{r1}/users"), json!({})).await;
    s.get("cat", &format!("/chatrooms/{r1}/users")).await;
    s.get("app", &format!("/chatrooms/{r1}/users?pagenum=1&pagesize=2")).await;
    let reply = s.get("ann", &format!("/chatrooms/{r1}/users?limit=2")).await;
    let cursor = text(&reply["cursor"]);
    s.get("ann", &format!("/chatrooms/{r1}/users?limit=2&cursor={cursor}")).await;
    s.get("bob", &format!("/chatrooms/{r1}/users?version=v3")).await;
    s.get("app", &format!("/chatrooms/{r1}/users?joined_time=true")).await;
    s.get("ivy", &format!("/chatrooms/{r1}/users")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/users/hal")).await;
    s.delete("app", &format!("/chatrooms/{r1}/users/gus,ghost,ivy")).await;
    s.delete("cat", &format!("/chatrooms/{r1}/users/ann")).await;

    // Admins (in the room: ann owner, bob, cat, dan, fay).
    s.post("ann", &format!("/chatrooms/{r1}/admin"), json!({"newadmin": "bob"})).await;
    s.post("bob", &format!("/chatrooms/{r1}/admin"), json!({"newadmin": "cat"})).await;
    s.post("ann", &format!("/chatrooms/{r1}/admin"), json!({})).await;
    s.post("ann", &format!("/chatrooms/{r1}/admin"), json!({"newadmin": "ivy"})).await;
    s.post("app", &format!("/chatrooms/{r1}/admin"), json!({"newadmin": "dan"})).await;
    s.get("cat", &format!("/chatrooms/{r1}/admin")).await;
    s.get("ivy", &format!("/chatrooms/{r1}/admin")).await;
    s.delete("bob", &format!("/chatrooms/{r1}/admin/dan")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/admin/dan")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/admin/cat")).await;
    s.delete("app", &format!("/chatrooms/{r1}/admin/ghost")).await;

    // Blocklist.
    s.post_empty("bob", &format!("/chatrooms/{r1}/blocks/users/hal")).await;
    s.post_empty("bob", &format!("/chatrooms/{r1}/blocks/users/hal")).await;
    s.get("hal", &format!("/chatrooms/{r1}")).await;
    s.post_empty("ann", &format!("/chatrooms/{r1}/blocks/users/ivy,ghost")).await;
    s.post("app", &format!("/chatrooms/{r1}/blocks/users"), json!({"usernames": ["gus", "ann"]})).await;
    s.post("cat", &format!("/chatrooms/{r1}/blocks/users"), json!({"usernames": ["ivy"]})).await;
    s.get("bob", &format!("/chatrooms/{r1}/blocks/users")).await;
    s.get("cat", &format!("/chatrooms/{r1}/blocks/users")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/blocks/users/hal")).await;
    s.delete("app", &format!("/chatrooms/{r1}/blocks/users/ivy,gus")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/blocks/users/cat")).await;
    s.delete("cat", &format!("/chatrooms/{r1}/blocks/users/hal")).await;

    // Allowlist.
    s.post_empty("ann", &format!("/chatrooms/{r1}/white/users/cat")).await;
    s.post_empty("ann", &format!("/chatrooms/{r1}/white/users/ivy")).await;
    s.post("bob", &format!("/chatrooms/{r1}/white/users"), json!({"usernames": ["dan", "ivy"]})).await;
    s.post("cat", &format!("/chatrooms/{r1}/white/users"), json!({"usernames": ["dan"]})).await;
    s.post("app", &format!("/chatrooms/{r1}/white/users"), json!({})).await;
    s.get("ann", &format!("/chatrooms/{r1}/white/users")).await;
    s.get("cat", &format!("/chatrooms/{r1}/white/users")).await;
    s.get("cat", &format!("/chatrooms/{r1}/white/users/cat")).await;
    s.get("ann", &format!("/chatrooms/{r1}/white/users/fay")).await;
    s.get("dan", &format!("/chatrooms/{r1}/white/users/cat")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/white/users/cat")).await;
    s.delete("app", &format!("/chatrooms/{r1}/white/users/dan,ghost")).await;
    s.delete("cat", &format!("/chatrooms/{r1}/white/users/dan")).await;

    // Mutes.
    s.post("ann", &format!("/chatrooms/{r1}/mute"), json!({"usernames": ["cat"], "mute_duration": -1})).await;
    s.post("bob", &format!("/chatrooms/{r1}/mute"), json!({"usernames": ["dan", "ghost"], "mute_duration": 60000}))
        .await;
    s.post("ann", &format!("/chatrooms/{r1}/mute"), json!({"usernames": ["cat"]})).await;
    s.post("ann", &format!("/chatrooms/{r1}/mute"), json!({"usernames": ["cat"], "mute_duration": -5})).await;
    s.post("cat", &format!("/chatrooms/{r1}/mute"), json!({"usernames": ["dan"], "mute_duration": 1000})).await;
    s.post("ann", &format!("/chatrooms/{r1}/mute"), json!({"usernames": ["ivy"], "mute_duration": 1000})).await;
    s.get("bob", &format!("/chatrooms/{r1}/mute")).await;
    s.get("cat", &format!("/chatrooms/{r1}/mute")).await;
    s.get("cat", &format!("/sdk/chatrooms/{r1}/mute/cat")).await;
    s.get("app", &format!("/sdk/chatrooms/{r1}/mute/fay")).await;
    s.get("dan", &format!("/sdk/chatrooms/{r1}/mute/cat")).await;
    s.post("cat", "/messages/chatrooms", json!({"to": [r1], "type": "txt", "body": {"msg": "can you hear me?"}})).await;
    s.delete("ann", &format!("/chatrooms/{r1}/mute/cat")).await;
    s.delete("app", &format!("/chatrooms/{r1}/mute/dan,ghost")).await;
    s.delete("dan", &format!("/chatrooms/{r1}/mute/cat")).await;

    // Mute all.
    s.post_empty("cat", &format!("/chatrooms/{r1}/ban")).await;
    s.post_empty("bob", &format!("/chatrooms/{r1}/ban")).await;
    s.post("cat", "/messages/chatrooms", json!({"to": [r1], "type": "txt", "body": {"msg": "hello?"}})).await;
    s.post(
        "bob",
        "/messages/chatrooms",
        json!({"to": [r1], "type": "txt", "body": {"msg": "listen up"}, "chatroom_msg_level": "high"}),
    )
    .await;
    s.delete("cat", &format!("/chatrooms/{r1}/ban")).await;
    s.delete("ann", &format!("/chatrooms/{r1}/ban")).await;

    // Messages.
    s.post(
        "app",
        "/messages/chatrooms",
        json!({"from": "ann", "to": [r1], "type": "txt", "body": {"msg": "hello lobby"}}),
    )
    .await;
    s.post("ivy", "/messages/chatrooms", json!({"to": [r1], "type": "txt", "body": {"msg": "let me talk"}})).await;
    s.post(
        "app",
        "/messages/chatrooms",
        json!({"to": [r1], "type": "txt", "body": {"msg": "now"}, "chatroom_msg_level": "urgent"}),
    )
    .await;
    s.post("app", "/messages/chatrooms", json!({"to": [UNKNOWN], "type": "txt", "body": {"msg": "anybody?"}})).await;

    // Custom attributes.
    let attributes = |user: &str| format!("/metadata/chatroom/{r1}/user/{user}");
    let forced = |user: &str| format!("/metadata/chatroom/{r1}/user/{user}/forced");
    s.put("cat", &attributes("cat"), json!({"metaData": {"topic": "cats", "mood": "happy"}})).await;
    s.put("dan", &attributes("dan"), json!({"metaData": {"topic": "dogs", "snack": "bone"}})).await;
    s.put("dan", &attributes("cat"), json!({"metaData": {"mood": "sad"}})).await;
    s.put("ivy", &attributes("ivy"), json!({"metaData": {"a": "1"}})).await;
    s.put("cat", &attributes("cat"), json!({"metaData": {}})).await;
    s.put("cat", &attributes("cat"), json!({"metaData": {"a": "1"}, "autoDelete": "MAYBE"})).await;
    s.put("cat", &attributes("cat"), json!({})).await;
    s.put("bob", &forced("bob"), json!({"metaData": {"topic": "birds"}, "autoDelete": "NO_DELETE"})).await;
    s.put("cat", &forced("cat"), json!({"metaData": {"topic": "cats again"}})).await;
    s.put("app", &forced("admin"), json!({"metaData": {"banner": "welcome"}})).await;
    s.post("cat", &format!("/metadata/chatroom/{r1}"), json!({"keys": []})).await;
    s.post("app", &format!("/metadata/chatroom/{r1}"), json!({"keys": ["topic", "nope"]})).await;
    s.post("ivy", &format!("/metadata/chatroom/{r1}"), json!({})).await;
    s.post("app", &format!("/metadata/chatroom/{UNKNOWN}"), json!({})).await;
    s.delete_with("cat", &attributes("cat"), json!({"keys": ["mood", "topic"]})).await;
    s.delete_with("dan", &attributes("cat"), json!({"keys": ["mood"]})).await;
    s.delete_with("cat", &attributes("cat"), json!({})).await;
    s.delete_with("cat", &attributes("cat"), json!({"keys": []})).await;
    s.delete_with("ann", &forced("ann"), json!({"keys": ["topic", "snack"]})).await;
    s.delete_with("cat", &forced("cat"), json!({"keys": ["banner"]})).await;
    s.post("cat", &format!("/metadata/chatroom/{r1}"), json!({})).await;

    // Delivery settings (Qun's own).
    s.get("app", "/chatrooms/delivery").await;
    s.get("cat", "/chatrooms/delivery").await;
    s.put("app", "/chatrooms/delivery", json!({"history_size": 50})).await;
    s.put("app", "/chatrooms/delivery", json!({"history_size": 100000})).await;
    s.put("cat", "/chatrooms/delivery", json!({"history_size": 20})).await;
    s.raw("app", Method::PUT, "/chatrooms/delivery", r#"{"history_size": "big"}"#).await;
    s.get("ann", &format!("/chatrooms/{r1}/delivery")).await;
    s.get("cat", &format!("/chatrooms/{r1}/delivery")).await;
    s.get("app", &format!("/chatrooms/{UNKNOWN}/delivery")).await;
    s.put("bob", &format!("/chatrooms/{r1}/delivery"), json!({"history_enabled": false, "rate_limit": 5})).await;
    s.put("cat", &format!("/chatrooms/{r1}/delivery"), json!({"rate_limit": 1})).await;
    s.put("app", &format!("/chatrooms/{r1}/delivery"), json!({"rate_limit": 0})).await;
    s.put("app", &format!("/chatrooms/{r2}/delivery"), json!({})).await;
    s.get("app", &format!("/chatrooms/{r1}/delivery")).await;

    // Lists of rooms.
    s.get("cat", "/chatrooms").await;
    let reply = s.get("app", "/chatrooms?limit=1").await;
    let cursor = text(&reply["cursor"]);
    s.get("app", &format!("/chatrooms?limit=1&cursor={cursor}")).await;
    s.get("app", "/chatrooms?pagenum=1&pagesize=1").await;
    s.get("none", "/chatrooms").await;
    s.get("app", "/chatrooms?limit=0").await;
    s.get("app", "/chatrooms?cursor=abc").await;
    s.get("cat", "/users/cat/joined_chatrooms").await;
    s.get("app", "/users/cat/joined_chatrooms?pagenum=1&pagesize=10&detail=true").await;
    s.get("dan", "/users/cat/joined_chatrooms").await;
    s.get("cat", "/users/cat/joined_chatrooms?pagesize=0").await;

    // Destruction.
    s.delete("bob", &format!("/chatrooms/{r1}")).await;
    s.delete("ann", &format!("/chatrooms/{r1}")).await;
    s.delete("app", &format!("/chatrooms/{r1}")).await;
    s.delete("app", &format!("/chatrooms/{r2}?version=v3")).await;
    s.get("app", &format!("/chatrooms/{r1}")).await;
}

/// A string field of a reply the script goes on with (an id, a cursor).
fn text(value: &Value) -> String {
    value.as_str().unwrap_or_else(|| panic!("expected a string, got {value}")).to_owned()
}

// ------------------------------------------------------------------------ the script runner

/// What a call sends.
enum Body {
    None,
    Json(Value),
    /// Sent as is, as JSON: for malformed bodies.
    Raw(&'static str),
    /// A multipart upload with one part `file`.
    File {
        name: &'static str,
        bytes: &'static [u8],
    },
}

/// One call, redacted and rendered.
struct Record {
    method: String,
    /// The path without its query, as sent (for the coverage check).
    path: String,
    status: u16,
    text: String,
}

struct Script<'a> {
    server: &'a TestServer,
    tokens: HashMap<&'static str, String>,
    redactor: Redactor,
    records: Vec<Record>,
}

const USERS: &[&str] = &["ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "joe"];

impl<'a> Script<'a> {
    /// Registers the users and logs each in (not recorded: not group or room calls).
    async fn new(server: &'a TestServer) -> Script<'a> {
        server.users(USERS).await;
        let mut tokens = HashMap::new();
        for user in USERS {
            tokens.insert(*user, server.login(user).await);
        }
        Script { server, tokens, redactor: Redactor::new(server.address.to_string()), records: Vec::new() }
    }

    async fn get(&mut self, who: &str, path: &str) -> Value {
        self.call(who, Method::GET, path, Body::None).await
    }

    async fn post(&mut self, who: &str, path: &str, body: Value) -> Value {
        self.call(who, Method::POST, path, Body::Json(body)).await
    }

    async fn post_empty(&mut self, who: &str, path: &str) -> Value {
        self.call(who, Method::POST, path, Body::None).await
    }

    async fn put(&mut self, who: &str, path: &str, body: Value) -> Value {
        self.call(who, Method::PUT, path, Body::Json(body)).await
    }

    async fn delete(&mut self, who: &str, path: &str) -> Value {
        self.call(who, Method::DELETE, path, Body::None).await
    }

    async fn delete_with(&mut self, who: &str, path: &str, body: Value) -> Value {
        self.call(who, Method::DELETE, path, Body::Json(body)).await
    }

    async fn raw(&mut self, who: &str, method: Method, path: &str, body: &'static str) -> Value {
        self.call(who, method, path, Body::Raw(body)).await
    }

    async fn upload(&mut self, who: &str, path: &str, name: &'static str, bytes: &'static [u8]) -> Value {
        self.call(who, Method::POST, path, Body::File { name, bytes }).await
    }

    /// Makes the call as `who` (a user, `app`, `none` for no token, `bad` for a token that is
    /// not one), records it, and returns the reply's JSON (`Null` if it is not JSON).
    async fn call(&mut self, who: &str, method: Method, path: &str, body: Body) -> Value {
        let mut request = self.server.client.request(method.clone(), self.server.url(path));
        let token = match who {
            "app" => Some(self.server.app_token.clone()),
            "none" => None,
            "bad" => Some("not-a-token".to_owned()),
            user => Some(self.tokens.get(user).unwrap_or_else(|| panic!("no user {user}")).clone()),
        };
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let mut record = format!("### {} {} [as {who}]\n", method.as_str(), self.redactor.text(path));
        match body {
            Body::None => {}
            Body::Json(value) => {
                let _ = writeln!(record, "> {}", self.redactor.node(None, &value).compact());
                request = request.json(&value);
            }
            Body::Raw(text) => {
                let _ = writeln!(record, "> {text}");
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(text);
            }
            Body::File { name, bytes } => {
                let _ = writeln!(record, "> multipart: file {name:?}, {} bytes", bytes.len());
                request = request.multipart(Form::new().part("file", Part::bytes(bytes).file_name(name)));
            }
        }
        let response = request.send().await.unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status().as_u16();
        let reply = response.text().await.unwrap_or_else(|error| panic!("{method} {path}: reply: {error}"));
        let _ = writeln!(record, "< {status}");
        let json = serde_json::from_str::<Value>(&reply).ok();
        match &json {
            Some(value) => record.push_str(&self.redactor.node(None, value).pretty()),
            None if reply.is_empty() => record.push_str("(empty body)"),
            None => {
                let _ = write!(record, "text: {}", quoted(&self.redactor.text(&reply)));
            }
        }
        record.push('\n');
        self.records.push(Record {
            method: method.as_str().to_owned(),
            path: path.split('?').next().unwrap_or(path).to_owned(),
            status,
            text: record,
        });
        tokio::time::sleep(PAUSE).await;
        json.unwrap_or(Value::Null)
    }

    fn transcript(&self) -> String {
        let mut transcript = String::from(PREAMBLE);
        for record in &self.records {
            transcript.push('\n');
            transcript.push_str(&record.text);
        }
        transcript
    }

    /// Every route of [`ROUTES`] answered at least once with success and once with a refusal,
    /// and every call was to one of them.
    fn check_coverage(&self) {
        let mut seen: BTreeMap<(&str, &str), (usize, usize)> =
            ROUTES.iter().map(|&(method, route)| ((method, route), (0, 0))).collect();
        for record in &self.records {
            let route = route_of(&record.method, &record.path)
                .unwrap_or_else(|| panic!("{} {} is not in ROUTES", record.method, record.path));
            let counts = seen.get_mut(&(record.method.as_str(), route)).expect("route");
            if (200..300).contains(&record.status) {
                counts.0 += 1;
            } else {
                counts.1 += 1;
            }
        }
        let missing: Vec<String> = seen
            .iter()
            .filter(|(_, (ok, refused))| *ok == 0 || *refused == 0)
            .map(|((method, route), (ok, refused))| format!("{method} {route}: {ok} successes, {refused} refusals"))
            .collect();
        assert!(missing.is_empty(), "routes not covered both ways:\n{}", missing.join("\n"));
    }
}

/// The route of [`ROUTES`] a call went to: the one whose literal segments match, preferring
/// the most literal segments, as the router prefers static segments.
fn route_of(method: &str, path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    ROUTES
        .iter()
        .filter(|(route_method, _)| *route_method == method)
        .filter_map(|(_, route)| {
            let parts: Vec<&str> = route.split('/').collect();
            let matches = parts.len() == segments.len()
                && parts.iter().zip(&segments).all(|(part, segment)| *part == "{}" || part == segment);
            matches.then(|| (parts.iter().filter(|part| **part != "{}").count(), *route))
        })
        .max_by_key(|(literal, _)| *literal)
        .map(|(_, route)| route)
}

// ------------------------------------------------------------------------ redaction

/// A redacted JSON value, ready to print with sorted keys.
enum Node {
    Null,
    Bool(bool),
    Number(String),
    /// A redacted number, printed bare: `<time>`, `<id#3>`.
    Placeholder(String),
    Text(String),
    List(Vec<Node>),
    /// Sorted by key.
    Map(Vec<(String, Node)>),
}

/// Replaces what changes from run to run (see the module docs), numbering ids as they appear.
struct Redactor {
    ids: HashMap<String, usize>,
    host: String,
}

/// Fewest digits of a generated id (a snowflake since 2024 has 17 or more).
const ID_MIN_DIGITS: usize = 16;

impl Redactor {
    fn new(host: String) -> Redactor {
        Redactor { ids: HashMap::new(), host }
    }

    fn id(&mut self, digits: &str) -> String {
        let next = self.ids.len() + 1;
        format!("<id#{}>", self.ids.entry(digits.to_owned()).or_insert(next))
    }

    /// A string with the host and every id in it replaced.
    fn text(&mut self, text: &str) -> String {
        let text = text.replace(&self.host, "<host>");
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find(|c: char| c.is_ascii_digit()) {
            out.push_str(&rest[..start]);
            let run = &rest[start..];
            let end = run.find(|c: char| !c.is_ascii_digit()).unwrap_or(run.len());
            let digits = &run[..end];
            if digits.len() >= ID_MIN_DIGITS {
                let id = self.id(digits);
                out.push_str(&id);
            } else {
                out.push_str(digits);
            }
            rest = &run[end..];
        }
        out.push_str(rest);
        out
    }

    fn node(&mut self, key: Option<&str>, value: &Value) -> Node {
        match (key, value) {
            (Some("timestamp" | "duration"), Value::Number(_)) => Node::Placeholder("<time>".into()),
            (Some("timestamp" | "duration"), Value::String(_)) => Node::Text("<time>".into()),
            (Some("application"), Value::String(_)) => Node::Text("<uuid>".into()),
            (Some("access_token"), Value::String(_)) => Node::Text("<token>".into()),
            (Some("msgs"), Value::Array(items)) => Node::List(
                items
                    .iter()
                    .map(|item| match item.as_object() {
                        Some(fields) => self.map(fields, |key| key == "msg"),
                        None => self.node(None, item),
                    })
                    .collect(),
            ),
            (_, Value::Null) => Node::Null,
            (_, Value::Bool(b)) => Node::Bool(*b),
            (_, Value::Number(n)) => {
                let digits = n.to_string();
                if digits.len() >= ID_MIN_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Node::Placeholder(self.id(&digits))
                } else if n.as_u64().is_some_and(is_epoch_ms) {
                    Node::Placeholder("<time>".into())
                } else {
                    Node::Number(digits)
                }
            }
            (_, Value::String(s)) => {
                if s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok_and(is_epoch_ms) {
                    Node::Text("<time>".into())
                } else {
                    Node::Text(self.text(s))
                }
            }
            (_, Value::Array(items)) => Node::List(items.iter().map(|item| self.node(None, item)).collect()),
            (_, Value::Object(fields)) => self.map(fields, |_| false),
        }
    }

    /// An object's fields, redacted in the order of their keys (so ids are numbered the same
    /// way every run) and sorted by their redacted keys. `opaque` names fields whose value is
    /// replaced by `<meta>` (a history page's base64 protobuf).
    fn map(&mut self, fields: &serde_json::Map<String, Value>, opaque: impl Fn(&str) -> bool) -> Node {
        let mut keys: Vec<&String> = fields.keys().collect();
        keys.sort();
        let mut entries: Vec<(String, Node)> = keys
            .into_iter()
            .map(|key| {
                let redacted_key = self.text(key);
                let node = if opaque(key) { Node::Text("<meta>".into()) } else { self.node(Some(key), &fields[key]) };
                (redacted_key, node)
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        Node::Map(entries)
    }
}

/// Milliseconds since the epoch in a plausible range (2001 to 2286): 13 digits.
fn is_epoch_ms(n: u64) -> bool {
    (1_000_000_000_000..10_000_000_000_000).contains(&n)
}

fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serializes")
}

impl Node {
    /// Pretty, two spaces per level, as `serde_json::to_string_pretty` would.
    fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out
    }

    /// On one line, for requests.
    fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>) {
        let newline = |out: &mut String, level: usize| {
            out.push('\n');
            out.push_str(&"  ".repeat(level));
        };
        match self {
            Node::Null => out.push_str("null"),
            Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Node::Number(n) | Node::Placeholder(n) => out.push_str(n),
            Node::Text(s) => out.push_str(&quoted(s)),
            Node::List(items) if items.is_empty() => out.push_str("[]"),
            Node::Map(entries) if entries.is_empty() => out.push_str("{}"),
            Node::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Some(level) = indent {
                        newline(out, level + 1);
                    }
                    item.write(out, indent.map(|level| level + 1));
                }
                if let Some(level) = indent {
                    newline(out, level);
                }
                out.push(']');
            }
            Node::Map(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    if let Some(level) = indent {
                        newline(out, level + 1);
                    }
                    out.push_str(&quoted(key));
                    out.push(':');
                    if indent.is_some() {
                        out.push(' ');
                    }
                    value.write(out, indent.map(|level| level + 1));
                }
                if let Some(level) = indent {
                    newline(out, level);
                }
                out.push('}');
            }
        }
    }
}

// ------------------------------------------------------------------------ comparison

/// How many differing records a failure shows.
const SHOWN_DIFFERENCES: usize = 3;

/// The records of a transcript: the preamble, then one per `### ` header.
fn records(transcript: &str) -> Vec<String> {
    let mut records = vec![String::new()];
    for line in transcript.split_inclusive('\n') {
        if line.starts_with("### ") {
            records.push(String::new());
        }
        records.last_mut().expect("one record at least").push_str(line);
    }
    records
}

/// A readable account of how `actual` differs from `golden`: the first differing records, each
/// as a line diff.
fn differences(golden: &str, actual: &str) -> String {
    let (expected, got) = (records(golden), records(actual));
    let mut report = format!(
        "the replies differ from {GOLDEN} ({} calls recorded there, {} now).\n\
         If the change is intended, regenerate the file with\n    \
         {UPDATE_VARIABLE}=1 cargo test -p qun-server --test it replies\n\
         and review its diff. First differing records (- golden, + now):\n",
        expected.len() - 1,
        got.len() - 1
    );
    let differing: Vec<usize> =
        (0..expected.len().max(got.len())).filter(|&i| expected.get(i) != got.get(i)).take(SHOWN_DIFFERENCES).collect();
    for i in differing {
        let label = if i == 0 { "the preamble".to_owned() } else { format!("record {i}") };
        let _ = writeln!(report, "\n--- {label}");
        let old = expected.get(i).map(String::as_str).unwrap_or("");
        let new = got.get(i).map(String::as_str).unwrap_or("");
        report.push_str(&line_diff(old, new));
    }
    report
}

/// A line diff by longest common subsequence: ` ` kept, `-` only in `old`, `+` only in `new`.
fn line_diff(old: &str, new: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (old.lines().collect(), new.lines().collect());
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] { common[i + 1][j + 1] + 1 } else { common[i + 1][j].max(common[i][j + 1]) };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            (i, j) = (i + 1, j + 1);
        } else if i < a.len() && (j == b.len() || common[i + 1][j] >= common[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    out
}

#[test]
fn redaction_numbers_ids_and_hides_times() {
    let mut redactor = Redactor::new("127.0.0.1:4000".to_owned());
    let reply = json!({
        "path": "/chatgroups/290000000000000001/users",
        "data": {"groupid": "290000000000000001", "created": 1_760_000_000_000_i64, "expire": -1,
            "lastModified": "1760000000000", "file_url": "http://127.0.0.1:4000/x/290000000000000002"},
        "count": 2, "timestamp": 1_760_000_000_000_i64, "application": "8be024f0-0000-0000-0000-000000000000",
        "cursor": 290_000_000_000_000_002_u64,
    });
    let text = redactor.node(None, &reply).compact();
    assert_eq!(
        text,
        r#"{"application":"<uuid>","count":2,"cursor":<id#1>,"data":{"created":<time>,"expire":-1,"file_url":"http://<host>/x/<id#1>","groupid":"<id#2>","lastModified":"<time>"},"path":"/chatgroups/<id#2>/users","timestamp":<time>}"#
    );
}

#[test]
fn line_diffs_mark_what_changed() {
    assert_eq!(line_diff("a\nb\nc\n", "a\nx\nc\n"), "  a\n- b\n+ x\n  c\n");
    assert_eq!(records("pre\n### one\nx\n### two\n"), vec!["pre\n", "### one\nx\n", "### two\n"]);
}
