//! The filter language of the rows and export endpoints.
//!
//! One filter is `column:operator:value`, repeated filters are combined with AND:
//!
//! | operator | meaning | example |
//! |---|---|---|
//! | `eq`, `ne`, `lt`, `lte`, `gt`, `gte` | comparison | `aar:gte:2020` |
//! | `in` | one of up to 100 comma-separated values | `koen:in:K,M` |
//! | `prefix`, `contains`, `suffix` | text starts with, contains, ends with (text columns) | `funktion:contains:22` |
//! | `not_prefix`, `not_contains`, `not_suffix` | the negations (a missing value matches neither) | `art:not_prefix:1.` |
//! | `year`, `month`, `day` | a date's year, month (1-12) or day (1-31) is one of up to 100 comma-separated numbers | `bogfoeringsdato:month:1,2,3` |
//! | `is_null` | `true` or `false` | `cpr:is_null:false` |
//!
//! Values are parsed by the column's type (integers, decimals with `.`, dates as
//! `YYYY-MM-DD`, `true`/`false`) before any query runs. There are no casts or arithmetic,
//! and the only functions are total over their column type (text tests, date parts), so a
//! filter cannot raise an error while rows are evaluated. Text is matched literally:
//! `%` and `_` are characters, not wildcards.

use std::fmt;

use chrono::NaiveDate;
use dap_schema::{ColumnDef, ColumnType};
use deltalake::datafusion::functions::expr_fn::{contains, date_part, ends_with, starts_with};
use deltalake::datafusion::prelude::{Expr, ident, lit};
use deltalake::datafusion::scalar::ScalarValue;

use crate::{Error, Result};

/// Most values an `in` filter may list.
pub const MAX_IN_VALUES: usize = 100;
/// The operators' names.
pub const OPERATORS: &str = "eq, ne, lt, lte, gt, gte, in, prefix, contains, suffix, \
not_prefix, not_contains, not_suffix, year, month, day, is_null";

/// Where in a query a column is named, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clause {
    Select,
    Filter,
    Order,
    Group,
    Measure,
}

impl Clause {
    /// The clause in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Select => "the selected columns (select)",
            Self::Filter => "a filter (filter)",
            Self::Order => "the sort order (order_by)",
            Self::Group => "the grouping",
            Self::Measure => "a measure",
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Comparison {
    fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
        }
    }
}

/// A typed literal, already checked against its column's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    String(String),
    Int32(i32),
    Int64(i64),
    Float64(f64),
    /// Unscaled value with the column's precision and scale.
    Decimal(i128, u8, i8),
    /// Days since 1970-01-01.
    Date(i32),
    Boolean(bool),
}

impl Literal {
    /// Parses `raw` as a value of `data_type`.
    pub fn parse(raw: &str, data_type: ColumnType) -> std::result::Result<Self, String> {
        match data_type {
            ColumnType::String => Ok(Self::String(raw.to_owned())),
            ColumnType::Int32 => raw
                .parse()
                .map(Self::Int32)
                .map_err(|_| format!("'{raw}' is not a 32-bit integer")),
            ColumnType::Int64 => raw
                .parse()
                .map(Self::Int64)
                .map_err(|_| format!("'{raw}' is not an integer")),
            ColumnType::Float64 => raw
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Self::Float64)
                .ok_or_else(|| format!("'{raw}' is not a number (use . as decimal separator)")),
            ColumnType::Decimal { precision, scale } => {
                parse_decimal(raw, precision, scale).map(|v| Self::Decimal(v, precision, scale))
            }
            ColumnType::Date => NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| {
                    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
                    i32::try_from((d - epoch).num_days()).ok()
                })
                .map(Self::Date)
                .ok_or_else(|| format!("'{raw}' is not a date (use YYYY-MM-DD)")),
            ColumnType::Boolean => match raw {
                "true" => Ok(Self::Boolean(true)),
                "false" => Ok(Self::Boolean(false)),
                _ => Err(format!("'{raw}' is not a boolean (use true or false)")),
            },
        }
    }

    fn to_scalar(&self) -> ScalarValue {
        match self {
            Self::String(s) => ScalarValue::Utf8(Some(s.clone())),
            Self::Int32(v) => ScalarValue::Int32(Some(*v)),
            Self::Int64(v) => ScalarValue::Int64(Some(*v)),
            Self::Float64(v) => ScalarValue::Float64(Some(*v)),
            Self::Decimal(v, p, s) => ScalarValue::Decimal128(Some(*v), *p, *s),
            Self::Date(d) => ScalarValue::Date32(Some(*d)),
            Self::Boolean(b) => ScalarValue::Boolean(Some(*b)),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => write!(f, "{s:?}"),
            Self::Int32(v) => write!(f, "{v}"),
            Self::Int64(v) => write!(f, "{v}"),
            Self::Float64(v) => write!(f, "{v}"),
            Self::Decimal(v, _, s) => f.write_str(&format_decimal(*v, *s)),
            Self::Date(d) => {
                let date = NaiveDate::from_ymd_opt(1970, 1, 1)
                    .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(*d))));
                match date {
                    Some(date) => write!(f, "{date}"),
                    None => write!(f, "day {d}"),
                }
            }
            Self::Boolean(b) => write!(f, "{b}"),
        }
    }
}

