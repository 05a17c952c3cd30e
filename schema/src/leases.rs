//! Leases in the control plane: which replica runs a job that must run once across
//! replicas (see the m0011 migration). Both steps are single statements, atomic on
//! SQLite and PostgreSQL alike: an insert of a lease nobody holds, or an update of one
//! that has expired or that the caller holds already.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, ExprTrait, IntoActiveModel, QueryFilter};

use crate::entity::lease;
use crate::{ControlPlane, Result};

impl ControlPlane {
    /// Takes the lease `name` for `holder` until `until`, or renews it when `holder`
    /// holds it already. False when another holder's lease has not expired at `now`.
    pub async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        // Whole seconds: the stored text of a timestamp then always has the same form,
        // so comparisons agree on SQLite (text) and PostgreSQL (timestamptz).
        let (now, until) = (now.trunc_subsecs(0), until.trunc_subsecs(0));
        let inserted = lease::Entity::insert(
            lease::Model {
                name: name.to_owned(),
                holder: holder.to_owned(),
                expires_at: until,
            }
            .into_active_model(),
        )
        .on_conflict(
            OnConflict::column(lease::Column::Name)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self.connection())
        .await?;
        if inserted > 0 {
            return Ok(true);
        }
        let updated = lease::Entity::update_many()
            .col_expr(lease::Column::Holder, Expr::value(holder))
            .col_expr(lease::Column::ExpiresAt, Expr::value(until))
            .filter(lease::Column::Name.eq(name))
            .filter(
                lease::Column::Holder
                    .eq(holder)
                    .or(lease::Column::ExpiresAt.lte(now)),
            )
            .exec(self.connection())
            .await?;
        Ok(updated.rows_affected > 0)
    }

    /// Gives the lease up when `holder` holds it, so another replica may take it at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        lease::Entity::delete_many()
            .filter(lease::Column::Name.eq(name))
            .filter(lease::Column::Holder.eq(holder))
            .exec(self.connection())
            .await?;
        Ok(())
    }

    /// Who holds the lease `name`, and until when (expired or not).
    pub async fn lease(&self, name: &str) -> Result<Option<(String, DateTime<Utc>)>> {
        Ok(lease::Entity::find_by_id(name.to_owned())
            .one(self.connection())
            .await?
            .map(|l| (l.holder, l.expires_at)))
    }
}
