//! Checking a dataset definition against its table before it is registered: the table
//! exists and opens, every declared column exists with a type dap can read as declared,
//! and the table is partitioned by the tenant column (tenant isolation reads one
//! municipality's files by partition).

use std::sync::Arc;

use dap_schema::{ColumnType, DatasetDef};
use deltalake::arrow::datatypes::{DataType, Schema};

use crate::{Error, Lake, Result};

impl Lake {
    /// Checks that `dataset`'s table exists, opens, has every declared column with a
    /// compatible type and is partitioned by the tenant column. The error,
    /// [`Error::TableMismatch`] (a client error), lists every difference with how to fix
    /// it. The table is opened afresh, not from the cache, and is not cached.
    pub async fn check_table(self: &Arc<Self>, dataset: &DatasetDef) -> Result<()> {
        let mismatch = |location: String, differences: Vec<String>| Error::TableMismatch {
            dataset: dataset.id.to_string(),
            location,
            differences,
        };
        let url = self.location(dataset).map_err(|_| {
            mismatch(
                dataset.location.clone(),
                vec![format!(
                    "location '{}' is neither a URL nor a relative path under the lake root; use e.g. az://warehouse/delta/borger/befolkning or borger/befolkning",
                    dataset.location
                )],
            )
        })?;
        let opened = {
            let url = url.clone();
            let storage = self.storage.clone();
            self.runtime()
                .run(async move { Ok(crate::storage::open_table(url, &storage).await) })
                .await?
        };
        let table = opened.map_err(|e| {
            mismatch(
                url.to_string(),
                vec![format!(
                    "no Delta table can be opened there ({e}); check location (relative paths resolve under the lake root)"
                )],
            )
        })?;
        let snapshot = table.snapshot().map_err(|e| {
            mismatch(
                url.to_string(),
                vec![format!("the table has no readable snapshot ({e})")],
            )
        })?;
        let schema = snapshot.snapshot().arrow_schema();
        let partitions = snapshot.metadata().partition_columns().to_vec();
        let differences = differences(dataset, &schema, &partitions);
        if differences.is_empty() {
            Ok(())
        } else {
            Err(mismatch(url.to_string(), differences))
        }
    }
}

/// Every way `dataset` disagrees with a table of `schema` partitioned by `partitions`.
pub(crate) fn differences(
    dataset: &DatasetDef,
    schema: &Schema,
    partitions: &[String],
) -> Vec<String> {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut out = Vec::new();
    for column in &dataset.columns {
        let Ok(field) = schema.field_with_name(&column.name) else {
            out.push(format!(
                "column '{}' is declared but the table has no such column; fix its name or remove it (the table has: {})",
                column.name,
                names.join(", ")
            ));
            continue;
        };
        if !compatible(column.data_type, field.data_type()) {
            let fix = match declared_as(field.data_type()) {
                Some(t) => format!("declare it as {t}"),
                None => "leave it out: dap has no column type for it".to_owned(),
            };
            out.push(format!(
                "column '{}' is declared {} but the table stores {}; {fix}",
                column.name,
                column.data_type,
                field.data_type()
            ));
        }
    }
    if !partitions.iter().any(|p| p == &dataset.tenant_column) {
        out.push(format!(
            "the table is partitioned by [{}], not by the tenant column '{}'; dap reads one municipality's files by partition, so set tenant_column to the municipality partition column or repartition the table by it",
            partitions.join(", "),
            dataset.tenant_column
        ));
    }
    out
}

/// True when a column stored as `stored` can be served as `declared`: the same type, or
/// a narrower one of the same kind (filters and encoders widen it).
fn compatible(declared: ColumnType, stored: &DataType) -> bool {
    use DataType as A;
    match declared {
        ColumnType::String => matches!(stored, A::Utf8 | A::LargeUtf8 | A::Utf8View),
        ColumnType::Int32 => matches!(stored, A::Int8 | A::Int16 | A::Int32),
        ColumnType::Int64 => matches!(stored, A::Int8 | A::Int16 | A::Int32 | A::Int64),
        ColumnType::Float64 => matches!(stored, A::Float32 | A::Float64),
        ColumnType::Decimal { precision, scale } => {
            matches!(stored, A::Decimal128(p, s) if *s == scale && *p <= precision)
        }
        ColumnType::Date => matches!(stored, A::Date32),
        ColumnType::Boolean => matches!(stored, A::Boolean),
    }
}

/// The column type to declare for a stored type, if dap has one.
fn declared_as(stored: &DataType) -> Option<ColumnType> {
    use DataType as A;
    Some(match stored {
        A::Utf8 | A::LargeUtf8 | A::Utf8View => ColumnType::String,
        A::Int8 | A::Int16 | A::Int32 => ColumnType::Int32,
        A::Int64 => ColumnType::Int64,
        A::Float32 | A::Float64 => ColumnType::Float64,
        A::Decimal128(precision, scale) => ColumnType::Decimal {
            precision: *precision,
            scale: *scale,
        },
        A::Date32 => ColumnType::Date,
        A::Boolean => ColumnType::Boolean,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::datatypes::Field;

    fn population() -> DatasetDef {
        crate::demo::datasets()
            .into_iter()
            .find(|d| d.id.as_str() == "borger.befolkning")
            .expect("demo dataset")
    }

    #[test]
    fn the_demo_schema_matches_its_definition() {
        let def = population();
        let schema = crate::demo::arrow_schema(&def);
        assert_eq!(
            differences(&def, &schema, &["kommunekode".into()]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn every_difference_is_listed_with_a_fix() {
        let def = population();
        // The table lacks `antal`, stores `alder` as text and is not partitioned.
        let fields: Vec<Field> = crate::demo::arrow_schema(&def)
            .fields()
            .iter()
            .filter(|f| f.name() != "antal")
            .map(|f| match f.name().as_str() {
                "alder" => Field::new("alder", DataType::Utf8, true),
                _ => f.as_ref().clone(),
            })
            .collect();
        let found = differences(&def, &Schema::new(fields), &[]);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].contains(
                "'alder' is declared int32 but the table stores Utf8; declare it as string"
            ),
            "{found:?}"
        );
        assert!(
            found[1].contains("'antal' is declared but the table has no such column"),
            "{found:?}"
        );
        assert!(
            found[2].contains("not by the tenant column 'kommunekode'"),
            "{found:?}"
        );
    }

    #[test]
    fn narrower_stored_types_are_compatible_and_wider_are_not() {
        assert!(compatible(ColumnType::Int64, &DataType::Int32));
        assert!(!compatible(ColumnType::Int32, &DataType::Int64));
        let money = ColumnType::Decimal {
            precision: 18,
            scale: 2,
        };
        assert!(compatible(money, &DataType::Decimal128(12, 2)));
        assert!(!compatible(money, &DataType::Decimal128(18, 3)));
        assert!(!compatible(ColumnType::Date, &DataType::Utf8));
    }
}
