//! A parsed `$filter` as the lake's typed filter tree ([`SpecTree`]), or a refusal that
//! says what is supported. Nothing is evaluated here: values stay text and the lake
//! types them against the columns the caller may see.
//!
//! OData compares with two-valued logic (`null ne 5` is true, `null gt 5` is false),
//! while the lake compares as SQL does (`null <> 5` is unknown). So `ne` becomes
//! `ne or is_null`, and `not` is pushed onto the leaves by De Morgan (the lake has no
//! `not`): `not (a gt 1)` is `a le 1 or a is null`. Text functions map to the lake's
//! text operators (`not startswith(...)` to `not_prefix`), `month()`/`day()` comparisons
//! to the list of months or days they select, `year()` comparisons to date ranges.
//! Anything else answers 501 naming what is supported.

use dap_lake::predicate::{FilterSpec, Operator, SpecTree};

use super::error::ODataError;
use super::filter::{CmpOp, Literal, Node, Operand};

/// What `$filter` supports, for refusals.
pub const SUPPORTED: &str = "eq, ne, gt, ge, lt, le, and, or, not, parentheses, in (...), \
startswith, endswith and contains (property,'text'), and year, month and day (date property) \
compared with a number";

/// The lake filter tree of `node`.
pub fn to_spec(node: &Node) -> Result<SpecTree, ODataError> {
    compile(node, false)
}

fn unsupported(what: &str) -> ODataError {
    ODataError::not_implemented(format!(
        "$filter: {what} is not supported; supported are {SUPPORTED}"
    ))
}

fn compile(node: &Node, negated: bool) -> Result<SpecTree, ODataError> {
    match node {
        Node::And(a, b) | Node::Or(a, b) => {
            let branches = vec![compile(a, negated)?, compile(b, negated)?];
            // De Morgan: under a negation, and becomes or and the other way round.
            let all = matches!(node, Node::And(..)) != negated;
            Ok(join(all, branches))
        }
        Node::Not(inner) => compile(inner, !negated),
        Node::Compare(left, op, right) => compare(left, *op, right, negated),
        Node::In(Operand::Property(column), values) => {
            let mut texts = Vec::new();
            for value in values {
                texts.push(value_text(value).ok_or_else(|| {
                    ODataError::bad_request("$filter: in lists values, not null".into())
                })?);
            }
            if negated {
                // not (a in (x, y)) holds for a null a too.
                let mut branches = vec![is_null(column, true)];
                branches.push(join(
                    true,
                    texts
                        .into_iter()
                        .map(|v| leaf(column, Operator::Ne, v))
                        .collect(),
                ));
                Ok(join(false, branches))
            } else {
                Ok(SpecTree::Leaf(FilterSpec {
                    column: column.clone(),
                    operator: Operator::In,
                    values: texts,
                }))
            }
        }
        // `month(d) in (1,2)` is `month(d) eq 1 or month(d) eq 2`.
        Node::In(call @ Operand::Call(..), values) => {
            let mut branches = Vec::new();
            for value in values {
                let value = Operand::Literal(value.clone());
                branches.push(compare(call, CmpOp::Eq, &value, negated)?);
            }
            Ok(join(negated, branches))
        }
        Node::In(other, _) => Err(unsupported(&format!("in after {other}"))),
        // A property alone is a boolean column: `flag` is `flag eq true`.
        Node::Test(operand @ Operand::Property(_)) => compare(
            operand,
            CmpOp::Eq,
            &Operand::Literal(Literal::Bool(true)),
            negated,
        ),
        Node::Test(Operand::Call(name, args)) => call_test(name, args, negated),
        Node::Test(Operand::Literal(l)) => Err(ODataError::bad_request(format!(
            "$filter: the value {l} stands alone; compare a property with it, e.g. aar eq 2025"
        ))),
    }
}

