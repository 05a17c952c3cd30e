//! `keyFigures` and `keyFigure(id, year, group, …)`: key figures across municipalities,
//! typed. Each field calls the same core operation as REST (`Core::list_key_figures`,
//! `Core::key_figure`) inside the same audit, and maps the wire answer onto the types.

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, TypeRef,
};
use async_graphql::{Name, Value};
use dap_lake::predicate::{FilterSpec, Operator};

use super::error::field_error;
use super::resolve::{GqlResult, gql};
use crate::app::AppError;
use crate::app::key_figures::{ComparisonGroup, KeyFigureRequest};

/// How a field reads its part of the parent answer (a JSON object of the wire type).
#[derive(Clone, Copy)]
enum Part {
    /// A scalar or a list of scalars.
    Scalar,
    /// A nested object.
    Object,
    /// A list of objects.
    Objects,
    /// A map, as a list of {`key`, `value`} objects named so.
    Pairs(&'static str, &'static str),
    /// The parent itself (the key figure of a table, whose fields are flattened in).
    Itself,
}

fn part(name: &str, key: &'static str, ty: TypeRef, how: Part) -> Field {
    Field::new(name, ty, move |ctx| {
        FieldFuture::new(async move {
            let parent = ctx.parent_value.try_downcast_ref::<Value>()?;
            if let Part::Itself = how {
                return Ok(Some(FieldValue::owned_any(parent.clone())));
            }
            let value = match parent {
                Value::Object(map) => map.get(key).cloned().unwrap_or(Value::Null),
                _ => Value::Null,
            };
            Ok(match (how, value) {
                (_, Value::Null) => None,
                (Part::Scalar, v) => Some(FieldValue::value(v)),
                (Part::Object, v) => Some(FieldValue::owned_any(v)),
                (Part::Objects, Value::List(items)) => Some(FieldValue::list(
                    items.into_iter().map(FieldValue::owned_any),
                )),
                (Part::Pairs(k, v), Value::Object(map)) => {
                    Some(FieldValue::list(map.into_iter().map(|(name, value)| {
                        let mut pair = async_graphql::indexmap::IndexMap::new();
                        pair.insert(Name::new(k), Value::from(name.to_string()));
                        pair.insert(Name::new(v), value);
                        FieldValue::owned_any(Value::Object(pair))
                    })))
                }
                _ => None,
            })
        })
    })
}

fn nn(ty: &str) -> TypeRef {
    TypeRef::named_nn(ty)
}

fn scalar(name: &str, key: &'static str, ty: TypeRef) -> Field {
    part(name, key, ty, Part::Scalar)
}