/// How a text filter matches its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextTest {
    Prefix,
    Contains,
    Suffix,
}

impl TextTest {
    fn as_str(self) -> &'static str {
        match self {
            Self::Prefix => "prefix",
            Self::Contains => "contains",
            Self::Suffix => "suffix",
        }
    }
}

/// A part of a date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatePart {
    Year,
    Month,
    Day,
}

impl DatePart {
    fn as_str(self) -> &'static str {
        match self {
            Self::Year => "year",
            Self::Month => "month",
            Self::Day => "day",
        }
    }

    /// The values the part can take.
    fn range(self) -> std::ops::RangeInclusive<i32> {
        match self {
            Self::Year => 1..=9998,
            Self::Month => 1..=12,
            Self::Day => 1..=31,
        }
    }
}

/// What a filter checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Compare(Comparison, Literal),
    In(Vec<Literal>),
    /// The text matches (or, `negated`, does not match) the value. SQL logic: a missing
    /// value matches neither.
    Text {
        test: TextTest,
        value: String,
        negated: bool,
    },
    /// The date's part is one of the values.
    DatePart(DatePart, Vec<i32>),
    IsNull(bool),
}

/// One parsed filter on one visible column.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub condition: Condition,
}

/// A filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    /// One of the values.
    In,
    /// Text starts with the value (text columns only).
    Prefix,
    /// Text contains the value (text columns only).
    Contains,
    /// Text ends with the value (text columns only).
    Suffix,
    /// Text does not start with the value (a missing value matches neither).
    NotPrefix,
    /// Text does not contain the value.
    NotContains,
    /// Text does not end with the value.
    NotSuffix,
    /// A date's year is one of the values.
    Year,
    /// A date's month (1-12) is one of the values.
    Month,
    /// A date's day of the month (1-31) is one of the values.
    Day,
    /// `true`: the value is missing; `false`: it is present.
    IsNull,
}

impl Operator {
    /// Every operator, in the order they are documented.
    pub const ALL: [Self; 17] = [
        Self::Eq,
        Self::Ne,
        Self::Lt,
        Self::Lte,
        Self::Gt,
        Self::Gte,
        Self::In,
        Self::Prefix,
        Self::Contains,
        Self::Suffix,
        Self::NotPrefix,
        Self::NotContains,
        Self::NotSuffix,
        Self::Year,
        Self::Month,
        Self::Day,
        Self::IsNull,
    ];

