//! Personal access tokens for BI tools: opaque, stored as SHA-256 digests, revocable.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use crate::entity::personal_token;
use crate::{ControlPlane, Result};

/// A personal access token as stored (without the token).
pub type PersonalToken = personal_token::Model;

impl ControlPlane {
    /// Stores a new token.
    pub async fn insert_personal_token(&self, token: PersonalToken) -> Result<()> {
        personal_token::ActiveModel {
            id: Set(token.id),
            token_hash: Set(token.token_hash),
            issuer: Set(token.issuer),
            subject: Set(token.subject),
            name: Set(token.name),
            grants: Set(token.grants),
            nsis_level: Set(token.nsis_level),
            datasets: Set(token.datasets),
            created_at: Set(token.created_at),
            expires_at: Set(token.expires_at),
            revoked_at: Set(token.revoked_at),
            constraints: Set(token.constraints),
        }
        .insert(self.connection())
        .await?;
        Ok(())
    }

    /// The token with this digest, if any.
    pub async fn personal_token_by_hash(&self, hash: &str) -> Result<Option<PersonalToken>> {
        Ok(personal_token::Entity::find()
            .filter(personal_token::Column::TokenHash.eq(hash))
            .one(self.connection())
            .await?)
    }

    /// The token with this id, if any.
    pub async fn personal_token_by_id(&self, id: &str) -> Result<Option<PersonalToken>> {
        Ok(personal_token::Entity::find_by_id(id.to_owned())
            .one(self.connection())
            .await?)
    }

    /// The owner's tokens, newest first.
    pub async fn personal_tokens_of(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Vec<PersonalToken>> {
        Ok(personal_token::Entity::find()
            .filter(personal_token::Column::Issuer.eq(issuer))
            .filter(personal_token::Column::Subject.eq(subject))
            .order_by_desc(personal_token::Column::CreatedAt)
            .all(self.connection())
            .await?)
    }

    /// Revokes the owner's token `id`; false when the owner has no such token.
    pub async fn revoke_personal_token(
        &self,
        issuer: &str,
        subject: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let result = personal_token::Entity::update_many()
            .col_expr(
                personal_token::Column::RevokedAt,
                sea_orm::sea_query::Expr::value(at),
            )
            .filter(personal_token::Column::Id.eq(id))
            .filter(personal_token::Column::Issuer.eq(issuer))
            .filter(personal_token::Column::Subject.eq(subject))
            .filter(personal_token::Column::RevokedAt.is_null())
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }
}
