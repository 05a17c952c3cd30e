//! Property tests of the parser against a model of what a privilege list grants.
//!
//! The model: a group grants each of its privileges in its organisation, for the rows
//! every one of its constraints admits (a row holds one value per constraint name); a
//! list grants the union of its groups. Every spelling of a list that XML treats as the
//! same list must grant exactly what the list grants, and no spelling, however odd, may
//! grant more; a shape dap does not understand must grant nothing of its own.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

const NAMES: [&str; 3] = [
    "http://sts.kombit.dk/constraints/orgenhed/1",
    "http://sts.kombit.dk/constraints/kle/1",
    "urn:c:3",
];
const VALUES: [&str; 3] = ["a", "b", "c-1"];
const INJECTED: &str = "http://dap.example/roles/usersystemrole/injected/1";

/// (organisation, privilege, row), a row numbered over every assignment of a value to
/// each constraint name.
type Grant = (String, String, usize);

fn row_value(row: usize, name: usize) -> &'static str {
    VALUES[(row / VALUES.len().pow(name as u32)) % VALUES.len()]
}

fn admits(group: &PrivilegeGroup, row: usize) -> bool {
    group.constraints.iter().all(|(name, values)| {
        NAMES
            .iter()
            .position(|n| n == name)
            .is_some_and(|i| values.iter().any(|v| v == row_value(row, i)))
    })
}

fn grants(groups: &[PrivilegeGroup]) -> BTreeSet<Grant> {
    let rows = VALUES.len().pow(NAMES.len() as u32);
    let mut out = BTreeSet::new();
    for g in groups {
        for row in (0..rows).filter(|r| admits(g, *r)) {
            for p in &g.privileges {
                out.insert((g.cvr.clone(), p.clone(), row));
            }
        }
    }
    out
}

/// What a parse result grants: nothing when the list is refused.
fn granted(parsed: Result<Vec<PrivilegeGroup>, BppError>) -> BTreeSet<Grant> {
    parsed.map(|g| grants(&g)).unwrap_or_default()
}

fn group() -> impl Strategy<Value = PrivilegeGroup> {
    (
        prop_oneof![Just("29189129"), Just("64942212"), Just("12345678")],
        proptest::collection::vec("[a-z:/._&<>'\"-]{1,40}", 0..4),
        proptest::collection::vec(
            (
                proptest::sample::select(NAMES.to_vec()),
                proptest::collection::vec(proptest::sample::select(VALUES.to_vec()), 0..3),
            ),
            0..3,
        ),
    )
        .prop_map(|(cvr, privileges, constraints)| PrivilegeGroup {
            cvr: cvr.to_owned(),
            privileges,
            constraints: constraints
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.into_iter().map(str::to_owned).collect()))
                .collect(),
        })
}

/// How one list is spelt; every choice is the same list to an XML reader.
#[derive(Debug, Clone)]
struct Spelling {
    root: usize,
    namespace: usize,
    qualified_children: bool,
    declaration: bool,
    single_quotes: bool,
    padding: usize,
    self_close: bool,
    text: usize,
    comments: bool,
    constraints_first: bool,
}