    /// The operator's name (`eq` … `is_null`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Lt => "lt",
            Self::Lte => "lte",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::In => "in",
            Self::Prefix => "prefix",
            Self::Contains => "contains",
            Self::Suffix => "suffix",
            Self::NotPrefix => "not_prefix",
            Self::NotContains => "not_contains",
            Self::NotSuffix => "not_suffix",
            Self::Year => "year",
            Self::Month => "month",
            Self::Day => "day",
            Self::IsNull => "is_null",
        }
    }

    /// Whether the operator takes a list of values (`in`, `year`, `month`, `day`).
    pub fn takes_list(self) -> bool {
        matches!(self, Self::In | Self::Year | Self::Month | Self::Day)
    }

    /// The text test of a text operator, and whether it is negated.
    fn text_test(self) -> Option<(TextTest, bool)> {
        Some(match self {
            Self::Prefix => (TextTest::Prefix, false),
            Self::Contains => (TextTest::Contains, false),
            Self::Suffix => (TextTest::Suffix, false),
            Self::NotPrefix => (TextTest::Prefix, true),
            Self::NotContains => (TextTest::Contains, true),
            Self::NotSuffix => (TextTest::Suffix, true),
            _ => return None,
        })
    }

    fn date_part(self) -> Option<DatePart> {
        match self {
            Self::Year => Some(DatePart::Year),
            Self::Month => Some(DatePart::Month),
            Self::Day => Some(DatePart::Day),
            _ => None,
        }
    }

    /// The operator with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }

    fn comparison(self) -> Option<Comparison> {
        Some(match self {
            Self::Eq => Comparison::Eq,
            Self::Ne => Comparison::Ne,
            Self::Lt => Comparison::Lt,
            Self::Lte => Comparison::Lte,
            Self::Gt => Comparison::Gt,
            Self::Gte => Comparison::Gte,
            _ => return None,
        })
    }
}

/// A filter as a caller states it: a column, an operator and its values as text, before
/// the values are typed against the column. `in`, `year`, `month` and `day` take 1 to
/// [`MAX_IN_VALUES`] values, every other operator exactly one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    pub column: String,
    pub operator: Operator,
    pub values: Vec<String>,
}

impl Filter {
    /// Types `spec` against the columns the caller may see. A column the caller may not
    /// see is reported exactly like one that does not exist.
    pub fn typed(spec: &FilterSpec, visible: &[&ColumnDef]) -> Result<Self> {
        let column = spec.column.as_str();
        let invalid = |reason: String| Error::InvalidFilter {
            column: column.chars().take(64).collect(),
            reason,
        };
        let def =
            visible
                .iter()
                .find(|c| c.name == column)
                .ok_or_else(|| Error::UnknownColumn {
                    parameter: Clause::Filter.as_str(),
                    column: column.chars().take(64).collect(),
                    valid: names(visible),
                })?;
        let parse = |v: &str| Literal::parse(v, def.data_type).map_err(invalid);
        let op = spec.operator;
        let one = || match spec.values.as_slice() {
            [value] => Ok(value.as_str()),
            _ => Err(invalid(format!("{} takes exactly one value", op.name()))),
        };
        let condition = match op {
            Operator::Lt | Operator::Lte | Operator::Gt | Operator::Gte
                if def.data_type == ColumnType::Boolean =>
            {
                return Err(invalid(format!(
                    "{} does not apply to boolean column {column}",
                    op.name()
                )));
            }
            Operator::In => {
                let values = list(spec, op).map_err(invalid)?.iter().map(|v| parse(v));
                Condition::In(values.collect::<Result<_>>()?)
            }
            Operator::IsNull => match one()? {
                "true" => Condition::IsNull(true),
                "false" => Condition::IsNull(false),
                _ => return Err(invalid("is_null takes true or false".into())),
            },
            _ => {
                if let Some((test, negated)) = op.text_test() {
                    if def.data_type != ColumnType::String {
                        return Err(invalid(format!(
                            "{} applies to text columns only; {column} is {}",
                            op.name(),
                            def.data_type
                        )));
                    }
                    Condition::Text {
                        test,
                        value: one()?.to_owned(),
                        negated,
                    }
                } else if let Some(part) = op.date_part() {
                    date_part_condition(spec, def, part).map_err(invalid)?
                } else {
                    match op.comparison() {
                        Some(c) => Condition::Compare(c, parse(one()?)?),
                        None => return Err(invalid(format!("{} is not a comparison", op.name()))),
                    }
                }
            }
        };
        Ok(Self {
            column: column.to_owned(),
            condition,
        })
    }

