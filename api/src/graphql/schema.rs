//! The dynamic schema, generated from the catalogue: per dataset a typed row, a typed
//! `where`, an order, a page field and an aggregate field.

use std::sync::Arc;

use async_graphql::Value;
use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, Scalar, Schema,
    SchemaBuilder, SchemaError, TypeRef,
};
use dap_lake::Measure;
use dap_lake::aggregate::is_numeric;
use dap_lake::predicate::Operator;
use dap_schema::{ColumnType, DatasetDef};

use super::limits::{DEFAULT_FIRST, DatasetFields, MAX_DEPTH};
use super::resolve::{self, MeasureRef, RowRef};
use crate::app::datasets::Aggregate;
use crate::app::paging::Page;

/// Builds the schema for `datasets`. Datasets whose id or columns are not valid GraphQL
/// names are left out (and logged).
pub fn build(
    datasets: &[Arc<DatasetDef>],
    suggestions: bool,
) -> Result<(Schema, DatasetFields), SchemaError> {
    let mut builder = Schema::build("Query", Some("Mutation"), None)
        .register(super::admin::json_scalar())
        .register(super::admin::mutation());
    for input in super::admin::input_objects() {
        builder = builder.register(input);
    }
    let mut query = root_fields(Object::new("Query"));
    let mut fields = DatasetFields::default();
    builder = shared_types(builder);
    for dataset in datasets {
        let Some(field) = field_name(dataset) else {
            tracing::warn!(dataset = %dataset.id.as_str(), "dataset left out of the GraphQL schema: names are not GraphQL names");
            continue;
        };
        let (b, q) = dataset_types(builder, query, dataset, &field);
        builder = b;
        query = q;
        fields.aggregates.insert(format!("{field}_aggregate"));
        fields.pages.insert(field);
    }
    builder = builder
        .register(query)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(2_000)
        .limit_recursive_depth(32)
        .limit_directives(4);
    if !suggestions {
        builder = builder.disable_suggestions();
    }
    Ok((builder.finish()?, fields))
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// `oekonomi.posteringer` → `oekonomi_posteringer`, when every name is usable.
fn field_name(dataset: &DatasetDef) -> Option<String> {
    let field = dataset.id.as_str().replace(['.', '-'], "_");
    let columns_ok = dataset.columns.iter().all(|c| {
        is_name(&c.name) && !["and", "or", "true", "false", "null"].contains(&c.name.as_str())
    });
    let reserved = [
        "datasets",
        "me",
        "machineClients",
        "keyFigures",
        "keyFigure",
    ]
    .contains(&field.as_str());
    (is_name(&field) && columns_ok && !reserved).then_some(field)
}

fn prefix(field: &str) -> String {
    field
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The scalar a column's values have.
fn scalar(t: ColumnType) -> &'static str {
    match t {
        ColumnType::String => TypeRef::STRING,
        ColumnType::Int32 => TypeRef::INT,
        ColumnType::Int64 => "Int64",
        ColumnType::Float64 => TypeRef::FLOAT,
        ColumnType::Decimal { .. } => "Decimal",
        ColumnType::Date => "Date",
        ColumnType::Boolean => TypeRef::BOOLEAN,
    }
}

/// The scalar of `measure` over a column of type `t`.
fn measure_scalar(measure: Measure, t: ColumnType) -> &'static str {
    match (measure, t) {
        (_, ColumnType::Decimal { .. }) => "Decimal",
        (Measure::Avg, _) | (_, ColumnType::Float64) => TypeRef::FLOAT,
        (Measure::Sum, _) => "Int64",
        (_, t) => scalar(t),
    }
}

