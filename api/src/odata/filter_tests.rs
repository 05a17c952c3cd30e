use proptest::prelude::*;

use super::*;

fn prop(name: &str) -> Operand {
    Operand::Property(name.into())
}

fn lit(l: Literal) -> Operand {
    Operand::Literal(l)
}

#[test]
fn comparisons_bind_tighter_than_and_which_binds_tighter_than_or() {
    let node = parse("aar eq 2025 or aar eq 2024 and maaned lt 4").expect("parses");

    let expected = Node::Or(
        Box::new(Node::Compare(
            prop("aar"),
            CmpOp::Eq,
            lit(Literal::Number("2025".into())),
        )),
        Box::new(Node::And(
            Box::new(Node::Compare(
                prop("aar"),
                CmpOp::Eq,
                lit(Literal::Number("2024".into())),
            )),
            Box::new(Node::Compare(
                prop("maaned"),
                CmpOp::Lt,
                lit(Literal::Number("4".into())),
            )),
        )),
    );
    assert_eq!(node, expected);
}

#[test]
fn literals_of_every_kind_are_read() {
    let cases = [
        ("x eq 'it''s'", Literal::String("it's".into())),
        ("x eq ''", Literal::String(String::new())),
        ("x eq 2025-01-31", Literal::Date("2025-01-31".into())),
        ("x eq -12.50", Literal::Number("-12.50".into())),
        ("x eq 12.5M", Literal::Number("12.5".into())),
        ("x eq 1e3", Literal::Number("1e3".into())),
        ("x eq null", Literal::Null),
        ("x eq true", Literal::Bool(true)),
        (
            "x eq 'Ældre og sundhed'",
            Literal::String("Ældre og sundhed".into()),
        ),
    ];
    for (text, expected) in cases {
        let node = parse(text).expect(text);
        assert_eq!(
            node,
            Node::Compare(prop("x"), CmpOp::Eq, lit(expected)),
            "{text}"
        );
    }
}

#[test]
fn in_lists_functions_not_and_parentheses_are_read() {
    let node = parse("not (koen in ('K','M')) and startswith(funktion, '5.22')").expect("parses");

    assert_eq!(
        node,
        Node::And(
            Box::new(Node::Not(Box::new(Node::In(
                prop("koen"),
                vec![Literal::String("K".into()), Literal::String("M".into())]
            )))),
            Box::new(Node::Test(Operand::Call(
                "startswith".into(),
                vec![prop("funktion"), lit(Literal::String("5.22".into()))]
            ))),
        )
    );
}

#[test]
fn errors_name_the_position() {
    let cases = [
        ("aar eq", 6),
        ("aar eq 2025 and", 15),
        ("(aar eq 1", 9),
        ("aar eq 'open", 7),
        ("aar eq 1 aar", 9),
        ("aar ~ 1", 4),
        ("aar eq 2025-01-31T00:00:00Z", 7),
        ("eq eq 1", 0),
        ("x in ()", 6),
    ];
    for (text, position) in cases {
        let error = parse(text).expect_err(text);
        assert_eq!(error.position, position, "{text}: {error}");
        assert!(error.to_string().contains("position"), "{error}");
    }
}

#[test]
fn absurd_nesting_and_length_are_refused_not_overflowed() {
    let deep = format!("{}a eq 1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse(&deep).is_err());
    let nots = format!("{}a eq 1", "not ".repeat(1000));
    assert!(parse(&nots).is_err());
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("aar".to_owned()),
        Just("funktion".to_owned()),
        Just("bogfoeringsdato".to_owned()),
        "[a-z_][a-z0-9_]{0,8}".prop_filter("not a keyword", |w| {
            !is_reserved(w) && !matches!(w.as_str(), "null" | "true" | "false")
        }),
    ]
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        any::<i64>().prop_map(|n| Literal::Number(n.to_string())),
        (any::<i32>(), 0u32..1000).prop_map(|(a, b)| Literal::Number(format!("{a}.{b}"))),
        ".{0,12}".prop_map(Literal::String),
        (1000u32..9999, 1u32..13, 1u32..29)
            .prop_map(|(y, m, d)| Literal::Date(format!("{y:04}-{m:02}-{d:02}"))),
    ]
}

fn operand() -> impl Strategy<Value = Operand> {
    prop_oneof![
        name().prop_map(Operand::Property),
        literal().prop_map(Operand::Literal),
        (name(), name(), literal()).prop_map(|(f, p, l)| Operand::Call(f, vec![prop(&p), lit(l)])),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    let op = prop::sample::select(CmpOp::ALL.to_vec());
    let leaf = prop_oneof![
        (operand(), op, operand()).prop_map(|(l, o, r)| Node::Compare(l, o, r)),
        (name(), prop::collection::vec(literal(), 1..4)).prop_map(|(p, v)| Node::In(prop(&p), v)),
        name().prop_map(|p| Node::Test(prop(&p))),
    ];
    leaf.prop_recursive(6, 40, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Node::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Node::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Node::Not(Box::new(a))),
        ]
    })
}

proptest! {
    #[test]
    fn every_filter_round_trips_through_its_text(tree in node()) {
        let text = tree.to_string();
        let parsed = parse(&text);
        prop_assert_eq!(parsed, Ok(tree), "{}", text);
    }

    #[test]
    fn any_text_parses_or_fails_without_panicking(text in ".{0,80}") {
        let _ = parse(&text);
    }

    #[test]
    fn filter_like_text_parses_or_fails_without_panicking(
        text in "[a-z() ',0-9.-]{0,60}( (eq|and|or|not|in) [a-z0-9'()-]{0,10}){0,4}"
    ) {
        let _ = parse(&text);
    }
}