    /// The DataFusion expression for this filter.
    pub fn to_expr(&self) -> Expr {
        let column = ident(&self.column);
        match &self.condition {
            Condition::Compare(op, value) => {
                let value = lit(value.to_scalar());
                match op {
                    Comparison::Eq => column.eq(value),
                    Comparison::Ne => column.not_eq(value),
                    Comparison::Lt => column.lt(value),
                    Comparison::Lte => column.lt_eq(value),
                    Comparison::Gt => column.gt(value),
                    Comparison::Gte => column.gt_eq(value),
                }
            }
            Condition::In(values) => {
                column.in_list(values.iter().map(|v| lit(v.to_scalar())).collect(), false)
            }
            Condition::Text {
                test,
                value,
                negated,
            } => {
                let value = lit(value.clone());
                // Functions rather than LIKE: the value is matched literally, so a `%` or
                // `_` in it is a character, never a wildcard.
                let holds = match test {
                    TextTest::Prefix => starts_with(column, value),
                    TextTest::Contains => contains(column, value),
                    TextTest::Suffix => ends_with(column, value),
                };
                if *negated { !holds } else { holds }
            }
            Condition::DatePart(part, values) => date_part_expr(column, *part, values),
            Condition::IsNull(true) => column.is_null(),
            Condition::IsNull(false) => column.is_not_null(),
        }
    }
}

/// The values of a list operator: 1 to [`MAX_IN_VALUES`].
fn list(spec: &FilterSpec, op: Operator) -> std::result::Result<&[String], String> {
    if spec.values.is_empty() || spec.values.len() > MAX_IN_VALUES {
        return Err(format!(
            "{} takes at most {MAX_IN_VALUES} values (and at least one); it has {}",
            op.name(),
            spec.values.len()
        ));
    }
    Ok(&spec.values)
}

/// `year`, `month` or `day` of a date column: whole numbers in the part's range.
fn date_part_condition(
    spec: &FilterSpec,
    def: &ColumnDef,
    part: DatePart,
) -> std::result::Result<Condition, String> {
    let name = part.as_str();
    if def.data_type != ColumnType::Date {
        return Err(format!(
            "{name} applies to date columns only; {} is {}",
            def.name, def.data_type
        ));
    }
    let range = part.range();
    let values = list(spec, spec.operator)?
        .iter()
        .map(|v| {
            v.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| {
                    format!(
                        "{name} takes whole numbers from {} to {}, not '{}'; e.g. {}:{name}:{}",
                        range.start(),
                        range.end(),
                        v.chars().take(20).collect::<String>(),
                        def.name,
                        range.start()
                    )
                })
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Condition::DatePart(part, values))
}

/// Days since 1970-01-01 of 1 January of `year`.
fn new_year(year: i32) -> Option<i32> {
    let day = NaiveDate::from_ymd_opt(year, 1, 1)?;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((day - epoch).num_days()).ok()
}

/// The date's part is one of `values`. A year is a range of dates, so that file
/// statistics prune by it; months and days are `date_part` (an Int32) in a list.
fn date_part_expr(column: Expr, part: DatePart, values: &[i32]) -> Expr {
    match part {
        DatePart::Year => values
            .iter()
            .filter_map(|y| {
                let (from, to) = (new_year(*y)?, new_year(y + 1)?);
                let date = |d| lit(ScalarValue::Date32(Some(d)));
                Some(
                    column
                        .clone()
                        .gt_eq(date(from))
                        .and(column.clone().lt(date(to))),
                )
            })
            .reduce(Expr::or)
            .unwrap_or(lit(false)),
        DatePart::Month | DatePart::Day => date_part(lit(part.as_str()), column).in_list(
            values
                .iter()
                .map(|v| lit(ScalarValue::Int32(Some(*v))))
                .collect(),
            false,
        ),
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.condition {
            Condition::Compare(op, v) => write!(f, "{} {} {v}", self.column, op.as_str()),
            Condition::In(values) => {
                let values: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(f, "{} in [{}]", self.column, values.join(", "))
            }
            Condition::Text {
                test,
                value,
                negated,
            } => {
                let not = if *negated { "not_" } else { "" };
                write!(f, "{} {not}{} {value:?}", self.column, test.as_str())
            }
            Condition::DatePart(part, values) => {
                let values: Vec<String> = values.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{} {} [{}]",
                    self.column,
                    part.as_str(),
                    values.join(", ")
                )
            }
            Condition::IsNull(b) => write!(f, "{} is_null {b}", self.column),
        }
    }
}

