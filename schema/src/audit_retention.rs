//! Retention of the audit chain: removing the oldest records and leaving a checkpoint
//! so the rest still verifies. Removing records must never hide tampering, so a prune
//! first verifies what it removes and refuses when that does not verify.

use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::audit_chain::{end_break, head, start, walk};
use crate::entity::{audit_checkpoint, audit_event};
use crate::{ControlPlane, Error, Result};

/// The fewest days of audit records a prune keeps (`dap audit prune --keep-days`,
/// `audit_retention_days`). Zero would remove every record up to the moment of the
/// prune, the records of requests still being answered among them, and leave a chain
/// with nothing to verify; a day keeps the records since yesterday's anchored head.
pub const MIN_RETENTION_DAYS: u32 = 1;

/// The cut-off that keeps `keep_days` days of audit records before `now`; refused when
/// `keep_days` is below [`MIN_RETENTION_DAYS`].
pub fn retention_cutoff(now: DateTime<Utc>, keep_days: u32) -> Result<DateTime<Utc>> {
    let cutoff = now - Duration::days(i64::from(keep_days));
    if keep_days < MIN_RETENTION_DAYS {
        return Err(Error::RetentionTooShort {
            cutoff,
            minimum_days: MIN_RETENTION_DAYS,
        });
    }
    Ok(cutoff)
}

impl ControlPlane {
    /// Removes records older than `before` (retention) and leaves a checkpoint, so the
    /// remaining chain still verifies. Returns how many records went.
    ///
    /// Refuses, removing nothing, when `before` is less than [`MIN_RETENTION_DAYS`] ago
    /// ([`Error::RetentionTooShort`]), or when the records it would remove, or their link
    /// to the first record kept (the chain head when none is), do not verify
    /// ([`Error::AuditPruneRefused`], naming the record): removing them would hide that.
    pub async fn prune_audit(&self, before: DateTime<Utc>) -> Result<u64> {
        let latest = Utc::now() - Duration::days(i64::from(MIN_RETENTION_DAYS));
        if before > latest {
            return Err(Error::RetentionTooShort {
                cutoff: before,
                minimum_days: MIN_RETENTION_DAYS,
            });
        }
        let txn = self.connection().begin().await?;
        let last = audit_event::Entity::find()
            .filter(audit_event::Column::OccurredAt.lt(before))
            .order_by_desc(audit_event::Column::Seq)
            .one(&txn)
            .await?;
        let Some(last) = last else {
            return Ok(0);
        };
        // Verify from the chain's start through the first record kept, so a rewritten
        // last record (whose own hash matches) is caught by the link that follows it.
        let head = head(&txn).await?;
        let (from, prev) = start(&txn).await?;
        let through = (last.seq + 1).min(head.seq);
        let walked = walk(&txn, from, prev, through).await?;
        if let Some((kind, id, seq)) = walked
            .first_break
            .clone()
            .or_else(|| end_break(&walked, through, &head))
        {
            return Err(Error::AuditPruneRefused { kind, seq, id });
        }
        let doomed = audit_event::Column::Seq.lte(last.seq);
        let count = audit_event::Entity::find()
            .filter(doomed.clone())
            .count(&txn)
            .await?;
        audit_checkpoint::Entity::insert(audit_checkpoint::ActiveModel {
            seq: Set(last.seq),
            hash: Set(last.hash.clone()),
            pruned_at: Set(Utc::now()),
            records_pruned: Set(i64::try_from(count).unwrap_or(i64::MAX)),
        })
        .exec(&txn)
        .await?;
        audit_event::Entity::delete_many()
            .filter(doomed)
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_of_less_than_a_day_is_refused_with_the_minimum() {
        let now = Utc::now();
        let refused = retention_cutoff(now, 0);
        assert!(
            matches!(
                refused,
                Err(Error::RetentionTooShort {
                    minimum_days: 1,
                    ..
                })
            ),
            "{refused:?}"
        );
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message.contains("at least 1 day"), "{message}");
        assert_eq!(retention_cutoff(now, 1).ok(), Some(now - Duration::days(1)));
        assert_eq!(
            retention_cutoff(now, 365).ok(),
            Some(now - Duration::days(365))
        );
    }
}
