//! Apps: created once, found by key, settings and credentials replaced.

use super::support::*;
use crate::prelude::*;
use crate::{AppSettings, NewApp, StoreError};

pub async fn ensure_app_is_idempotent(store: &dyn Store) {
    let first = new_app("demo");
    let created = store.ensure_app(&first).await.expect("ensure_app");
    assert_eq!(
        (created.uuid.as_str(), created.org.as_str(), created.name.as_str(), &created.settings),
        (first.uuid.as_str(), "qun", "demo", &first.settings)
    );

    let again = NewApp {
        uuid: "another-uuid".into(),
        client_id: "another-client".into(),
        settings: AppSettings { open_registration: true, ..first.settings.clone() },
        ..first.clone()
    };
    assert_eq!(store.ensure_app(&again).await.expect("ensure_app again"), created, "returns the stored app");
    assert_eq!(store.app_by_key("qun", "demo").await.expect("app_by_key"), Some(created.clone()));
    assert_eq!(store.app_by_key("qun", "nope").await.expect("app_by_key"), None);
    assert_eq!(store.app_by_key("other", "demo").await.expect("app_by_key"), None);

    let second = store.ensure_app(&new_app("second")).await.expect("ensure_app second");
    assert_ne!(second.id, created.id);

    let settings = AppSettings { open_registration: true, rest_rate_limit_per_second: Some(100), ..first.settings };
    store.update_app_settings(created.id, &settings).await.expect("update_app_settings");
    let updated = store.app_by_key("qun", "demo").await.expect("app_by_key").expect("app");
    assert_eq!(updated.settings, settings);
    assert_eq!(store.app_by_key("qun", "second").await.expect("app_by_key"), Some(second.clone()));
    assert!(matches!(store.update_app_settings(second.id + 1000, &settings).await, Err(StoreError::NotFound)));

    // Credentials can be replaced; the app is found with the new ones.
    store.set_app_credentials(created.id, "new-id", b"new-hash").await.expect("set_app_credentials");
    let read = store.app_by_key("qun", "demo").await.expect("app_by_key").expect("the app");
    assert_eq!((read.client_id.as_str(), read.client_secret_hash.as_slice()), ("new-id", b"new-hash".as_slice()));
    assert!(matches!(store.set_app_credentials(second.id + 1000, "x", b"y").await, Err(StoreError::NotFound)));
}
