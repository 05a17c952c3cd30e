//! Key-figure definitions in the control plane. The definition itself is the lake's
//! typed `KeyFigureDef`, stored as JSON: the control plane keeps it, the core checks it.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QueryOrder};

use crate::entity::key_figure;
use crate::{ControlPlane, Result};

/// A stored key-figure definition.
pub type StoredKeyFigure = key_figure::Model;

impl ControlPlane {
    /// Every stored key-figure definition, by id.
    pub async fn key_figures(&self) -> Result<Vec<StoredKeyFigure>> {
        Ok(key_figure::Entity::find()
            .order_by_asc(key_figure::Column::Id)
            .all(self.connection())
            .await?)
    }

    /// Registers or replaces a definition (JSON) under `id`.
    pub async fn put_key_figure(&self, id: &str, definition: String, by: &str) -> Result<()> {
        let exists = key_figure::Entity::find_by_id(id.to_owned())
            .one(self.connection())
            .await?
            .is_some();
        let active = key_figure::ActiveModel {
            id: Set(id.to_owned()),
            definition: Set(definition),
            updated_at: Set(Utc::now()),
            updated_by: Set(by.chars().take(512).collect()),
        };
        if exists {
            active.update(self.connection()).await?;
        } else {
            active.insert(self.connection()).await?;
        }
        Ok(())
    }

    /// Removes a definition; false when there was none.
    pub async fn delete_key_figure(&self, id: &str) -> Result<bool> {
        let result = key_figure::Entity::delete_by_id(id.to_owned())
            .exec(self.connection())
            .await?;
        Ok(result.rows_affected > 0)
    }
}