/// Most leaf filters one [`FilterTree`] may hold.
pub const MAX_TREE_FILTERS: usize = 50;
/// Deepest nesting of `and`/`or` in one [`FilterTree`].
pub const MAX_TREE_DEPTH: usize = 8;

/// Filters combined with AND and OR (the GraphQL `where`). A tree only narrows a scan:
/// the lake applies it after the scope's tenant and row predicates, which are always
/// ANDed, so an OR can never reach rows outside the scope.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterTree {
    Leaf(Filter),
    /// Every branch holds (an empty list holds for every row).
    All(Vec<FilterTree>),
    /// At least one branch holds (an empty list holds for no row).
    Any(Vec<FilterTree>),
}

impl FilterTree {
    /// The DataFusion expression for this tree.
    pub fn to_expr(&self) -> Expr {
        match self {
            Self::Leaf(filter) => filter.to_expr(),
            Self::All(branches) => branches
                .iter()
                .map(Self::to_expr)
                .reduce(Expr::and)
                .unwrap_or(lit(true)),
            Self::Any(branches) => branches
                .iter()
                .map(Self::to_expr)
                .reduce(Expr::or)
                .unwrap_or(lit(false)),
        }
    }

    /// Every column the tree names.
    pub fn columns(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.visit(&mut |f| out.push(f.column.as_str()));
        out
    }

    /// Number of leaf filters.
    pub fn leaf_count(&self) -> usize {
        let mut n = 0;
        self.visit(&mut |_| n += 1);
        n
    }

    /// Nesting depth: a leaf is 1.
    pub fn depth(&self) -> usize {
        match self {
            Self::Leaf(_) => 1,
            Self::All(b) | Self::Any(b) => 1 + b.iter().map(Self::depth).max().unwrap_or(0),
        }
    }

    /// Refuses trees larger than [`MAX_TREE_FILTERS`] or deeper than [`MAX_TREE_DEPTH`].
    pub fn check_size(&self) -> Result<()> {
        if self.depth() > MAX_TREE_DEPTH || self.leaf_count() > MAX_TREE_FILTERS {
            return Err(Error::InvalidParameter {
                parameter: "filter tree",
                reason: format!(
                    "at most {MAX_TREE_FILTERS} conditions nested at most {MAX_TREE_DEPTH} levels deep"
                ),
            });
        }
        Ok(())
    }

    fn visit<'a>(&'a self, f: &mut dyn FnMut(&'a Filter)) {
        match self {
            Self::Leaf(filter) => f(filter),
            Self::All(b) | Self::Any(b) => b.iter().for_each(|t| t.visit(f)),
        }
    }
}

impl fmt::Display for FilterTree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, branches: &[FilterTree], op: &str| {
            let parts: Vec<String> = branches.iter().map(ToString::to_string).collect();
            write!(f, "({})", parts.join(op))
        };
        match self {
            Self::Leaf(filter) => write!(f, "{filter}"),
            Self::All(b) => join(f, b, " and "),
            Self::Any(b) => join(f, b, " or "),
        }
    }
}

/// A tree of filters as a caller states it (AND/OR of [`FilterSpec`]s), before its
/// values are typed: [`SpecTree::typed`] gives the [`FilterTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecTree {
    Leaf(FilterSpec),
    All(Vec<SpecTree>),
    Any(Vec<SpecTree>),
}

impl SpecTree {
    /// Types every condition against the visible columns and checks the tree's size.
    pub fn typed(&self, visible: &[&ColumnDef]) -> Result<FilterTree> {
        let tree = self.typed_unchecked(visible)?;
        tree.check_size()?;
        Ok(tree)
    }

    fn typed_unchecked(&self, visible: &[&ColumnDef]) -> Result<FilterTree> {
        let branches = |b: &[SpecTree]| {
            b.iter()
                .map(|t| t.typed_unchecked(visible))
                .collect::<Result<Vec<_>>>()
        };
        Ok(match self {
            Self::Leaf(spec) => FilterTree::Leaf(Filter::typed(spec, visible)?),
            Self::All(b) => FilterTree::All(branches(b)?),
            Self::Any(b) => FilterTree::Any(branches(b)?),
        })
    }
}

