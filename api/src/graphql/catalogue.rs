//! `datasets` and `me`: the catalogue the caller may see, and the caller.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use async_graphql::{Name, Value};
use dap_openapi::model::datasets::{ColumnInfo, DatasetDetail};
use dap_schema::DatasetDef;
use tokio::sync::OnceCell;

use super::error::field_error;
use super::resolve::{Gql, GqlResult, gql};
use crate::app::datasets::Target;

/// A dataset in `datasets`, for the municipality asked for. What the caller may know of
/// it beyond the catalogue entry (columns, version) is the core's `describe_dataset`,
/// asked once per item and audited like REST's describe.
struct DatasetItem {
    def: Arc<DatasetDef>,
    municipality: Option<String>,
    detail: OnceCell<GqlResult<DatasetDetail>>,
}

impl DatasetItem {
    fn target(&self) -> Target<'_> {
        Target {
            dataset: self.def.id.as_str(),
            municipality: self.municipality.as_deref(),
        }
    }

    async fn detail(&self, gql: &Gql) -> GqlResult<&DatasetDetail> {
        self.detail
            .get_or_init(|| async {
                let part = gql.request.part(format!("{} datasets", gql.request.action));
                let work = gql.core.describe_dataset(&gql.principal, self.target());
                gql.audited(&part, Some(self.def.id.as_str()), work)
                    .await
                    .map_err(field_error)
            })
            .await
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// `datasets(municipality)`: the catalogue the caller may see (the core's listing,
/// audited).
pub fn datasets_field() -> Field {
    Field::new("datasets", TypeRef::named_nn_list_nn("Dataset"), |ctx| {
        FieldFuture::new(async move {
            let gql = gql(&ctx)?;
            let municipality = ctx
                .args
                .get("municipality")
                .map(|v| v.string().map(str::to_owned))
                .transpose()?;
            let part = gql.request.part(format!("{} datasets", gql.request.action));
            let list = gql
                .audited(&part, None, gql.core.list_datasets(&gql.principal))
                .await
                .map_err(field_error)?;
            let items = list
                .datasets
                .iter()
                .filter_map(|d| gql.core.catalogue.get(&d.id))
                .map(|def| {
                    FieldValue::owned_any(DatasetItem {
                        def,
                        municipality: municipality.clone(),
                        detail: OnceCell::new(),
                    })
                });
            Ok(Some(FieldValue::list(items)))
        })
    })
    .argument(async_graphql::dynamic::InputValue::new(
        "municipality",
        TypeRef::named(TypeRef::STRING),
    ))
}

fn item_field(name: &str, ty: TypeRef, get: fn(&DatasetDef) -> String) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let item = ctx.parent_value.try_downcast_ref::<DatasetItem>()?;
            Ok(Some(Value::from(get(&item.def))))
        })
    })
}

pub fn dataset_object() -> Object {
    let nn = || TypeRef::named_nn(TypeRef::STRING);
    Object::new("Dataset")
        .field(item_field("id", nn(), |d| d.id.to_string()))
        .field(item_field("domain", nn(), |d| d.domain.clone()))
        .field(item_field("title", nn(), |d| d.title_da.clone()))
        .field(item_field("titleEn", nn(), |d| d.title_en.clone()))
        .field(Field::new(
            "columns",
            TypeRef::named_list_nn("Column"),
            |ctx| {
                FieldFuture::new(async move {
                    let gql = gql(&ctx)?;
                    let item = ctx.parent_value.try_downcast_ref::<DatasetItem>()?;
                    let columns = item.detail(gql).await?.columns.clone();
                    Ok(Some(FieldValue::list(
                        columns.into_iter().map(FieldValue::owned_any),
                    )))
                })
            },
        ))
        .field(Field::new("version", TypeRef::named("Int64"), |ctx| {
            FieldFuture::new(async move {
                let gql = gql(&ctx)?;
                let item = ctx.parent_value.try_downcast_ref::<DatasetItem>()?;
                let detail = item.detail(gql).await?;
                Ok(Some(Value::from(detail.table_version)))
            })
        }))
        .field(Field::new("updatedAt", TypeRef::named("DateTime"), |ctx| {
            FieldFuture::new(async move {
                let gql = gql(&ctx)?;
                let item = ctx.parent_value.try_downcast_ref::<DatasetItem>()?;
                let detail = item.detail(gql).await?;
                Ok(detail
                    .updated_at
                    .map(|t| Value::from(dap_schema::time::rfc3339(&t))))
            })
        }))
}

fn column_field(name: &str, get: fn(&ColumnInfo) -> String) -> Field {
    Field::new(name, TypeRef::named_nn(TypeRef::STRING), move |ctx| {
        FieldFuture::new(async move {
            let column = ctx.parent_value.try_downcast_ref::<ColumnInfo>()?;
            Ok(Some(Value::from(get(column))))
        })
    })
}

pub fn column_object() -> Object {
    Object::new("Column")
        .field(column_field("name", |c| c.name.clone()))
        .field(column_field("type", |c| c.data_type.clone()))
        .field(column_field("classification", |c| {
            c.classification.to_owned()
        }))
        .field(column_field("description", |c| c.description.clone()))
}

/// `me`: the caller as dap sees it.
pub fn me_field() -> Field {
    Field::new("me", TypeRef::named_nn("Me"), |ctx| {
        FieldFuture::new(async move {
            let gql = gql(&ctx)?;
            let p = &gql.principal;
            let mut me = async_graphql::indexmap::IndexMap::new();
            me.insert(Name::new("subject"), Value::from(p.subject.clone()));
            me.insert(
                Name::new("municipalities"),
                Value::List(
                    p.municipalities
                        .iter()
                        .map(|m| Value::from(m.to_string()))
                        .collect(),
                ),
            );
            me.insert(
                Name::new("roles"),
                Value::List(p.roles.iter().map(|r| Value::from(r.clone())).collect()),
            );
            me.insert(Name::new("assuranceLevel"), Value::from(p.nsis.as_str()));
            Ok(Some(FieldValue::owned_any(Value::Object(me))))
        })
    })
}

fn me_part(name: &'static str, ty: TypeRef) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let me = ctx.parent_value.try_downcast_ref::<Value>()?;
            match me {
                Value::Object(map) => Ok(map.get(name).cloned()),
                _ => Ok(None),
            }
        })
    })
}

pub fn me_object() -> Object {
    Object::new("Me")
        .field(me_part("subject", TypeRef::named_nn(TypeRef::STRING)))
        .field(me_part(
            "municipalities",
            TypeRef::named_nn_list_nn(TypeRef::STRING),
        ))
        .field(me_part("roles", TypeRef::named_nn_list_nn(TypeRef::STRING)))
        .field(me_part(
            "assuranceLevel",
            TypeRef::named_nn(TypeRef::STRING),
        ))
}
