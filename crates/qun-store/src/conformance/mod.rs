//! The conformance suite: what every [`Store`](crate::Store) must do, written once and run on
//! each backend.
//!
//! Each behaviour is a `pub async fn(&dyn Store)` in the module of its area (as the store's
//! traits are split); [`store_conformance_suite!`](crate::store_conformance_suite) expands one
//! `#[tokio::test]` per behaviour for a backend (the quickwit pattern). A test gets a fresh,
//! empty store from the constructor it is given, so tests never share state.
//!
//! Not for production code: the functions panic when the store misbehaves.

pub mod apps;
pub mod contacts;
pub mod conversations;
pub mod cursors;
pub mod groups;
pub mod messages;
pub mod receipts;
pub mod rooms;
pub mod users;

mod support;

/// Expands the conformance suite into `#[tokio::test]`s in the current module.
///
/// `$make_store` is an expression of a future that yields `Option<S>`, where `S` dereferences
/// to a `Store` (an `Arc<dyn Store>`, or a fixture that also keeps a temporary directory
/// alive). `None` skips the test (a backend that is not configured here); it is evaluated
/// afresh for each test. The calling crate needs `tokio` with the `macros` and `rt` features.
#[macro_export]
macro_rules! store_conformance_suite {
    ($make_store:expr) => {
        $crate::store_conformance_suite!(@tests $make_store;
            apps: [
                ensure_app_is_idempotent,
            ],
            users: [
                create_users_reports_each_taken_name,
                users_page_is_in_byte_order,
                set_password_revokes_tokens,
                deactivation_revokes_tokens,
                tokens_expire,
            ],
            groups: [
                create_group_stores_its_change,
                snapshot_reports_each_standing,
                stale_version_conflicts_and_changes_nothing,
                failed_change_changes_nothing,
                concurrent_changes_one_wins,
                member_counts_follow_joins_leaves_and_roles,
                members_page_is_newest_joined_first,
                groups_page_is_newest_first,
                user_groups_are_newest_joined_first,
                mute_list_leaves_out_expired_mutes,
                requests_are_replaced_deleted_and_cleared_by_joining,
                shared_files,
                member_attributes_are_set_deleted_and_read_by_key,
                blocklist_allowlist_and_group_switches,
                group_events_take_consecutive_sequence_numbers,
                user_events_go_to_named_users_only,
                dissolving_removes_everything,
                delete_user_keeps_groups_consistent,
            ],
            messages: [
                receipts_join_the_personal_queue_in_id_order,
                messages_share_the_group_sequence_with_events,
                group_messages_do_not_bump_the_version,
                a_batch_of_500_messages_takes_consecutive_sequences,
                a_batch_across_300_chats_numbers_each_chat_on_its_own,
                concurrent_batches_take_distinct_sequences,
                repeated_client_ids_are_stored_once,
                a_missing_group_fails_only_its_slot,
                chat_conversations_are_named_alike_from_both_sides,
                timelines_and_history_page,
                recalls_and_edits_replace_messages_and_append_notices,
                history_pages_read_both_ways_within_a_range,
            ],
            conversations: [
                conversation_heads_come_from_memberships_and_timelines,
                conversation_changes_are_per_user_and_never_go_back,
                history_removals_are_per_user_and_capped,
            ],
            cursors: [
                user_queues_list_every_queue_with_the_device_cursor,
                cursors_advance_monotonically_per_device,
                a_batch_of_cursors_advances_each_monotonically,
                dissolving_removes_the_groups_cursors,
                delete_user_drops_cursors_and_client_ids_but_keeps_conversations,
                marking_a_queue_read_moves_every_device_to_its_head,
            ],
            receipts: [
                group_message_finds_messages_of_that_group_only,
                group_acks_count_readers_once_and_notify_the_sender,
                group_readers_page_in_reading_order,
                group_acks_go_with_the_window_and_the_group,
            ],
            rooms: [
                create_room_stores_its_members,
                room_snapshot_reports_each_standing,
                stale_room_version_conflicts_and_a_failed_change_changes_nothing,
                concurrent_room_changes_one_wins,
                room_counts_follow_presence_and_admins,
                room_members_page_is_newest_joined_first_and_marks_the_allowlisted,
                rooms_page_and_user_rooms_are_newest_first,
                room_lists_switches_and_settings,
                room_delivery_settings_and_presences,
                room_attributes_are_written_replaced_and_deleted,
                destroying_a_room_removes_everything,
                room_super_admins_are_per_app_users,
                delete_user_leaves_rooms_consistent,
            ],
            contacts: [
                requests_become_mutual_contacts_with_remarks,
                blocklists_are_one_way_and_skip_unknown_users,
                deleting_a_user_takes_their_contacts_blocks_requests_and_attributes,
                user_metadata_merges_within_the_size_limit,
            ],
        );
    };
    (@tests $make_store:expr; $($area:ident: [$($behaviour:ident),* $(,)?]),* $(,)?) => {
        $($(
            #[tokio::test]
            async fn $behaviour() {
                let Some(store) = $make_store.await else { return };
                $crate::conformance::$area::$behaviour(&*store).await;
            }
        )*)*
    };
}

#[cfg(test)]
mod sqlite {
    /// A store in a temporary directory that lives as long as the test.
    struct SqliteFixture {
        store: crate::SqliteStore,
        _directory: tempfile::TempDir,
    }

    impl std::ops::Deref for SqliteFixture {
        type Target = crate::SqliteStore;
        fn deref(&self) -> &crate::SqliteStore {
            &self.store
        }
    }

    async fn sqlite_store() -> Option<SqliteFixture> {
        let directory = tempfile::tempdir().expect("temporary directory");
        let url = crate::testing::fresh_sqlite_url(directory.path()).await;
        let store = crate::SqliteStore::open(&url).await.expect("open sqlite");
        Some(SqliteFixture { store, _directory: directory })
    }

    crate::store_conformance_suite!(sqlite_store());
}

#[cfg(test)]
mod postgres {
    async fn postgres_store() -> Option<Box<crate::PostgresStore>> {
        let server = crate::testing::postgres_test_url()?;
        let url = crate::testing::fresh_postgres_database(&server).await;
        Some(Box::new(crate::PostgresStore::connect(&url).await.expect("connect postgres")))
    }

    crate::store_conformance_suite!(postgres_store());
}