/// Flattens nested branches of the same kind, so a long `a or b or c …` chain from a
/// BI tool stays one level deep in the lake's tree (which limits depth).
fn join(all: bool, branches: Vec<SpecTree>) -> SpecTree {
    let mut flat = Vec::new();
    for branch in branches {
        match (all, branch) {
            (true, SpecTree::All(inner)) | (false, SpecTree::Any(inner)) => flat.extend(inner),
            (_, other) => flat.push(other),
        }
    }
    match (flat.len(), all) {
        (1, _) => flat.pop().unwrap_or(SpecTree::All(Vec::new())),
        (_, true) => SpecTree::All(flat),
        (_, false) => SpecTree::Any(flat),
    }
}

fn leaf(column: &str, operator: Operator, value: String) -> SpecTree {
    SpecTree::Leaf(FilterSpec {
        column: column.to_owned(),
        operator,
        values: vec![value],
    })
}

fn is_null(column: &str, null: bool) -> SpecTree {
    leaf(column, Operator::IsNull, null.to_string())
}

fn value_text(value: &Literal) -> Option<String> {
    match value {
        Literal::Null => None,
        Literal::Bool(b) => Some(b.to_string()),
        Literal::Number(n) | Literal::Date(n) | Literal::String(n) => Some(n.clone()),
    }
}

fn compare(
    left: &Operand,
    op: CmpOp,
    right: &Operand,
    negated: bool,
) -> Result<SpecTree, ODataError> {
    match (left, right) {
        (Operand::Property(column), Operand::Literal(value)) => {
            property(column, op, value, negated)
        }
        (Operand::Literal(value), Operand::Property(column)) => {
            property(column, op.flipped(), value, negated)
        }
        (Operand::Call(name, args), Operand::Literal(value)) => {
            call_compare(name, args, op, value, negated)
        }
        (Operand::Literal(value), Operand::Call(name, args)) => {
            call_compare(name, args, op.flipped(), value, negated)
        }
        (Operand::Property(_), Operand::Property(_)) => {
            Err(unsupported("comparing two properties"))
        }
        _ => Err(unsupported(&format!("{left} {} {right}", op.name()))),
    }
}

/// `column op value` under OData's two-valued logic.
fn property(
    column: &str,
    op: CmpOp,
    value: &Literal,
    negated: bool,
) -> Result<SpecTree, ODataError> {
    let Some(text) = value_text(value) else {
        return match (op, negated) {
            (CmpOp::Eq, false) | (CmpOp::Ne, true) => Ok(is_null(column, true)),
            (CmpOp::Ne, false) | (CmpOp::Eq, true) => Ok(is_null(column, false)),
            _ => Err(ODataError::bad_request(format!(
                "$filter: null can only be compared with eq or ne, not {}",
                op.name()
            ))),
        };
    };
    // Under a negation the comparison is complemented, and a null value (false for every
    // comparison but ne) makes the negation true.
    let (operator, or_null) = match (op, negated) {
        (CmpOp::Eq, false) | (CmpOp::Ne, true) => (Operator::Eq, false),
        (CmpOp::Ne, false) | (CmpOp::Eq, true) => (Operator::Ne, true),
        (CmpOp::Gt, false) => (Operator::Gt, false),
        (CmpOp::Ge, false) => (Operator::Gte, false),
        (CmpOp::Lt, false) => (Operator::Lt, false),
        (CmpOp::Le, false) => (Operator::Lte, false),
        (CmpOp::Gt, true) => (Operator::Lte, true),
        (CmpOp::Ge, true) => (Operator::Lt, true),
        (CmpOp::Lt, true) => (Operator::Gte, true),
        (CmpOp::Le, true) => (Operator::Gt, true),
    };
    let compared = leaf(column, operator, text);
    Ok(if or_null {
        join(false, vec![compared, is_null(column, true)])
    } else {
        compared
    })
}

/// The lake's operator for a text function, as it holds or as it does not.
fn text_operator(name: &str, holds: bool) -> Option<Operator> {
    Some(match (name, holds) {
        ("startswith", true) => Operator::Prefix,
        ("contains", true) => Operator::Contains,
        ("endswith", true) => Operator::Suffix,
        ("startswith", false) => Operator::NotPrefix,
        ("contains", false) => Operator::NotContains,
        ("endswith", false) => Operator::NotSuffix,
        _ => return None,
    })
}