/// Comma-separated names of `columns`, for error messages.
pub fn names(columns: &[&ColumnDef]) -> String {
    columns
        .iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_decimal(raw: &str, precision: u8, scale: i8) -> std::result::Result<i128, String> {
    let bad = || {
        format!(
            "'{raw}' is not a decimal with at most {scale} decimals (use . as decimal separator)"
        )
    };
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = usize::try_from(scale).map_err(|_| bad())?;
    if int_part.is_empty()
        || frac_part.len() > scale
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || int_part.len() + scale > usize::from(precision)
    {
        return Err(bad());
    }
    let padded = format!("{int_part}{frac_part:0<scale$}");
    let value: i128 = padded.parse().map_err(|_| bad())?;
    Ok(if negative { -value } else { value })
}

fn format_decimal(value: i128, scale: i8) -> String {
    let scale = usize::try_from(scale).unwrap_or(0);
    let digits = value.unsigned_abs().to_string();
    let sign = if value < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int_part, frac_part) = padded.split_at(padded.len() - scale);
    format!("{sign}{int_part}.{frac_part}")
}

#[cfg(test)]
mod tests {
    use dap_schema::Classification;

    use super::*;

    fn columns() -> Vec<ColumnDef> {
        let col = |name: &str, data_type| ColumnDef {
            name: name.into(),
            data_type,
            classification: Classification::Public,
            description: String::new(),
            constraint: None,
        };
        vec![
            col("aar", ColumnType::Int32),
            col(
                "beloeb",
                ColumnType::Decimal {
                    precision: 18,
                    scale: 2,
                },
            ),
            col("funktion", ColumnType::String),
            col("dato", ColumnType::Date),
            col("aktiv", ColumnType::Boolean),
        ]
    }

    /// `column:operator:value` (a test shorthand; the surfaces have their own syntax).
    fn spec(raw: &str) -> FilterSpec {
        let mut parts = raw.splitn(3, ':');
        let column = parts.next().unwrap_or_default().to_owned();
        let operator = parts.next().and_then(Operator::from_name);
        let value = parts.next().unwrap_or_default();
        let values = match operator {
            Some(op) if op.takes_list() => value.split(',').map(str::to_owned).collect(),
            _ => vec![value.to_owned()],
        };
        FilterSpec {
            column,
            operator: operator.unwrap_or(Operator::Eq),
            values,
        }
    }

    fn parse(raw: &str) -> Result<Filter> {
        let cols = columns();
        let visible: Vec<&ColumnDef> = cols.iter().collect();
        Filter::typed(&spec(raw), &visible)
    }

