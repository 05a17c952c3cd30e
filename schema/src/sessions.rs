//! Browser sessions (interactive login) and the replay guard for client assertions.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::entity::{session, used_assertion};
use crate::{ControlPlane, Result};

/// A browser session as stored (without the cookie value).
pub type Session = session::Model;

impl ControlPlane {
    /// Stores a new session.
    pub async fn insert_session(&self, s: Session) -> Result<()> {
        session::ActiveModel {
            id_hash: Set(s.id_hash),
            issuer: Set(s.issuer),
            subject: Set(s.subject),
            grants: Set(s.grants),
            constraints: Set(s.constraints),
            nsis_level: Set(s.nsis_level),
            created_at: Set(s.created_at),
            expires_at: Set(s.expires_at),
            last_seen_at: Set(s.last_seen_at),
            organisations: Set(s.organisations),
        }
        .insert(self.connection())
        .await?;
        Ok(())
    }

    /// The unexpired session with this digest, if any.
    pub async fn session_by_hash(&self, hash: &str) -> Result<Option<Session>> {
        Ok(session::Entity::find_by_id(hash.to_owned())
            .filter(session::Column::ExpiresAt.gt(Utc::now()))
            .one(self.connection())
            .await?)
    }

    /// Records that the session was used at `at` (the idle timeout counts from there).
    pub async fn touch_session(&self, hash: &str, at: DateTime<Utc>) -> Result<()> {
        session::Entity::update_many()
            .col_expr(
                session::Column::LastSeenAt,
                sea_orm::sea_query::Expr::value(at),
            )
            .filter(session::Column::IdHash.eq(hash))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Ends a session (logout); ending an unknown one is not an error.
    pub async fn delete_session(&self, hash: &str) -> Result<()> {
        session::Entity::delete_by_id(hash.to_owned())
            .exec(self.connection())
            .await?;
        session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lte(Utc::now()))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Records a client assertion as used. False when it was used before: the unique key
    /// makes this hold across replicas sharing the database.
    pub async fn use_assertion_once(
        &self,
        digest: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        used_assertion::Entity::delete_many()
            .filter(used_assertion::Column::ExpiresAt.lt(Utc::now()))
            .exec(self.connection())
            .await?;
        let inserted = used_assertion::ActiveModel {
            digest: Set(digest.to_owned()),
            expires_at: Set(expires_at),
        }
        .insert(self.connection())
        .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) => {
                let seen = used_assertion::Entity::find_by_id(digest.to_owned())
                    .one(self.connection())
                    .await?;
                if seen.is_some() {
                    Ok(false)
                } else {
                    Err(e.into())
                }
            }
        }
    }
}