/// The output and input types of the key-figure fields.
pub fn types() -> (Vec<Object>, Vec<InputObject>, Vec<Enum>) {
    let s = TypeRef::STRING;
    let objects = vec![
        Object::new("LocalisedText")
            .field(scalar("da", "da", nn(s)))
            .field(scalar("en", "en", nn(s))),
        Object::new("KeyFigureDimension")
            .field(scalar("column", "column", nn(s)))
            .field(scalar("kind", "kind", nn(s))),
        Object::new("KeyFigureDominance")
            .description("The (n, k) dominance rule: the n largest contributors may hold at most k per cent of a cell")
            .field(scalar("n", "n", nn(TypeRef::INT)))
            .field(scalar("k", "k", nn(TypeRef::FLOAT))),
        Object::new("KeyFigureDisclosure")
            .field(scalar("minUnits", "min_units", nn(TypeRef::INT)))
            .field(scalar("unitColumn", "unit_column", nn(s)))
            .field(scalar("method", "method", nn(s)))
            .field(part("dominance", "dominance", TypeRef::named("KeyFigureDominance"), Part::Object)),
        Object::new("KeyFigureSizeBand")
            .field(scalar("id", "id", nn(s)))
            .field(scalar("name", "name", nn(s))),
        Object::new("KeyFigure")
            .field(scalar("id", "id", nn(s)))
            .field(part("title", "title", nn("LocalisedText"), Part::Object))
            .field(part("description", "description", nn("LocalisedText"), Part::Object))
            .field(scalar("measure", "measure", nn(s)))
            .field(scalar("unit", "unit", nn(s)))
            .field(scalar("decimals", "decimals", nn(TypeRef::INT)))
            .field(part("dimensions", "dimensions", TypeRef::named_nn_list_nn("KeyFigureDimension"), Part::Objects))
            .field(part("disclosure", "disclosure", nn("KeyFigureDisclosure"), Part::Object))
            .field(scalar("datasets", "datasets", TypeRef::named_nn_list_nn(s)))
            .field(part("sizeBands", "size_bands", TypeRef::named_nn_list_nn("KeyFigureSizeBand"), Part::Objects)),
        Object::new("DimensionValue")
            .field(scalar("column", "column", nn(s)))
            .field(scalar("value", "value", nn(s))),
        Object::new("TableVersion")
            .field(scalar("dataset", "dataset", nn(s)))
            .field(scalar("version", "version", nn("Int64"))),
        Object::new("KeyFigureCell")
            .field(scalar("municipality", "municipality", TypeRef::named(s)))
            .field(scalar("area", "area", nn(s)))
            .field(scalar("areaId", "area_id", TypeRef::named(s)))
            .field(scalar("name", "name", nn(s)))
            .field(scalar("own", "own", nn(TypeRef::BOOLEAN)))
            .field(part("dimensions", "dimensions", TypeRef::named_nn_list_nn("DimensionValue"), Part::Pairs("column", "value")))
            .field(scalar("total", "total", nn(TypeRef::BOOLEAN)))
            .field(scalar("value", "value", TypeRef::named(TypeRef::FLOAT)))
            .field(scalar("status", "status", nn(s)))
            .field(scalar("reason", "reason", TypeRef::named(s)))
            .field(scalar("rank", "rank", TypeRef::named(TypeRef::INT))),
        Object::new("KeyFigureStatistics")
            .field(part("dimensions", "dimensions", TypeRef::named_nn_list_nn("DimensionValue"), Part::Pairs("column", "value")))
            .field(scalar("total", "total", nn(TypeRef::BOOLEAN)))
            .field(scalar("published", "published", nn(TypeRef::INT)))
            .field(scalar("withheld", "withheld", nn(TypeRef::INT)))
            .field(scalar("min", "min", TypeRef::named(TypeRef::FLOAT)))
            .field(scalar("q1", "q1", TypeRef::named(TypeRef::FLOAT)))
            .field(scalar("median", "median", TypeRef::named(TypeRef::FLOAT)))
            .field(scalar("q3", "q3", TypeRef::named(TypeRef::FLOAT)))
            .field(scalar("max", "max", TypeRef::named(TypeRef::FLOAT))),
        Object::new("KeyFigureTable")
            .field(part("keyFigure", "", nn("KeyFigure"), Part::Itself))
            .field(scalar("municipality", "municipality", nn(s)))
            .field(scalar("group", "group", nn(s)))
            .field(scalar("groupName", "group_name", TypeRef::named(s)))
            .field(part("tableVersions", "table_versions", TypeRef::named_nn_list_nn("TableVersion"), Part::Pairs("dataset", "version")))
            .field(part("cells", "cells", TypeRef::named_nn_list_nn("KeyFigureCell"), Part::Objects))
            .field(part("statistics", "statistics", TypeRef::named_nn_list_nn("KeyFigureStatistics"), Part::Objects)),
    ];
    let inputs = vec![
        InputObject::new("KeyFigureFilter")
            .description("A dimension of the key figure and the values to keep")
            .field(InputValue::new("column", nn(s)))
            .field(InputValue::new("values", TypeRef::named_nn_list_nn(s))),
    ];
    let enums = vec![
        Enum::new("KeyFigureGroup")
            .description("ALL: all 98 and the country; REGION: the caller's region, its total and the country; SIZE: the caller's population band, its total and the country; COUNTRY: the caller and the country; SELECTED: the municipalities in compareWith and the caller")
            .item("ALL")
            .item("REGION")
            .item("SIZE")
            .item("COUNTRY")
            .item("SELECTED"),
    ];
    (objects, inputs, enums)
}

fn text(ctx: &ResolverContext<'_>, name: &str) -> GqlResult<Option<String>> {
    ctx.args
        .get(name)
        .map(|v| v.string().map(str::to_owned))
        .transpose()
}

fn json_value<T: serde::Serialize>(value: &T) -> GqlResult<Value> {
    let json = serde_json::to_value(value).map_err(|e| field_error(AppError::internal(e)))?;
    Ok(Value::from_json(json)?)
}

