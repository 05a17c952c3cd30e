//! The audit log as a hash chain. Each record's hash covers the previous record's hash,
//! its position and its canonical form, so changing, removing or reordering a record
//! breaks the chain at exactly that record; `verify_audit` walks it, and retention
//! (`prune_audit`, in [`crate::audit_retention`]) walks the part it removes first.

use chrono::{SecondsFormat, SubsecRound};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::entity::{audit_checkpoint, audit_event, audit_head};
use crate::{AuditRecord, ControlPlane, Error, Result};

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed form of a record: every stored fact, in a fixed order, timestamps in
/// RFC 3339 with microseconds (what both databases keep).
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    seq: i64,
    occurred_at: String,
    request_id: &'a str,
    action: &'a str,
    subject: Option<&'a str>,
    caller_kind: Option<&'a str>,
    client_id: Option<&'a str>,
    nsis_level: Option<&'a str>,
    municipality: Option<&'a str>,
    dataset: Option<&'a str>,
    table_version: Option<i64>,
    columns: Option<&'a str>,
    filter: Option<&'a str>,
    rows_returned: Option<i64>,
    outcome: &'a str,
    reason: Option<&'a str>,
    duration_ms: i64,
    source_addr: Option<&'a str>,
}

/// SHA-256 (hex) of `prev_hash`, a newline and the canonical JSON of `record` at `seq`.
pub fn chain_hash(prev_hash: &str, seq: i64, r: &audit_event::Model) -> String {
    let canonical = Canonical {
        v: 1,
        seq,
        occurred_at: r.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        request_id: &r.request_id,
        action: &r.action,
        subject: r.subject.as_deref(),
        caller_kind: r.caller_kind.as_deref(),
        client_id: r.client_id.as_deref(),
        nsis_level: r.nsis_level.as_deref(),
        municipality: r.municipality.as_deref(),
        dataset: r.dataset.as_deref(),
        table_version: r.table_version,
        columns: r.columns.as_deref(),
        filter: r.filter.as_deref(),
        rows_returned: r.rows_returned,
        outcome: &r.outcome,
        reason: r.reason.as_deref(),
        duration_ms: r.duration_ms,
        source_addr: r.source_addr.as_deref(),
    };
    let json = serde_json::to_string(&canonical).unwrap_or_default();
    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(json.as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What is wrong at one place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// The record's content no longer matches its hash: it was changed.
    Changed,
    /// Records are missing before this one (removed).
    Removed,
    /// The record is not where its position says (reordered or swapped).
    Reordered,
    /// The newest records are missing (the chain head points further).
    TailRemoved,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Changed => "was changed",
            Self::Removed => "was removed",
            Self::Reordered => "is out of place (reordered)",
            Self::TailRemoved => {
                "and every later record were removed (the chain head says otherwise)"
            }
        })
    }
}

/// The result of walking the chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub records_checked: u64,
    /// The chain position a checkpoint (retention) starts from, if any.
    pub starts_after: i64,
    /// The first problem: its kind, the record's database id and chain position.
    pub first_break: Option<(Break, Option<i64>, i64)>,
    /// The chain head when verification started: keep it elsewhere to anchor the chain.
    pub head_seq: i64,
    pub head_hash: String,
}

impl ControlPlane {
    /// Whether an audit record could be appended now: takes the chain head's write lock
    /// exactly as an append does, then rolls back. Fails while another writer holds the
    /// database (SQLite "database is locked"), the database is read-only or unreachable.
    pub async fn probe_audit_append(&self) -> Result<()> {
        let txn = self.connection().begin().await?;
        let moved = audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Seq, Expr::col(audit_head::Column::Seq))
            .filter(audit_head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        txn.rollback().await?;
        if moved.rows_affected != 1 {
            return Err(Error::AuditChain("the audit chain head is missing".into()));
        }
        Ok(())
    }