    #[test]
    fn filters_parse_to_typed_conditions_and_normalise() {
        let cases = [
            ("aar:gte:2020", "aar gte 2020"),
            ("beloeb:lt:-12.5", "beloeb lt -12.50"),
            ("funktion:prefix:5.22", "funktion prefix \"5.22\""),
            ("funktion:eq:a:b", "funktion eq \"a:b\""),
            ("dato:eq:2024-02-29", "dato eq 2024-02-29"),
            ("aar:in:2020,2021", "aar in [2020, 2021]"),
            ("aktiv:is_null:false", "aktiv is_null false"),
            ("funktion:contains:2_%", "funktion contains \"2_%\""),
            ("funktion:not_suffix:07", "funktion not_suffix \"07\""),
            ("dato:month:1,12", "dato month [1, 12]"),
            ("dato:year:2024", "dato year [2024]"),
        ];
        for (raw, normalised) in cases {
            assert_eq!(
                parse(raw).map(|f| f.to_string()).ok().as_deref(),
                Some(normalised),
                "{raw}"
            );
        }
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let message = |raw: &str| parse(raw).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message("cpr:eq:1").contains("valid columns: aar, beloeb, funktion, dato, aktiv"));
        assert!(message("aar:eq:20x").contains("not a 32-bit integer"));
        assert!(message("beloeb:eq:1.234").contains("at most 2 decimals"));
        assert!(message("beloeb:eq:1,5").contains("use . as decimal separator"));
        assert!(message("dato:eq:2024-13-01").contains("YYYY-MM-DD"));
        assert!(message("aar:prefix:20").contains("text columns only"));
        assert!(message("aar:not_contains:20").contains("text columns only"));
        assert!(message("aar:month:1").contains("date columns only"));
        assert!(message("dato:month:13").contains("from 1 to 12"));
        assert!(message("dato:day:0").contains("from 1 to 31"));
        assert!(message("dato:year:x").contains("e.g. dato:year:1"));
        assert!(message("aktiv:lt:true").contains("boolean"));
        assert!(message("aar:in:").contains("not a 32-bit integer"));
        let many = format!("aar:in:{}", vec!["1"; 101].join(","));
        assert!(message(&many).contains("at most 100"));
    }

    #[test]
    fn trees_combine_with_and_or_and_are_bounded() {
        let leaf = |raw: &str| parse(raw).map(FilterTree::Leaf);
        let tree = (|| -> Result<FilterTree> {
            Ok(FilterTree::Any(vec![
                leaf("aar:eq:2020")?,
                FilterTree::All(vec![leaf("aar:gte:2023")?, leaf("aktiv:eq:true")?]),
            ]))
        })();
        let tree = tree.ok();
        assert_eq!(
            tree.as_ref().map(ToString::to_string).as_deref(),
            Some("(aar eq 2020 or (aar gte 2023 and aktiv eq true))")
        );
        assert_eq!(tree.as_ref().map(FilterTree::leaf_count), Some(3));
        assert_eq!(
            tree.as_ref().map(FilterTree::columns),
            Some(vec!["aar", "aar", "aktiv"])
        );
        assert!(tree.as_ref().is_some_and(|t| t.check_size().is_ok()));
        let mut deep = FilterTree::All(Vec::new());
        for _ in 0..MAX_TREE_DEPTH {
            deep = FilterTree::Any(vec![deep]);
        }
        assert!(deep.check_size().is_err());
        let wide = FilterTree::All(vec![FilterTree::All(Vec::new()); MAX_TREE_FILTERS + 1]);
        assert!(wide.check_size().is_ok(), "empty groups hold no conditions");
        assert_eq!(FilterTree::Any(Vec::new()).to_expr(), lit(false));
    }

    /// Rows of a small in-memory table that a filter selects, by `id`.
    async fn selected(raw: &str) -> Vec<i32> {
        use std::sync::Arc;

        use deltalake::arrow::array::{Array, Date32Array, Int32Array, StringArray};
        use deltalake::arrow::datatypes::{DataType, Field, Schema};
        use deltalake::arrow::record_batch::RecordBatch;
        use deltalake::datafusion::datasource::MemTable;
        use deltalake::datafusion::prelude::{SessionContext, col};

        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int32, false),
            Field::new("funktion", DataType::Utf8, true),
            Field::new("dato", DataType::Date32, true),
        ]));
        let texts = ["a%b", "a_b", "axb", "5.22.07"];
        // 2023-12-31, 2024-01-01, 2024-02-29, 2025-12-01 as days since 1970-01-01.
        let dates = [19722, 19723, 19782, 20423];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from((1..=5).collect::<Vec<_>>())),
                Arc::new(StringArray::from(
                    texts
                        .iter()
                        .map(|t| Some(*t))
                        .chain([None])
                        .collect::<Vec<_>>(),
                )),
                Arc::new(Date32Array::from(
                    dates
                        .iter()
                        .map(|d| Some(*d))
                        .chain([None])
                        .collect::<Vec<_>>(),
                )),
            ],
        )
        .expect("batch");
        let table = MemTable::try_new(schema, vec![vec![batch]]).expect("table");
        let ctx = SessionContext::new();
        let frame = ctx.read_table(Arc::new(table)).expect("frame");
        let filter = parse(raw).expect(raw);
        let batches = frame
            .filter(filter.to_expr())
            .and_then(|f| f.sort(vec![col("id").sort(true, false)]))
            .expect("plan")
            .collect()
            .await
            .expect("run");
        let mut ids = Vec::new();
        for batch in batches {
            let column = batch.column(0);
            let ids_of = column.as_any().downcast_ref::<Int32Array>().expect("ids");
            ids.extend((0..ids_of.len()).map(|i| ids_of.value(i)));
        }
        ids
    }

    #[tokio::test]
    async fn text_and_date_part_filters_match_literally_and_leave_nulls_out() {
        let cases: [(&str, &[i32]); 14] = [
            ("funktion:contains:%", &[1]),
            ("funktion:contains:_", &[2]),
            ("funktion:contains:a", &[1, 2, 3]),
            ("funktion:suffix:_b", &[2]),
            ("funktion:prefix:a%", &[1]),
            ("funktion:not_contains:%", &[2, 3, 4]),
            ("funktion:not_prefix:a", &[4]),
            ("funktion:not_suffix:07", &[1, 2, 3]),
            ("dato:year:2024", &[2, 3]),
            ("dato:year:2023,2025", &[1, 4]),
            ("dato:month:12", &[1, 4]),
            ("dato:month:1,2", &[2, 3]),
            ("dato:day:1", &[2, 4]),
            ("dato:day:29,31", &[1, 3]),
        ];
        for (raw, expected) in cases {
            assert_eq!(selected(raw).await, expected, "{raw}");
        }
    }

    #[test]
    fn decimals_round_trip() {
        for (raw, value) in [("0.05", 5), ("-1", -100), ("123.4", 12340), ("0", 0)] {
            assert_eq!(parse_decimal(raw, 18, 2).ok(), Some(value));
            assert_eq!(
                parse_decimal(&format_decimal(value, 2), 18, 2).ok(),
                Some(value)
            );
        }
        assert!(parse_decimal("1e5", 18, 2).is_err());
        assert!(parse_decimal("", 18, 2).is_err());
        assert!(parse_decimal(".5", 18, 2).is_err());
    }
}

