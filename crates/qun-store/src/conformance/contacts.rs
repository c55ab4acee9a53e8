//! Contacts, friend requests, users' blocklists and user attributes.

use super::support::*;
use crate::prelude::*;
use crate::{ContactCounts, ContactRecord, ContactStanding, UserMetadataUpdate};

pub async fn requests_become_mutual_contacts_with_remarks(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob", "carol"]).await;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));

    store.put_contact_request(app_id, &alice, &bob, "hi", NOW).await.expect("request");
    store.put_contact_request(app_id, &alice, &bob, "hi again", NOW + 1).await.expect("repeated request");
    store.put_contact_request(app_id, &bob, &alice, "you too", NOW).await.expect("request back");
    let standing = store.contact_standing(app_id, &bob, &alice).await.expect("standing");
    assert_eq!(
        standing,
        ContactStanding { peer_exists: true, request_from_peer: true, request_to_peer: true, ..Default::default() }
    );
    assert_eq!(store.contact_counts(app_id, &alice).await.expect("counts").requests_sent, 1, "a repeat replaces");

    assert!(store.add_contacts(app_id, &bob, &alice, NOW + 2).await.expect("accept"));
    assert!(!store.add_contacts(app_id, &alice, &bob, NOW + 3).await.expect("again"), "already contacts");
    for (one, other) in [(&alice, &bob), (&bob, &alice)] {
        let standing = store.contact_standing(app_id, one, other).await.expect("standing");
        assert_eq!(
            standing,
            ContactStanding { peer_exists: true, contacts: true, ..Default::default() },
            "requests both ways are gone"
        );
    }
    assert_eq!(
        store.contact_counts(app_id, &alice).await.expect("counts"),
        ContactCounts { contacts: 1, requests_sent: 0, blocked: 0 }
    );

    assert!(store.set_contact_remark(app_id, &alice, &bob, "Bobby").await.expect("remark"));
    assert!(!store.set_contact_remark(app_id, &alice, &carol, "no").await.expect("remark"), "not a contact");
    store.add_contacts(app_id, &alice, &carol, NOW).await.expect("add");
    let page = store.contacts_page(app_id, &alice, None, 10).await.expect("contacts");
    assert_eq!(
        page,
        [
            ContactRecord { name: bob.clone(), remark: "Bobby".into() },
            ContactRecord { name: carol.clone(), remark: String::new() }
        ]
    );
    let after_bob = store.contacts_page(app_id, &alice, Some(&bob), 10).await.expect("contacts");
    assert_eq!(names(after_bob.iter().map(|c| &c.name)), ["carol"]);
    // The remark is the owner's: bob's row on alice has none.
    assert_eq!(store.contacts_page(app_id, &bob, None, 10).await.expect("contacts")[0].remark, "");

    assert!(store.remove_contacts(app_id, &bob, &alice).await.expect("remove"));
    assert!(!store.remove_contacts(app_id, &alice, &bob).await.expect("remove again"));
    assert_eq!(
        names(store.contacts_page(app_id, &alice, None, 10).await.expect("contacts").iter().map(|c| &c.name)),
        ["carol"]
    );
    assert!(store.contacts_page(app_id, &bob, None, 10).await.expect("contacts").is_empty(), "both sides go");

    store.put_contact_request(app_id, &carol, &bob, "", NOW).await.expect("request");
    assert!(store.remove_contact_request(app_id, &carol, &bob).await.expect("decline"));
    assert!(!store.remove_contact_request(app_id, &carol, &bob).await.expect("decline again"));
}

pub async fn blocklists_are_one_way_and_skip_unknown_users(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob", "carol", "dave"]).await;
    let (alice, bob) = (user("alice"), user("bob"));

    let blocked =
        store.block_users(app_id, &alice, &users(&["dave", "nobody", "bob", "bob"]), NOW).await.expect("block");
    assert_eq!(names(&blocked), ["dave", "bob"]);
    let again = store.block_users(app_id, &alice, &users(&["bob"]), NOW + 1).await.expect("block again");
    assert_eq!(names(&again), ["bob"], "already blocked users are reported as blocked");
    assert_eq!(names(&store.user_blocklist(app_id, &alice, None, 10).await.expect("list")), ["bob", "dave"]);
    assert_eq!(names(&store.user_blocklist(app_id, &alice, None, 1).await.expect("list")), ["bob"]);
    assert_eq!(names(&store.user_blocklist(app_id, &alice, Some(&bob), 10).await.expect("list")), ["dave"]);
    assert!(store.user_blocklist(app_id, &bob, None, 10).await.expect("list").is_empty(), "one way");

    let standing = store.contact_standing(app_id, &bob, &alice).await.expect("standing");
    assert_eq!(standing, ContactStanding { peer_exists: true, blocked_by_peer: true, ..Default::default() });
    let nobody = store.contact_standing(app_id, &alice, &user("nobody")).await.expect("standing");
    assert_eq!(nobody, ContactStanding::default(), "a peer who is not a user");
    assert!(store.contact_standing(app_id, &alice, &bob).await.expect("standing").blocks_peer);
    assert_eq!(store.contact_counts(app_id, &alice).await.expect("counts").blocked, 2);

    let removed = store.unblock_users(app_id, &alice, &users(&["bob", "carol"])).await.expect("unblock");
    assert_eq!(names(&removed), ["bob"]);
    assert_eq!(names(&store.user_blocklist(app_id, &alice, None, 10).await.expect("list")), ["dave"]);
}

