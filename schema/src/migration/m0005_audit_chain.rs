//! A tamper-evident audit log: every record carries its position in a hash chain
//! (`seq`), the previous record's hash and its own hash over its canonical form. The
//! chain head (last `seq` and hash) lives in `audit_head`, which also serialises appends
//! across replicas; pruning leaves a checkpoint so the rest still verifies.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::audit_chain::{GENESIS, chain_hash};
use crate::entity::{audit_event, audit_head};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    ClientId,
    Seq,
    PrevHash,
    Hash,
}

#[derive(DeriveIden)]
enum AuditHead {
    Table,
    Id,
    Seq,
    Hash,
}

#[derive(DeriveIden)]
enum AuditCheckpoints {
    Table,
    Seq,
    Hash,
    PrunedAt,
    RecordsPruned,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let columns = [
            string_len_null(AuditEvents::ClientId, 128),
            big_integer(AuditEvents::Seq).default(0).to_owned(),
            string_len(AuditEvents::PrevHash, 64).default("").to_owned(),
            string_len(AuditEvents::Hash, 64).default("").to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(AuditEvents::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(AuditHead::Table)
                    .if_not_exists()
                    .col(integer(AuditHead::Id).primary_key())
                    .col(big_integer(AuditHead::Seq))
                    .col(string_len(AuditHead::Hash, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuditCheckpoints::Table)
                    .if_not_exists()
                    .col(big_integer(AuditCheckpoints::Seq).primary_key())
                    .col(string_len(AuditCheckpoints::Hash, 64))
                    .col(timestamp_with_time_zone(AuditCheckpoints::PrunedAt))
                    .col(big_integer(AuditCheckpoints::RecordsPruned))
                    .to_owned(),
            )
            .await?;
        // Chain the records written before this migration, oldest first.
        let db = manager.get_connection();
        let mut seq = 0i64;
        let mut prev = GENESIS.to_owned();
        for record in audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Id)
            .all(db)
            .await?
        {
            seq += 1;
            let hash = chain_hash(&prev, seq, &record);
            let mut active: audit_event::ActiveModel = record.into();
            active.seq = Set(seq);
            active.prev_hash = Set(prev.clone());
            active.hash = Set(hash.clone());
            active.update(db).await?;
            prev = hash;
        }
        audit_head::ActiveModel {
            id: Set(1),
            seq: Set(seq),
            hash: Set(prev),
        }
        .insert(db)
        .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_events_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