/// The text function's operator and its column and text, or a 400 naming the shape.
fn text_call<'a>(
    name: &str,
    args: &'a [Operand],
    holds: bool,
) -> Option<Result<(Operator, &'a str, &'a str), ODataError>> {
    let operator = text_operator(name, holds)?;
    Some(match args {
        [
            Operand::Property(column),
            Operand::Literal(Literal::String(text)),
        ] => Ok((operator, column.as_str(), text.as_str())),
        [_, _] => Err(unsupported(&format!(
            "{name} of anything but a property and a text, e.g. {name}(funktion,'22'),"
        ))),
        _ => Err(ODataError::bad_request(format!(
            "$filter: {name} takes a property and a text, e.g. {name}(funktion,'22')"
        ))),
    })
}

/// A boolean function standing alone: `startswith(p,'x')`, or `not startswith(p,'x')`.
/// A function of a null value is null, and `not null` selects nothing (as in SQL), so
/// the negation is the lake's negated operator, which leaves missing values out.
fn call_test(name: &str, args: &[Operand], negated: bool) -> Result<SpecTree, ODataError> {
    match text_call(name, args, !negated) {
        Some(call) => {
            let (operator, column, text) = call?;
            Ok(leaf(column, operator, text.to_owned()))
        }
        None => Err(unsupported(&format!("the function {name}"))),
    }
}

/// The comparison that holds exactly when `op` does not.
fn complement(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Ne,
        CmpOp::Ne => CmpOp::Eq,
        CmpOp::Gt => CmpOp::Le,
        CmpOp::Ge => CmpOp::Lt,
        CmpOp::Lt => CmpOp::Ge,
        CmpOp::Le => CmpOp::Gt,
    }
}

/// A function compared with a value: `startswith(p,'x') eq true`, `year(d) ge 2024`,
/// `month(d) le 3`. A comparison is two-valued (a null function value is `ne` every
/// value and nothing else), so its negation is the complement comparison.
fn call_compare(
    name: &str,
    args: &[Operand],
    op: CmpOp,
    value: &Literal,
    negated: bool,
) -> Result<SpecTree, ODataError> {
    // A null function value makes only `ne` true; a negation turns that round.
    let with_null = (op == CmpOp::Ne) != negated;
    let or_null = |tree: SpecTree, column: &str| match with_null {
        true => join(false, vec![tree, is_null(column, true)]),
        false => tree,
    };
    let holds = if negated { complement(op) } else { op };
    match (name, args, holds, value) {
        (_, _, CmpOp::Eq | CmpOp::Ne, Literal::Bool(b)) if text_operator(name, true).is_some() => {
            let matches = *b == (holds == CmpOp::Eq);
            let (operator, column, text) = text_call(name, args, matches)
                .unwrap_or_else(|| Err(unsupported(&format!("the function {name}"))))?;
            Ok(or_null(leaf(column, operator, text.to_owned()), column))
        }
        ("year", [Operand::Property(column)], _, Literal::Number(n)) => {
            let year: i32 = n
                .parse()
                .ok()
                .filter(|y| (1..9999).contains(y))
                .ok_or_else(|| {
                    ODataError::bad_request(format!(
                        "$filter: year() compares with a year, not {n}"
                    ))
                })?;
            compile(&year_range(column, op, year), negated)
        }
        ("month" | "day", [Operand::Property(column)], _, Literal::Number(n)) => {
            let (operator, last) = match name {
                "month" => (Operator::Month, 12),
                _ => (Operator::Day, 31),
            };
            let n: i64 = n.parse().map_err(|_| {
                ODataError::bad_request(format!(
                    "$filter: {name}() compares with a whole number, not {n}"
                ))
            })?;
            // The part has few values: the comparison is the list of those it selects.
            let selected: Vec<String> = (1..=last)
                .filter(|v| compare_numbers(*v, holds, n))
                .map(|v| v.to_string())
                .collect();
            let tree = match selected.is_empty() {
                true => SpecTree::Any(Vec::new()),
                false => SpecTree::Leaf(FilterSpec {
                    column: column.clone(),
                    operator,
                    values: selected,
                }),
            };
            Ok(or_null(tree, column))
        }
        _ => Err(unsupported(&format!("{name}(...) {} {value}", op.name()))),
    }
}