pub async fn deleting_a_user_takes_their_contacts_blocks_requests_and_attributes(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob", "carol"]).await;
    let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
    store.add_contacts(app_id, &alice, &bob, NOW).await.expect("add");
    store.add_contacts(app_id, &carol, &bob, NOW).await.expect("add");
    store.put_contact_request(app_id, &bob, &carol, "", NOW).await.expect("request");
    store.put_contact_request(app_id, &alice, &bob, "", NOW).await.expect("request");
    store.block_users(app_id, &alice, &users(&["bob"]), NOW).await.expect("block");
    store.block_users(app_id, &bob, &users(&["carol"]), NOW).await.expect("block");
    store.set_user_metadata(app_id, &bob, &[("nickname".into(), "B".into())], 2048).await.expect("metadata");

    store.delete_user(app_id, &bob).await.expect("delete").expect("bob existed");
    assert!(store.contacts_page(app_id, &alice, None, 10).await.expect("contacts").is_empty());
    assert!(store.contacts_page(app_id, &carol, None, 10).await.expect("contacts").is_empty());
    assert!(store.user_blocklist(app_id, &alice, None, 10).await.expect("list").is_empty());
    assert_eq!(store.contact_counts(app_id, &alice).await.expect("counts"), ContactCounts::default());
    // A user of the same name starts with nothing.
    register(store, app_id, &["bob"]).await;
    assert_eq!(
        store.contact_standing(app_id, &bob, &carol).await.expect("standing"),
        ContactStanding { peer_exists: true, ..Default::default() }
    );
    assert!(store.user_metadata(app_id, &[bob]).await.expect("metadata").is_empty());
}

pub async fn user_metadata_merges_within_the_size_limit(store: &dyn Store) {
    let app_id = app(store).await;
    register(store, app_id, &["alice", "bob"]).await;
    let (alice, bob) = (user("alice"), user("bob"));
    let set = |entries: &[(&str, &str)], max| {
        let entries: Vec<(String, String)> = entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let alice = alice.clone();
        async move { store.set_user_metadata(app_id, &alice, &entries, max).await.expect("set_user_metadata") }
    };
    let pairs = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };

    assert_eq!(
        set(&[("nickname", "Al"), ("sign", "hi")], 100).await,
        UserMetadataUpdate::Updated(pairs(&[("nickname", "Al"), ("sign", "hi")]))
    );
    // Other keys stay; a key set again is replaced.
    assert_eq!(
        set(&[("nickname", "Alice")], 100).await,
        UserMetadataUpdate::Updated(pairs(&[("nickname", "Alice"), ("sign", "hi")]))
    );
    // 8 + 5 + 4 + 2 = 19 bytes now; a change to 20 passes a limit of 20, one to 21 changes nothing.
    assert!(matches!(set(&[("sign", "hi!")], 20).await, UserMetadataUpdate::Updated(_)));
    assert_eq!(set(&[("sign", "hi!!"), ("mail", "")], 20).await, UserMetadataUpdate::TooLarge);
    let stored = store.user_metadata(app_id, &[bob.clone(), alice.clone()]).await.expect("user_metadata");
    assert_eq!(
        stored,
        [
            (alice.clone(), "nickname".to_owned(), "Alice".to_owned()),
            (alice.clone(), "sign".to_owned(), "hi!".to_owned())
        ]
    );
    // Bytes, not characters: "hé!" is three characters, four bytes.
    assert_eq!(set(&[("sign", "hé!")], 20).await, UserMetadataUpdate::TooLarge);

    let nobody = store.set_user_metadata(app_id, &user("nobody"), &pairs(&[("a", "b")]), 100).await.expect("set");
    assert_eq!(nobody, UserMetadataUpdate::NoSuchUser);

    assert!(store.delete_user_metadata(app_id, &alice).await.expect("delete"));
    assert!(!store.delete_user_metadata(app_id, &alice).await.expect("delete again"));
    assert!(store.user_metadata(app_id, &[alice]).await.expect("user_metadata").is_empty());
}