#[cfg(test)]
mod properties {
    use dap_schema::Classification;
    use proptest::prelude::*;

    use super::*;

    fn columns() -> Vec<ColumnDef> {
        [
            ("aar", ColumnType::Int32),
            (
                "beloeb",
                ColumnType::Decimal {
                    precision: 18,
                    scale: 2,
                },
            ),
            ("funktion", ColumnType::String),
            ("dato", ColumnType::Date),
            ("aktiv", ColumnType::Boolean),
            ("antal", ColumnType::Int64),
            ("rate", ColumnType::Float64),
        ]
        .into_iter()
        .map(|(name, data_type)| ColumnDef {
            name: name.into(),
            data_type,
            classification: Classification::Public,
            description: String::new(),
            constraint: None,
        })
        .collect()
    }

    proptest! {
        /// Any input either parses into a filter on a visible column or is refused; it
        /// never panics, and a parsed filter's normal form parses to the same filter.
        #[test]
        fn filters_parse_or_refuse(
            column in "(aar|beloeb|funktion|dato|aktiv|antal|rate|cpr|[a-z]{1,6})",
            op in "(eq|ne|lt|lte|gt|gte|in|prefix|contains|suffix|not_prefix|not_contains|not_suffix|year|month|day|is_null|[a-z]{1,5})",
            value in ".{0,30}",
        ) {
            let cols = columns();
            let visible: Vec<&ColumnDef> = cols.iter().collect();
            let Some(operator) = Operator::from_name(&op) else {
                return Ok(());
            };
            let values = value.split(',').map(str::to_owned).collect();
            let spec = FilterSpec { column, operator, values };
            if let Ok(filter) = Filter::typed(&spec, &visible) {
                prop_assert!(visible.iter().any(|c| c.name == filter.column));
                let _ = filter.to_expr();
            }
        }

        #[test]
        fn integer_and_decimal_literals_round_trip(n in any::<i32>(), cents in -1_000_000_000_000i128..1_000_000_000_000) {
            prop_assert_eq!(Literal::parse(&n.to_string(), ColumnType::Int32), Ok(Literal::Int32(n)));
            let text = format_decimal(cents, 2);
            prop_assert_eq!(parse_decimal(&text, 18, 2), Ok(cents));
        }
    }
}