fn shared_types(builder: SchemaBuilder) -> SchemaBuilder {
    let number_or_text = |v: &Value| matches!(v, Value::Number(_) | Value::String(_));
    let mut builder = builder
        .register(
            Scalar::new("Int64")
                .description("A 64-bit integer, as a JSON number")
                .validator(move |v| matches!(v, Value::Number(n) if n.is_i64() || n.is_u64())),
        )
        .register(
            Scalar::new("Decimal")
                .description(
                    "An exact decimal as a string, e.g. \"24517.12\"; input also as a number",
                )
                .validator(number_or_text),
        )
        .register(
            Scalar::new("Date")
                .description("A calendar date, YYYY-MM-DD")
                .validator(|v| matches!(v, Value::String(_))),
        )
        .register(
            Scalar::new("DateTime")
                .description("An RFC 3339 instant, e.g. 2026-01-31T12:00:00Z")
                .validator(|v| matches!(v, Value::String(_))),
        )
        .register(Enum::new("SortDirection").item("ASC").item("DESC"))
        .register(
            Object::new("PageInfo")
                .field(Field::new(
                    "hasNextPage",
                    TypeRef::named_nn(TypeRef::BOOLEAN),
                    |ctx| {
                        FieldFuture::new(async move {
                            let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                            Ok(Some(Value::from(page.next_cursor.is_some())))
                        })
                    },
                ))
                .field(Field::new(
                    "endCursor",
                    TypeRef::named(TypeRef::STRING),
                    |ctx| {
                        FieldFuture::new(async move {
                            let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                            Ok(page.next_cursor.clone().map(Value::from))
                        })
                    },
                )),
        )
        .register(super::catalogue::dataset_object())
        .register(super::catalogue::column_object())
        .register(super::catalogue::me_object());
    let (objects, inputs, enums) = super::key_figures::types();
    for object in objects {
        builder = builder.register(object);
    }
    for input in inputs {
        builder = builder.register(input);
    }
    for e in enums {
        builder = builder.register(e);
    }
    for t in [
        ColumnType::String,
        ColumnType::Int32,
        ColumnType::Int64,
        ColumnType::Float64,
        ColumnType::Decimal {
            precision: 38,
            scale: 0,
        },
        ColumnType::Date,
        ColumnType::Boolean,
    ] {
        builder = builder.register(filter_input(t));
    }
    builder
}

fn filter_name(t: ColumnType) -> String {
    format!("{}Filter", scalar(t))
}

/// `eq ne lt lte gt gte in isNull` for one column type, plus the text tests on text
/// columns and the date parts on dates.
fn filter_input(t: ColumnType) -> InputObject {
    let ty = scalar(t);
    let mut input = InputObject::new(filter_name(t))
        .description(format!("Conditions on a {ty} column, combined with AND"))
        .field(InputValue::new("eq", TypeRef::named(ty)))
        .field(InputValue::new("ne", TypeRef::named(ty)));
    if t != ColumnType::Boolean {
        for op in ["lt", "lte", "gt", "gte"] {
            input = input.field(InputValue::new(op, TypeRef::named(ty)));
        }
    }
    input = input.field(InputValue::new("in", TypeRef::named_nn_list(ty)));
    for op in Operator::ALL {
        let name = super::filter::graphql_name(op);
        match op {
            Operator::Prefix
            | Operator::Contains
            | Operator::Suffix
            | Operator::NotPrefix
            | Operator::NotContains
            | Operator::NotSuffix
                if t == ColumnType::String =>
            {
                input = input.field(InputValue::new(name, TypeRef::named(TypeRef::STRING)));
            }
            Operator::Year | Operator::Month | Operator::Day if t == ColumnType::Date => {
                input = input.field(InputValue::new(name, TypeRef::named_nn_list(TypeRef::INT)));
            }
            _ => {}
        }
    }
    input.field(InputValue::new("isNull", TypeRef::named(TypeRef::BOOLEAN)))
}

fn root_fields(query: Object) -> Object {
    let query = query
        .field(super::catalogue::datasets_field())
        .field(super::catalogue::me_field())
        .field(super::admin::machine_clients_field());
    super::key_figures::root_fields(query)
}

fn scope_arguments(field: Field, p: &str) -> Field {
    field
        .argument(
            InputValue::new("municipality", TypeRef::named(TypeRef::STRING))
                .description("Municipality code to act for, when the token grants several"),
        )
        .argument(InputValue::new(
            "where",
            TypeRef::named(format!("{p}Where")),
        ))
        .argument(
            InputValue::new("asOfVersion", TypeRef::named("Int64"))
                .description("Read this table version (time travel)"),
        )
        .argument(
            InputValue::new("asOfTimestamp", TypeRef::named("DateTime"))
                .description("Read the version current at this instant"),
        )
}

