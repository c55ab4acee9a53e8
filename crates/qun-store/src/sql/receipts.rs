//! [`ReceiptStore`]: group read receipts. A receipt is one row per reader and message
//! (`group_acks`), never one per member: a group message costs the same writes whether or not
//! it asks for receipts, and each reader's receipt costs one transaction (its row, and the
//! notice for the message's sender among their personal items).

use async_trait::async_trait;
use qun_core::{GroupId, PersonalItem, UserName};

use super::SqlStore;
use super::dialect::Dialect;
use super::messages::insert_personal_item;
use super::rows::{TIMELINE_MESSAGE, TimelineRow, id_from_sql, sql_id, to_json};
use crate::{GroupAckOutcome, GroupReaders, NewGroupAck, ReceiptStore, StoreResult, TimelineEntry};

#[async_trait]
impl<D: Dialect> ReceiptStore for SqlStore<D> {
    async fn group_message(
        &self,
        app_id: i64,
        group_id: GroupId,
        message_id: u64,
    ) -> StoreResult<Option<TimelineEntry>> {
        let row: Option<TimelineRow> = D::query(concat!(
            "SELECT ",
            timeline_columns!(),
            " FROM group_timeline WHERE app_id = $1 AND id = $2 AND group_id = $3 AND kind = $4"
        ))
        .bind(app_id)
        .bind(sql_id(message_id))
        .bind(sql_id(group_id.0))
        .bind(TIMELINE_MESSAGE)
        .fetch_optional(&mut *self.read_conn().await?)
        .await?;
        row.map(TimelineEntry::try_from).transpose()
    }

    async fn add_group_ack(
        &self,
        app_id: i64,
        ack: &NewGroupAck,
        expired_before_ms: i64,
    ) -> StoreResult<GroupAckOutcome> {
        let mut tx = self.begin_write().await?;
        // What is out of the window goes first (an index range, nearly always empty): receipts
        // are kept as long as they can be asked for.
        D::query("DELETE FROM group_acks WHERE app_id = $1 AND message_ms < $2")
            .bind(app_id)
            .bind(expired_before_ms)
            .execute(&mut tx)
            .await?;
        let first = D::query(
            "INSERT INTO group_acks (app_id, group_id, message_id, reader, id, message_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, message_id, reader) DO NOTHING",
        )
        .bind(app_id)
        .bind(sql_id(ack.group_id.0))
        .bind(sql_id(ack.message_id))
        .bind(ack.reader.as_str())
        .bind(sql_id(ack.id))
        .bind(ack.message_ms)
        .bind(ack.created_ms)
        .execute(&mut tx)
        .await?
            > 0;
        let read_count: i64 = D::query("SELECT COUNT(*) FROM group_acks WHERE app_id = $1 AND message_id = $2")
            .bind(app_id)
            .bind(sql_id(ack.message_id))
            .fetch_scalar(&mut tx)
            .await?;
        let read_count = u32::try_from(read_count).unwrap_or(u32::MAX);
        if first {
            let mut notice = ack.notice.clone();
            if let Some(group) = notice.group.as_mut() {
                group.read_count = Some(read_count);
            }
            let payload = to_json(&PersonalItem::Receipt(notice))?;
            insert_personal_item::<D>(&mut tx, app_id, &ack.notice.to, ack.id, &payload, ack.created_ms).await?;
        }
        tx.commit().await?;
        Ok(GroupAckOutcome { read_count, first })
    }

    async fn group_readers(
        &self,
        app_id: i64,
        message_id: u64,
        after: Option<u64>,
        limit: u32,
    ) -> StoreResult<GroupReaders> {
        // One read transaction: the page and the total of the same moment.
        let mut tx = self.begin_read().await?;
        let rows: Vec<(i64, String)> = D::query(
            "SELECT id, reader FROM group_acks WHERE app_id = $1 AND message_id = $2 AND id > $3 \
             ORDER BY id LIMIT $4",
        )
        .bind(app_id)
        .bind(sql_id(message_id))
        .bind(after.map_or(i64::MIN, sql_id))
        .bind(i64::from(limit))
        .fetch_all(&mut tx)
        .await?;
        let total: i64 = D::query("SELECT COUNT(*) FROM group_acks WHERE app_id = $1 AND message_id = $2")
            .bind(app_id)
            .bind(sql_id(message_id))
            .fetch_scalar(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(GroupReaders {
            readers: rows.into_iter().map(|(id, reader)| (id_from_sql(id), UserName::from_trusted(reader))).collect(),
            total: total.max(0) as u64,
        })
    }
}