    /// Appends one audit record to the chain. Callers must fail the request when this fails.
    pub async fn append_audit(&self, record: &AuditRecord) -> Result<()> {
        self.append_audits(std::slice::from_ref(record)).await
    }

    /// Appends records to the chain in one transaction, in the order given: all are
    /// written or none. One head update and one insert serve the whole batch, so a
    /// single writer keeps up with many concurrent requests.
    pub async fn append_audits(&self, records: &[AuditRecord]) -> Result<()> {
        let Ok(count) = i64::try_from(records.len()) else {
            return Err(Error::AuditChain("too many records in one batch".into()));
        };
        if count == 0 {
            return Ok(());
        }
        let txn = self.connection().begin().await?;
        // Take the head's lock first (an UPDATE), so concurrent appends on any replica
        // queue here instead of forking the chain.
        let moved = audit_head::Entity::update_many()
            .col_expr(
                audit_head::Column::Seq,
                Expr::col(audit_head::Column::Seq).add(Expr::val(count)),
            )
            .filter(audit_head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        if moved.rows_affected != 1 {
            return Err(Error::AuditChain("the audit chain head is missing".into()));
        }
        let head = audit_head::Entity::find_by_id(1)
            .one(&txn)
            .await?
            .ok_or_else(|| Error::AuditChain("the audit chain head is missing".into()))?;
        let mut prev_hash = head.hash;
        let mut rows = Vec::with_capacity(records.len());
        for (seq, record) in (head.seq - count + 1..).zip(records) {
            let mut model = event_model(record, seq, prev_hash);
            model.hash = chain_hash(&model.prev_hash, seq, &model);
            prev_hash = model.hash.clone();
            let mut active: audit_event::ActiveModel = model.into();
            active.id = sea_orm::ActiveValue::NotSet;
            rows.push(active);
        }
        audit_event::Entity::insert_many(rows).exec(&txn).await?;
        audit_head::Entity::update_many()
            .col_expr(audit_head::Column::Hash, Expr::value(prev_hash))
            .filter(audit_head::Column::Id.eq(1))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Walks the whole chain in insertion order and reports the first record that was
    /// changed, removed or reordered (or a removed tail).
    pub async fn verify_audit(&self) -> Result<Verification> {
        let conn = self.connection();
        let head = head(conn).await?;
        let (from, prev) = start(conn).await?;
        // Records appended while this runs are newer than the head read above: the walk
        // ends at the head's position.
        let walk = walk(conn, from, prev, head.seq).await?;
        let first_break = walk
            .first_break
            .clone()
            .or_else(|| end_break(&walk, head.seq, &head));
        Ok(Verification {
            records_checked: walk.checked,
            starts_after: from - 1,
            first_break,
            head_seq: head.seq,
            head_hash: head.hash,
        })
    }
}

/// How far a walk got.
pub(crate) struct Walk {
    /// Records looked at.
    pub checked: u64,
    /// The position the next record must have, and the hash it must link to.
    pub next_seq: i64,
    pub prev: String,
    /// The first problem: its kind, the record's database id and chain position.
    pub first_break: Option<(Break, Option<i64>, i64)>,
}

/// The chain head (position and hash of the newest record).
pub(crate) async fn head<C: ConnectionTrait>(conn: &C) -> Result<audit_head::Model> {
    audit_head::Entity::find_by_id(1)
        .one(conn)
        .await?
        .ok_or_else(|| Error::AuditChain("the audit chain head is missing".into()))
}

/// Where the stored chain starts: after the newest checkpoint (retention), or at 1.
pub(crate) async fn start<C: ConnectionTrait>(conn: &C) -> Result<(i64, String)> {
    let checkpoint = audit_checkpoint::Entity::find()
        .order_by_desc(audit_checkpoint::Column::Seq)
        .one(conn)
        .await?;
    Ok(match checkpoint {
        Some(c) => (c.seq + 1, c.hash),
        None => (1, GENESIS.to_owned()),
    })
}

/// Walks the records in insertion order from position `from`, which must link to
/// `prev`, through position `through`, and stops at the first that was changed,
/// removed or reordered.
pub(crate) async fn walk<C: ConnectionTrait>(
    conn: &C,
    from: i64,
    prev: String,
    through: i64,
) -> Result<Walk> {
    let mut walk = Walk {
        checked: 0,
        next_seq: from,
        prev,
        first_break: None,
    };
    let mut after_id = i64::MIN;
    while walk.next_seq <= through {
        let page = audit_event::Entity::find()
            .filter(audit_event::Column::Id.gt(after_id))
            .order_by_asc(audit_event::Column::Id)
            .limit(1000)
            .all(conn)
            .await?;
        let Some(last) = page.last() else { break };
        after_id = last.id;
        for record in page {
            if walk.next_seq > through {
                break;
            }
            walk.checked += 1;
            if let Some((kind, seq)) = check(conn, &walk, &record).await? {
                walk.first_break = Some((kind, Some(record.id), seq));
                return Ok(walk);
            }
            walk.prev = record.hash;
            walk.next_seq += 1;
        }
    }
    Ok(walk)
}

/// What is wrong with `record` as the next record of `walk`, if anything.
async fn check<C: ConnectionTrait>(
    conn: &C,
    walk: &Walk,
    record: &audit_event::Model,
) -> Result<Option<(Break, i64)>> {
    let expected = walk.next_seq;
    Ok(if record.seq > expected && record.prev_hash != walk.prev {
        // Later in the table, or gone?
        let moved = audit_event::Entity::find()
            .filter(audit_event::Column::Seq.eq(expected))
            .count(conn)
            .await?;
        let kind = if moved > 0 {
            Break::Reordered
        } else {
            Break::Removed
        };
        Some((kind, expected))
    } else if record.seq != expected {
        Some((Break::Reordered, expected))
    } else if record.prev_hash != walk.prev
        || chain_hash(&walk.prev, record.seq, record) != record.hash
    {
        Some((Break::Changed, record.seq))
    } else {
        None
    })
}

/// A walk that found nothing wrong still breaks at its end when it stopped short of
/// `through` (records missing), or reached the head without the head's hash.
pub(crate) fn end_break(
    walk: &Walk,
    through: i64,
    head: &audit_head::Model,
) -> Option<(Break, Option<i64>, i64)> {
    let reached = walk.next_seq - 1;
    let broken = reached != through || (reached == head.seq && walk.prev != head.hash);
    broken.then_some((Break::TailRemoved, None, walk.next_seq))
}

/// The stored form of `record` at chain position `seq`, its hash not yet computed.
fn event_model(record: &AuditRecord, seq: i64, prev_hash: String) -> audit_event::Model {
    // Each bounded column's length (migrations m0001, m0005, m0013): a value is cut to
    // it here, before it is hashed, so no request can fail for a long id or route and
    // the chain verifies against what was stored.
    let fit = |value: &str, chars: usize| value.chars().take(chars).collect::<String>();
    let fit_opt = |value: &Option<String>, chars: usize| value.as_deref().map(|v| fit(v, chars));
    audit_event::Model {
        id: 0,
        occurred_at: record.occurred_at.trunc_subsecs(6),
        request_id: fit(&record.request_id, 64),
        action: fit(&record.action, 255),
        subject: record.subject.clone(),
        caller_kind: fit_opt(&record.caller_kind, 32),
        nsis_level: fit_opt(&record.nsis_level, 16),
        municipality: fit_opt(&record.municipality, 8),
        dataset: fit_opt(&record.dataset, 130),
        table_version: record.table_version,
        columns: record.columns.clone(),
        filter: record.filter.clone(),
        rows_returned: record.rows_returned,
        outcome: record.outcome.as_str().to_owned(),
        reason: fit_opt(&record.reason, 64),
        duration_ms: record.duration_ms,
        source_addr: fit_opt(&record.source_addr, 64),
        client_id: fit_opt(&record.client_id, 128),
        seq,
        prev_hash,
        hash: String::new(),
    }
}