fn dataset_types(
    mut builder: SchemaBuilder,
    query: Object,
    dataset: &DatasetDef,
    field: &str,
) -> (SchemaBuilder, Object) {
    let p = prefix(field);
    let mut row = Object::new(format!("{p}Row"));
    let mut filter = InputObject::new(format!("{p}Where"))
        .description("Conditions combined with AND; `and` and `or` take lists of conditions")
        .field(InputValue::new(
            "and",
            TypeRef::named_nn_list(format!("{p}Where")),
        ))
        .field(InputValue::new(
            "or",
            TypeRef::named_nn_list(format!("{p}Where")),
        ));
    let mut columns = Enum::new(format!("{p}Column"));
    for c in &dataset.columns {
        let name = c.name.clone();
        row = row.field(
            Field::new(
                c.name.clone(),
                TypeRef::named(scalar(c.data_type)),
                move |ctx| {
                    let name = name.clone();
                    FieldFuture::new(async move {
                        let row = ctx.parent_value.try_downcast_ref::<RowRef>()?;
                        row.cell(&name, &name).map(Some)
                    })
                },
            )
            .description(c.description.clone()),
        );
        filter = filter.field(InputValue::new(
            c.name.clone(),
            TypeRef::named(filter_name(c.data_type)),
        ));
        columns = columns.item(c.name.clone());
    }
    let order = InputObject::new(format!("{p}Order"))
        .field(InputValue::new(
            "column",
            TypeRef::named_nn(format!("{p}Column")),
        ))
        .field(
            InputValue::new("direction", TypeRef::named("SortDirection"))
                .default_value(Value::Enum(async_graphql::Name::new("ASC"))),
        );
    let page = Object::new(format!("{p}Page"))
        .field(version_field::<Page>(|d| d.version))
        .field(municipality_field::<Page>(|d| d.municipality.clone()))
        .field(Field::new(
            "nodes",
            TypeRef::named_nn_list_nn(format!("{p}Row")),
            |ctx| {
                FieldFuture::new(async move {
                    let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                    Ok(Some(FieldValue::list(
                        RowRef::all(&page.batch).map(FieldValue::owned_any),
                    )))
                })
            },
        ))
        .field(Field::new(
            "pageInfo",
            TypeRef::named_nn("PageInfo"),
            |ctx| {
                FieldFuture::new(async move {
                    let page = ctx.parent_value.try_downcast_ref::<Page>()?;
                    Ok(Some(FieldValue::owned_any(page.clone())))
                })
            },
        ));
    let numeric: Vec<_> = dataset
        .columns
        .iter()
        .filter(|c| is_numeric(c.data_type))
        .collect();
    let mut group = Object::new(format!("{p}Group"))
        .field(Field::new(
            "key",
            TypeRef::named_nn(format!("{p}Row")),
            |ctx| {
                FieldFuture::new(async move {
                    let row = ctx.parent_value.try_downcast_ref::<RowRef>()?;
                    Ok(Some(FieldValue::owned_any(row.clone())))
                })
            },
        ))
        .field(Field::new("count", TypeRef::named_nn("Int64"), |ctx| {
            FieldFuture::new(async move {
                let row = ctx.parent_value.try_downcast_ref::<RowRef>()?;
                row.cell(dap_lake::aggregate::COUNT_COLUMN, "count")
                    .map(Some)
            })
        }));
    for measure in [Measure::Sum, Measure::Avg, Measure::Min, Measure::Max] {
        if numeric.is_empty() {
            break;
        }
        let type_name = format!("{p}{}", prefix(measure.as_str()));
        let mut object = Object::new(type_name.clone());
        for c in &numeric {
            let name = c.name.clone();
            object = object.field(Field::new(
                c.name.clone(),
                TypeRef::named(measure_scalar(measure, c.data_type)),
                move |ctx| {
                    let name = name.clone();
                    FieldFuture::new(async move {
                        let m = ctx.parent_value.try_downcast_ref::<MeasureRef>()?;
                        m.row.cell(&m.measure.output(&name), &name).map(Some)
                    })
                },
            ));
        }
        builder = builder.register(object);
        group = group.field(Field::new(
            measure.as_str(),
            TypeRef::named(type_name),
            move |ctx| {
                FieldFuture::new(async move {
                    let row = ctx.parent_value.try_downcast_ref::<RowRef>()?;
                    Ok(Some(FieldValue::owned_any(MeasureRef {
                        row: row.clone(),
                        measure,
                    })))
                })
            },
        ));
    }
    let aggregate = Object::new(format!("{p}Aggregate"))
        .field(version_field::<Aggregate>(|d| d.version))
        .field(municipality_field::<Aggregate>(|d| d.municipality.clone()))
        .field(Field::new(
            "groups",
            TypeRef::named_nn_list_nn(format!("{p}Group")),
            |ctx| {
                FieldFuture::new(async move {
                    let data = ctx.parent_value.try_downcast_ref::<Aggregate>()?;
                    Ok(Some(FieldValue::list(
                        RowRef::all(&data.batch).map(FieldValue::owned_any),
                    )))
                })
            },
        ));
    let id = dataset.id.as_str().to_owned();
    let page_field = scope_arguments(
        Field::new(field.to_owned(), TypeRef::named(format!("{p}Page")), {
            let id = id.clone();
            move |ctx| resolve::page(ctx, id.clone())
        }),
        &p,
    )
    .description(dataset.title_en.clone())
    .argument(InputValue::new(
        "orderBy",
        TypeRef::named_nn_list(format!("{p}Order")),
    ))
    .argument(
        InputValue::new("first", TypeRef::named(TypeRef::INT))
            .default_value(i64::try_from(DEFAULT_FIRST).unwrap_or(100)),
    )
    .argument(InputValue::new("after", TypeRef::named(TypeRef::STRING)));
    let aggregate_field = scope_arguments(
        Field::new(
            format!("{field}_aggregate"),
            TypeRef::named(format!("{p}Aggregate")),
            move |ctx| resolve::aggregate(ctx, id.clone()),
        ),
        &p,
    )
    .argument(InputValue::new(
        "groupBy",
        TypeRef::named_nn_list(format!("{p}Column")),
    ));
    builder = builder
        .register(row)
        .register(filter)
        .register(columns)
        .register(order)
        .register(page)
        .register(group)
        .register(aggregate);
    (builder, query.field(page_field).field(aggregate_field))
}

