//! `datasets` and `me`: the catalogue the caller may see, and the caller.

use std::sync::Arc;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, Object, TypeRef};
use async_graphql::{Name, Value};
use dap_schema::{AccessScope, ColumnDef, DatasetDef};

use super::error::field_error;
use super::resolve::{Gql, GqlResult, gql};
use crate::app::datasets::Target;

/// A dataset in `datasets`, for the municipality asked for.
struct DatasetItem {
    def: Arc<DatasetDef>,
    municipality: Option<String>,
}

impl DatasetItem {
    fn target(&self) -> Target<'_> {
        Target {
            dataset: self.def.id.as_str(),
            municipality: self.municipality.as_deref(),
        }
    }

    fn scope(&self, gql: &Gql) -> GqlResult<AccessScope> {
        let target = self.target();
        gql.core
            .scope(&gql.principal, target.dataset, target.municipality)
            .map_err(field_error)
    }
}

/// `datasets(municipality)`: the catalogue the caller may see.
pub fn datasets_field() -> Field {
    Field::new("datasets", TypeRef::named_nn_list_nn("Dataset"), |ctx| {
        FieldFuture::new(async move {
            let gql = gql(&ctx)?;
            let municipality = ctx
                .args
                .get("municipality")
                .map(|v| v.string().map(str::to_owned))
                .transpose()?;
            let items = gql
                .core
                .visible_datasets(&gql.principal)
                .into_iter()
                .map(|def| {
                    FieldValue::owned_any(DatasetItem {
                        def,
                        municipality: municipality.clone(),
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
                    let scope = item.scope(gql)?;
                    let columns: Vec<ColumnDef> = scope
                        .dataset()
                        .columns
                        .iter()
                        .filter(|c| scope.can_see(&c.name))
                        .cloned()
                        .collect();
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
                let info = gql
                    .core
                    .data_version(&gql.principal, item.target())
                    .await
                    .map_err(field_error)?;
                Ok(Some(Value::from(info.version)))
            })
        }))
        .field(Field::new("updatedAt", TypeRef::named("DateTime"), |ctx| {
            FieldFuture::new(async move {
                let gql = gql(&ctx)?;
                let item = ctx.parent_value.try_downcast_ref::<DatasetItem>()?;
                let info = gql
                    .core
                    .data_version(&gql.principal, item.target())
                    .await
                    .map_err(field_error)?;
                Ok(info
                    .timestamp
                    .map(|t| Value::from(dap_schema::time::rfc3339(&t))))
            })
        }))
}

fn column_field(name: &str, get: fn(&ColumnDef) -> String) -> Field {
    Field::new(name, TypeRef::named_nn(TypeRef::STRING), move |ctx| {
        FieldFuture::new(async move {
            let column = ctx.parent_value.try_downcast_ref::<ColumnDef>()?;
            Ok(Some(Value::from(get(column))))
        })
    })
}

pub fn column_object() -> Object {
    Object::new("Column")
        .field(column_field("name", |c| c.name.clone()))
        .field(column_field("type", |c| c.data_type.to_string()))
        .field(column_field("classification", |c| {
            c.classification.as_str().to_owned()
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