fn spelling() -> impl Strategy<Value = Spelling> {
    (
        (
            0..3usize,
            0..2usize,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
        (
            0..3usize,
            any::<bool>(),
            0..5usize,
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (root, namespace, q, declaration, single_quotes),
                (padding, self_close, text, comments, cf),
            )| {
                Spelling {
                    root,
                    namespace,
                    qualified_children: q,
                    declaration,
                    single_quotes,
                    padding,
                    self_close,
                    text,
                    comments,
                    constraints_first: cf,
                }
            },
        )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

impl Spelling {
    fn pad(&self) -> &'static str {
        ["", "\n  ", " \t\r\n "][self.padding]
    }

    /// Element name: unprefixed, or with the root's prefix when it has one.
    fn name(&self, local: &str) -> String {
        match (self.root, self.qualified_children) {
            (0, true) => format!("bpp:{local}"),
            (1, true) => format!("x:{local}"),
            _ => local.to_owned(),
        }
    }

    fn attribute(&self, name: &str, value: &str) -> String {
        if self.single_quotes {
            format!(" {name} = '{}'", escape(value))
        } else {
            format!(r#" {name}="{}""#, escape(value))
        }
    }

    fn text(&self, value: &str) -> String {
        match self.text {
            0 => escape(value),
            1 => format!("<![CDATA[{value}]]>"),
            2 => format!("{}{}{}", self.pad(), escape(value), self.pad()),
            3 => value
                .chars()
                .map(|c| format!("&#x{:X};", u32::from(c)))
                .collect(),
            _ => {
                let cut = value.len() / 2;
                let (a, b) = value.split_at(cut);
                format!("{}<![CDATA[{b}]]>", escape(a))
            }
        }
    }

    fn element(&self, local: &str, attributes: &str, content: &str) -> String {
        let name = self.name(local);
        if content.is_empty() && self.self_close {
            format!("<{name}{attributes}/>")
        } else {
            format!("<{name}{attributes}>{content}</{name}>")
        }
    }

    fn group(&self, g: &PrivilegeGroup) -> String {
        let between = if self.comments { "<!-- role -->" } else { "" };
        let privileges: Vec<String> = g
            .privileges
            .iter()
            .map(|p| self.element("Privilege", "", &self.text(p)))
            .collect();
        let constraints: Vec<String> = g
            .constraints
            .iter()
            .map(|(n, v)| {
                let sep = if self.padding > 0 { " , " } else { "," };
                let values = if v.is_empty() {
                    String::new()
                } else {
                    self.text(&v.join(sep))
                };
                self.element("Constraint", &self.attribute("Name", n), &values)
            })
            .collect();
        let children = if self.constraints_first {
            [constraints, privileges].concat()
        } else {
            [privileges, constraints].concat()
        };
        let pad = self.pad();
        let body: String = children
            .iter()
            .map(|c| format!("{pad}{between}{c}"))
            .collect();
        let scope = format!("urn:dk:gov:saml:cvrNumberIdentifier:{}", g.cvr);
        self.element("PrivilegeGroup", &self.attribute("Scope", &scope), &body)
    }

    fn list(&self, groups: &[PrivilegeGroup], extra: &str) -> String {
        let ns = NAMESPACES[self.namespace];
        let (root, declare) = match self.root {
            0 => ("bpp:PrivilegeList", format!(r#"xmlns:bpp="{ns}""#)),
            1 => ("x:PrivilegeList", format!(r#"xmlns:x="{ns}""#)),
            _ => ("PrivilegeList", format!(r#"xmlns="{ns}""#)),
        };
        let declaration = if self.declaration {
            r#"<?xml version="1.0" encoding="UTF-8"?>"#
        } else {
            ""
        };
        let body: String = groups.iter().map(|g| self.group(g)).collect();
        format!(
            "{declaration}<{root} {declare}>{body}{extra}{}</{root}>",
            self.pad()
        )
    }
}

/// Shapes dap does not understand, put into one group's body.
fn inside_group() -> impl Strategy<Value = String> {
    let evil = r#"xmlns:e="http://evil.example/""#;
    let name = NAMES[0];
    proptest::sample::select(vec![
        "<Foo/>".to_owned(),
        format!("<Foo><Privilege>{INJECTED}</Privilege></Foo>"),
        format!(r#"<constraint Name="{name}">a</constraint>"#),
        format!("<privilege>{INJECTED}</privilege>"),
        format!("<e:Privilege {evil}>{INJECTED}</e:Privilege>"),
        format!(r#"<e:Constraint {evil} Name="{name}">a</e:Constraint>"#),
        format!(r#"<Constraint e:Name="{name}" {evil}>a</Constraint>"#),
        format!(r#"<Constraint Name="{name}" Extra="1">a</Constraint>"#),
        "<Constraint>a</Constraint>".to_owned(),
        r#"<Constraint Name="">a</Constraint>"#.to_owned(),
        format!(r#"<Privilege xml:space="preserve">{INJECTED}</Privilege>"#),
        format!("<Privilege>{INJECTED}<!-- c --></Privilege>"),
        format!("<Privilege><?pi x?>{INJECTED}</Privilege>"),
        format!("<Privilege><Privilege>{INJECTED}</Privilege></Privilege>"),
        format!(
            r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189129"><Privilege>{INJECTED}</Privilege></PrivilegeGroup>"#
        ),
        "stray text".to_owned(),
        "<![CDATA[x]]>".to_owned(),
    ])
}

/// Groups in places where no group belongs.
fn outside_groups() -> impl Strategy<Value = String> {
    let group = format!(
        r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189129"><Privilege>{INJECTED}</Privilege></PrivilegeGroup>"#
    );
    proptest::sample::select(vec![
        format!("<Wrapper>{group}</Wrapper>"),
        format!(
            r#"<e:PrivilegeGroup xmlns:e="http://evil.example/" Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189129"><Privilege>{INJECTED}</Privilege></e:PrivilegeGroup>"#
        ),
    ])
}

proptest! {
    #[test]
    fn every_spelling_grants_what_the_list_grants(
        groups in proptest::collection::vec(group(), 0..4),
        spelt in spelling(),
    ) {
        let parsed = parse(&spelt.list(&groups, ""));
        let expected = grants(&groups);
        let actual = granted(parsed.clone());
        prop_assert!(actual.is_subset(&expected), "{parsed:?}");
        prop_assert_eq!(parsed, Ok(groups));
    }

    #[test]
    fn a_shape_dap_does_not_understand_grants_nothing(
        groups in proptest::collection::vec(group(), 1..4),
        victim in any::<proptest::sample::Index>(),
        at_start in any::<bool>(),
        shape in inside_group(),
        spelt in spelling(),
    ) {
        let victim = victim.index(groups.len());
        let others: Vec<PrivilegeGroup> = groups
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != victim)
            .map(|(_, g)| g.clone())
            .collect();
        // Spell the list, then put the shape into the victim group's body (an equal
        // group earlier in the list may take it instead: the same list either way).
        let original = spelt.group(&groups[victim]);
        let poisoned = inject(&spelt, &original, &shape, at_start);
        let xml = spelt.list(&groups, "").replacen(&original, &poisoned, 1);
        let actual = granted(parse(&xml));
        prop_assert!(actual.is_subset(&grants(&others)), "{xml}\n{actual:?}");
        prop_assert!(actual.iter().all(|(_, p, _)| p != INJECTED));
    }

    #[test]
    fn groups_out_of_place_grant_nothing(
        groups in proptest::collection::vec(group(), 0..3),
        shape in outside_groups(),
        after_root in any::<bool>(),
        spelt in spelling(),
    ) {
        let xml = if after_root {
            format!("{}{shape}", spelt.list(&groups, ""))
        } else {
            spelt.list(&groups, &shape)
        };
        let actual = granted(parse(&xml));
        prop_assert!(actual.is_subset(&grants(&groups)), "{xml}\n{actual:?}");
    }

    #[test]
    fn arbitrary_input_never_panics(input in ".{0,300}") {
        let _ = parse(&input);
        let _ = decode(&input);
    }
}

/// `group` (as spelt by `spelt`) with `shape` as its first or last child.
fn inject(spelt: &Spelling, group: &str, shape: &str, at_start: bool) -> String {
    let open_end = group.find('>').unwrap_or(0);
    let self_closed = group[..=open_end].ends_with("/>");
    let name = spelt.name("PrivilegeGroup");
    if self_closed {
        let open = &group[..open_end - 1];
        return format!("{open}>{shape}</{name}>");
    }
    if at_start {
        format!("{}{shape}{}", &group[..=open_end], &group[open_end + 1..])
    } else {
        let close = format!("</{name}>");
        let body_end = group.len() - close.len();
        format!("{}{shape}{close}", &group[..body_end])
    }
}