fn version_field<T: Send + Sync + 'static>(get: fn(&T) -> u64) -> Field {
    Field::new("tableVersion", TypeRef::named_nn("Int64"), move |ctx| {
        FieldFuture::new(async move {
            let data = ctx.parent_value.try_downcast_ref::<T>()?;
            Ok(Some(Value::from(get(data))))
        })
    })
}

fn municipality_field<T: Send + Sync + 'static>(get: fn(&T) -> String) -> Field {
    Field::new(
        "municipality",
        TypeRef::named_nn(TypeRef::STRING),
        move |ctx| {
            FieldFuture::new(async move {
                let data = ctx.parent_value.try_downcast_ref::<T>()?;
                Ok(Some(Value::from(get(data))))
            })
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(suggestions: bool) -> (Schema, DatasetFields) {
        let datasets: Vec<Arc<DatasetDef>> = dap_lake::demo::datasets()
            .into_iter()
            .map(Arc::new)
            .collect();
        build(&datasets, suggestions).unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[tokio::test]
    async fn every_demo_dataset_has_a_page_and_an_aggregate_field() {
        let (schema, fields) = schema(false);
        for id in dap_lake::demo::datasets()
            .iter()
            .map(|d| d.id.as_str().replace('.', "_"))
        {
            assert!(fields.pages.contains(&id), "{id}");
            assert!(
                fields.aggregates.contains(&format!("{id}_aggregate")),
                "{id}"
            );
        }
        let sdl = schema.sdl();
        assert!(sdl.contains("beloeb: Decimal"), "decimals are exact");
        assert!(sdl.contains("bogfoeringsdato: Date"));
        assert!(sdl.contains("input DecimalFilter"));
    }

    #[tokio::test]
    async fn suggestions_only_in_demo_mode() {
        let query = "{ oekonomi_posteringr { tableVersion } }";
        let quiet = schema(false).0.execute(query).await;
        let chatty = schema(true).0.execute(query).await;
        assert_eq!(quiet.errors.len(), 1);
        assert!(
            !quiet.errors[0].message.contains("Did you mean"),
            "{:?}",
            quiet.errors
        );
        assert!(
            chatty.errors[0].message.contains("Did you mean"),
            "{:?}",
            chatty.errors
        );
    }
}