/// `keyFigures(municipality)`.
fn list_field() -> Field {
    Field::new(
        "keyFigures",
        TypeRef::named_nn_list_nn("KeyFigure"),
        |ctx| {
            FieldFuture::new(async move {
                let gql = gql(&ctx)?;
                let municipality = text(&ctx, "municipality")?;
                let request = gql
                    .request
                    .part(format!("{} keyFigures", gql.request.action));
                let work = gql
                    .core
                    .list_key_figures(&gql.principal, municipality.as_deref());
                let list = gql
                    .audited(&request, None, work)
                    .await
                    .map_err(field_error)?;
                let items = list
                    .key_figures
                    .iter()
                    .map(json_value)
                    .collect::<GqlResult<Vec<_>>>()?;
                Ok(Some(FieldValue::list(
                    items.into_iter().map(FieldValue::owned_any),
                )))
            })
        },
    )
    .description("The key figures: aggregates across all municipalities after disclosure control")
    .argument(
        InputValue::new("municipality", TypeRef::named(TypeRef::STRING))
            .description("Municipality code to act for, when the token grants several"),
    )
}

/// The arguments of `keyFigure` as the core's request parts.
struct TableArgs {
    id: String,
    municipality: Option<String>,
    year: Option<String>,
    filters: Vec<FilterSpec>,
    group: Result<ComparisonGroup, AppError>,
}

fn table_args(ctx: &ResolverContext<'_>) -> GqlResult<TableArgs> {
    let year = match ctx.args.get("year") {
        Some(v) => Some(v.i64()?.to_string()),
        None => None,
    };
    let mut filters = Vec::new();
    if let Some(list) = ctx.args.get("filters") {
        for item in list.list()?.iter() {
            let object = item.object()?;
            let column = object
                .get("column")
                .map(|v| v.string().map(str::to_owned))
                .transpose()?
                .unwrap_or_default();
            let values = match object.get("values") {
                Some(v) => v
                    .list()?
                    .iter()
                    .map(|x| x.string().map(str::to_owned))
                    .collect::<Result<Vec<_>, _>>()?,
                None => Vec::new(),
            };
            let operator = if values.len() == 1 {
                Operator::Eq
            } else {
                Operator::In
            };
            filters.push(FilterSpec {
                column,
                operator,
                values,
            });
        }
    }
    let kind = match ctx.args.get("group") {
        Some(v) => v.enum_name()?.to_ascii_lowercase(),
        None => "all".to_owned(),
    };
    let codes = match ctx.args.get("compareWith") {
        Some(v) => v
            .list()?
            .iter()
            .map(|x| x.string().map(str::to_owned))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(TableArgs {
        id: text(ctx, "id")?.unwrap_or_default(),
        municipality: text(ctx, "municipality")?,
        year,
        filters,
        group: ComparisonGroup::from_parts(&kind, &codes),
    })
}

/// `keyFigure(id, year, group, compareWith, filters, municipality)`.
fn table_field() -> Field {
    Field::new("keyFigure", TypeRef::named_nn("KeyFigureTable"), |ctx| {
        FieldFuture::new(async move {
            let gql = gql(&ctx)?;
            let args = table_args(&ctx)?;
            let request = gql.request.part(format!("{} keyFigure", gql.request.action));
            let work = async move {
                let request = KeyFigureRequest {
                    id: &args.id,
                    municipality: args.municipality.as_deref(),
                    year: args.year.as_deref(),
                    filters: args.filters,
                    group: args.group?,
                };
                gql.core.key_figure(&gql.principal, request).await
            };
            let table = gql
                .audited(&request, None, work)
                .await
                .map_err(field_error)?;
            Ok(Some(FieldValue::owned_any(json_value(&table)?)))
        })
    })
    .description("One key figure for the comparison group and the country, after disclosure control (primary and complementary suppression)")
    .argument(InputValue::new("id", TypeRef::named_nn(TypeRef::STRING)))
    .argument(
        InputValue::new("year", TypeRef::named(TypeRef::INT))
            .description("The year (the key figure's dimension aar)"),
    )
    .argument(InputValue::new("group", TypeRef::named("KeyFigureGroup")))
    .argument(
        InputValue::new("compareWith", TypeRef::named_nn_list(TypeRef::STRING))
            .description("Municipality codes, with group SELECTED"),
    )
    .argument(InputValue::new(
        "filters",
        TypeRef::named_nn_list("KeyFigureFilter"),
    ))
    .argument(
        InputValue::new("municipality", TypeRef::named(TypeRef::STRING))
            .description("Municipality code to act for, when the token grants several"),
    )
}

/// Adds `keyFigures` and `keyFigure` to the query root.
pub fn root_fields(query: Object) -> Object {
    query.field(list_field()).field(table_field())
}
