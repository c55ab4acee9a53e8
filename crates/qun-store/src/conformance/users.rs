//! Users and tokens: creation per name, pages in byte order, revocation, expiry.

use super::support::*;
use crate::StoreError;
use crate::prelude::*;

pub async fn create_users_reports_each_taken_name(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice"]).await;

    let batch = [new_user("bob"), new_user("alice"), new_user("carol"), new_user("bob")];
    let results = store.create_users(app_id, &batch).await.expect("create_users");
    assert_eq!(results.len(), 4);
    let bob = results[0].as_ref().expect("bob is new");
    assert_eq!((bob.name.as_str(), bob.uuid.as_str(), bob.nickname.as_str()), ("bob", "uuid-bob", "nick bob"));
    assert!(bob.activated);
    assert!(matches!(results[1], Err(StoreError::AlreadyExists)), "alice was taken");
    assert!(results[2].is_ok(), "carol is new");
    assert!(matches!(results[3], Err(StoreError::AlreadyExists)), "bob was taken earlier in the batch");

    assert_eq!(store.user(app_id, &user("bob")).await.expect("user").as_ref(), Some(bob));
    assert!(store.user(app_id, &user("carol")).await.expect("user").is_some());
    assert_eq!(store.user(app_id, &user("dave")).await.expect("user"), None);
    // The first alice is untouched.
    assert_eq!(store.user(app_id, &user("alice")).await.expect("user").expect("alice").nickname, "nick alice");

    // Names are per app.
    let other_app = store.ensure_app(&new_app("other")).await.expect("ensure_app").id;
    let results = store.create_users(other_app, &[new_user("alice")]).await.expect("create_users");
    assert!(results[0].is_ok());
    assert_eq!(store.user(other_app, &user("bob")).await.expect("user"), None);
}

pub async fn users_page_is_in_byte_order(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["carol", "a_b", "alice", "a0", "a.b", "bob", "a-b"]).await;
    let page = |after: Option<&'static str>, limit| async move {
        let after = after.map(user);
        names(store.users_page(app_id, after.as_ref(), limit).await.expect("users_page").iter().map(|u| &u.name))
    };
    assert_eq!(page(None, 3).await, ["a-b", "a.b", "a0"]);
    assert_eq!(page(Some("a0"), 3).await, ["a_b", "alice", "bob"]);
    assert_eq!(page(Some("bob"), 3).await, ["carol"]);
    assert!(page(Some("carol"), 3).await.is_empty());
}

pub async fn set_password_revokes_tokens(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    insert_token(store, token(app_id, b"alice-1", Some("alice"), None)).await;
    insert_token(store, token(app_id, b"alice-2", Some("alice"), Some(NOW + 60_000))).await;
    insert_token(store, token(app_id, b"bob-1", Some("bob"), None)).await;
    insert_token(store, token(app_id, b"app-1", None, None)).await;

    assert!(store.set_password(app_id, &user("alice"), "new-hash", NOW + 1).await.expect("set_password"));
    let alice = store.user(app_id, &user("alice")).await.expect("user").expect("alice");
    assert_eq!((alice.password_hash.as_str(), alice.modified_ms), ("new-hash", NOW + 1));
    assert_eq!(store.token(b"alice-1", NOW).await.expect("token"), None);
    assert_eq!(store.token(b"alice-2", NOW).await.expect("token"), None);
    assert!(store.token(b"bob-1", NOW).await.expect("token").is_some(), "other users keep theirs");
    assert!(store.token(b"app-1", NOW).await.expect("token").is_some(), "app tokens stay");

    assert!(!store.set_password(app_id, &user("nobody"), "x", NOW).await.expect("set_password"));
}

pub async fn deactivation_revokes_tokens(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    insert_token(store, token(app_id, b"alice-1", Some("alice"), None)).await;
    insert_token(store, token(app_id, b"bob-1", Some("bob"), None)).await;

    let active = store.set_activated(app_id, &user("alice"), true, NOW + 1).await.expect("set_activated");
    assert!(active.expect("alice").activated);
    assert!(store.token(b"alice-1", NOW).await.expect("token").is_some(), "activation revokes nothing");

    let inactive = store.set_activated(app_id, &user("alice"), false, NOW + 2).await.expect("set_activated");
    let inactive = inactive.expect("alice");
    assert_eq!((inactive.activated, inactive.modified_ms), (false, NOW + 2));
    assert!(!store.user(app_id, &user("alice")).await.expect("user").expect("alice").activated);
    assert_eq!(store.token(b"alice-1", NOW).await.expect("token"), None);
    assert!(store.token(b"bob-1", NOW).await.expect("token").is_some());

    store.set_activated(app_id, &user("alice"), true, NOW + 3).await.expect("set_activated");
    assert_eq!(store.token(b"alice-1", NOW).await.expect("token"), None, "tokens do not come back");
    assert_eq!(store.set_activated(app_id, &user("nobody"), false, NOW).await.expect("set_activated"), None);

    let renamed = store.set_nickname(app_id, &user("alice"), "Alice A.", NOW + 4).await.expect("set_nickname");
    let renamed = renamed.expect("alice");
    assert_eq!((renamed.nickname.as_str(), renamed.modified_ms, renamed.activated), ("Alice A.", NOW + 4, true));
    assert_eq!(store.user(app_id, &user("alice")).await.expect("user"), Some(renamed));
    assert_eq!(store.set_nickname(app_id, &user("nobody"), "x", NOW).await.expect("set_nickname"), None);
}

pub async fn tokens_expire(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice"]).await;
    let expiring = token(app_id, b"expiring", Some("alice"), Some(NOW + 1000));
    let forever = token(app_id, b"forever", Some("alice"), None);
    let app_token = token(app_id, b"app", None, Some(NOW + 10));
    for t in [&expiring, &forever, &app_token] {
        insert_token(store, t.clone()).await;
    }
    assert_eq!(store.token(b"expiring", NOW + 999).await.expect("token"), Some(expiring.clone()));
    assert_eq!(store.token(b"expiring", NOW + 1000).await.expect("token"), None);
    assert_eq!(store.token(b"forever", i64::MAX - 1).await.expect("token"), Some(forever));
    assert_eq!(store.token(b"app", NOW).await.expect("token"), Some(app_token));
    assert_eq!(store.token(b"unknown", NOW).await.expect("token"), None);
    assert!(matches!(store.insert_token(&expiring).await, Err(StoreError::AlreadyExists)));
}