fn compare_numbers(a: i64, op: CmpOp, b: i64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
    }
}

/// `year(d) op y` as comparisons of `d` with the first days of `y` and `y + 1`: no
/// function runs over the rows.
fn year_range(column: &str, op: CmpOp, year: i32) -> Node {
    let day = |y: i32| Operand::Literal(Literal::Date(format!("{y:04}-01-01")));
    let cmp = |o: CmpOp, y: i32| Node::Compare(Operand::Property(column.to_owned()), o, day(y));
    let within = || {
        Node::And(
            Box::new(cmp(CmpOp::Ge, year)),
            Box::new(cmp(CmpOp::Lt, year + 1)),
        )
    };
    match op {
        CmpOp::Eq => within(),
        CmpOp::Ne => Node::Not(Box::new(within())),
        CmpOp::Gt => cmp(CmpOp::Ge, year + 1),
        CmpOp::Ge => cmp(CmpOp::Ge, year),
        CmpOp::Lt => cmp(CmpOp::Lt, year),
        CmpOp::Le => cmp(CmpOp::Lt, year + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse;
    use super::*;

    fn spec(text: &str) -> Result<SpecTree, ODataError> {
        to_spec(&parse(text).expect("parses"))
    }

    fn l(column: &str, operator: Operator, value: &str) -> SpecTree {
        leaf(column, operator, value.into())
    }

    #[test]
    fn ne_and_negations_keep_odata_null_semantics() {
        let null = || is_null("x", true);
        let cases = [
            ("x eq 1", l("x", Operator::Eq, "1")),
            (
                "x ne 1",
                SpecTree::Any(vec![l("x", Operator::Ne, "1"), null()]),
            ),
            (
                "not (x eq 1)",
                SpecTree::Any(vec![l("x", Operator::Ne, "1"), null()]),
            ),
            ("not (x ne 1)", l("x", Operator::Eq, "1")),
            (
                "not (x gt 1)",
                SpecTree::Any(vec![l("x", Operator::Lte, "1"), null()]),
            ),
            ("x eq null", null()),
            ("not (x eq null)", is_null("x", false)),
            ("1 lt x", l("x", Operator::Gt, "1")),
        ];
        for (text, expected) in cases {
            assert_eq!(spec(text).expect(text), expected, "{text}");
        }
    }

    #[test]
    fn de_morgan_turns_not_of_and_into_or_of_negations() {
        let tree = spec("not (a eq 1 and b lt 2)").expect("pushes down");

        assert_eq!(
            tree,
            SpecTree::Any(vec![
                l("a", Operator::Ne, "1"),
                is_null("a", true),
                l("b", Operator::Gte, "2"),
                is_null("b", true),
            ])
        );
    }

    #[test]
    fn long_or_chains_stay_flat() {
        let text = (0..40)
            .map(|i| format!("a eq {i}"))
            .collect::<Vec<_>>()
            .join(" or ");

        let tree = spec(&text).expect("pushes down");

        assert!(
            matches!(&tree, SpecTree::Any(b) if b.len() == 40),
            "{tree:?}"
        );
    }

    #[test]
    fn functions_become_prefixes_and_date_ranges() {
        assert_eq!(
            spec("startswith(f,'5.22') eq true").expect("prefix"),
            l("f", Operator::Prefix, "5.22")
        );
        assert_eq!(
            spec("year(d) eq 2025").expect("range"),
            SpecTree::All(vec![
                l("d", Operator::Gte, "2025-01-01"),
                l("d", Operator::Lt, "2026-01-01")
            ])
        );
        assert_eq!(
            spec("year(d) le 2025").expect("range"),
            l("d", Operator::Lt, "2026-01-01")
        );
    }

    #[test]
    fn text_functions_and_their_negations_become_text_operators() {
        let null = || is_null("f", true);
        let any = |a, b| SpecTree::Any(vec![a, b]);
        let cases = [
            ("contains(f,'x')", l("f", Operator::Contains, "x")),
            ("endswith(f,'x')", l("f", Operator::Suffix, "x")),
            ("not startswith(f,'x')", l("f", Operator::NotPrefix, "x")),
            ("not contains(f,'x')", l("f", Operator::NotContains, "x")),
            ("not (not endswith(f,'x'))", l("f", Operator::Suffix, "x")),
            (
                "contains(f,'x') eq false",
                l("f", Operator::NotContains, "x"),
            ),
            // A null value is `ne` every boolean: `ne true` holds for it too.
            (
                "contains(f,'x') ne true",
                any(l("f", Operator::NotContains, "x"), null()),
            ),
            (
                "not (endswith(f,'x') eq true)",
                any(l("f", Operator::NotSuffix, "x"), null()),
            ),
            (
                "not (contains(f,'x') ne true)",
                l("f", Operator::Contains, "x"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(spec(text).expect(text), expected, "{text}");
        }
    }

    #[test]
    fn month_and_day_comparisons_become_the_values_they_select() {
        let months = |v: &[&str]| {
            SpecTree::Leaf(FilterSpec {
                column: "d".into(),
                operator: Operator::Month,
                values: v.iter().map(|s| (*s).to_owned()).collect(),
            })
        };
        let null = || is_null("d", true);
        assert_eq!(spec("month(d) eq 3").expect("eq"), months(&["3"]));
        assert_eq!(spec("month(d) le 3").expect("le"), months(&["1", "2", "3"]));
        assert_eq!(
            spec("10 lt month(d)").expect("flipped"),
            months(&["11", "12"])
        );
        assert_eq!(
            spec("not (month(d) gt 2)").expect("not"),
            SpecTree::Any(vec![months(&["1", "2"]), null()])
        );
        assert_eq!(
            spec("month(d) ne 1").expect("ne"),
            SpecTree::Any(vec![
                months(&["2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"]),
                null()
            ])
        );
        assert_eq!(
            spec("month(d) gt 12").expect("none"),
            SpecTree::Any(Vec::new())
        );
        assert_eq!(
            spec("month(d) in (1,2)").expect("in"),
            SpecTree::Any(vec![months(&["1"]), months(&["2"])])
        );
        let day = spec("day(d) ge 30").expect("day");
        assert_eq!(
            day,
            SpecTree::Leaf(FilterSpec {
                column: "d".into(),
                operator: Operator::Day,
                values: vec!["30".into(), "31".into()],
            })
        );
        assert_eq!(
            spec("month(d) eq 1.5").expect_err("1.5").status.as_u16(),
            400
        );
    }

    #[test]
    fn what_the_lake_cannot_do_answers_501_naming_what_it_can() {
        for text in [
            "a eq b",
            "tolower(f) eq 'x'",
            "contains(tolower(f),'x')",
            "hour(d) eq 1",
            "length(f) gt 2",
            "indexof(f,'x') eq 1",
        ] {
            let error = spec(text).expect_err(text);
            assert!([400, 501].contains(&error.status.as_u16()), "{text}");
            assert!(
                error.status.as_u16() == 400 || error.message.contains("supported are"),
                "{}",
                error.message
            );
        }
        for text in [
            "a eq b",
            "tolower(f) eq 'x'",
            "hour(d) eq 1",
            "length(f) gt 2",
            "contains(tolower(f),'x')",
        ] {
            assert_eq!(spec(text).expect_err(text).status.as_u16(), 501, "{text}");
        }
        assert_eq!(spec("x gt null").expect_err("null").status.as_u16(), 400);
        assert_eq!(spec("contains(f)").expect_err("arity").status.as_u16(), 400);
    }
}
