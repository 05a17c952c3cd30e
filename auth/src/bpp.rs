//! OIO Basic Privilege Profile (BPP): the privilege list KOMBIT's Context Handler puts
//! in tokens, base64-encoded XML.
//!
//! ```xml
//! <bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">
//!   <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189129">
//!     <Privilege>http://dap.example/roles/usersystemrole/laes-oekonomi/1</Privilege>
//!     <Constraint Name="http://sts.kombit.dk/constraints/orgenhed/1">uuid1,uuid2</Constraint>
//!   </PrivilegeGroup>
//! </bpp:PrivilegeList>
//! ```
//!
//! Both namespaces (`http://itst.dk/…` and `http://digst.dk/…`) are accepted on the root.
//! Documents with a DOCTYPE are refused (no entity tricks), and size is bounded.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// Namespaces of the privilege list root.
pub const NAMESPACES: [&str; 2] = [
    "http://itst.dk/oiosaml/basic_privilege_profile",
    "http://digst.dk/oiosaml/basic_privilege_profile",
];
/// Largest privilege list accepted (decoded).
pub const MAX_BYTES: usize = 64 * 1024;
const SCOPE_PREFIX: &str = "urn:dk:gov:saml:cvrnumberidentifier:";

/// The privileges one organisation (a CVR) grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivilegeGroup {
    /// The organisation's CVR number, from `Scope`.
    pub cvr: String,
    /// Privilege URIs.
    pub privileges: Vec<String>,
    /// Data constraints: name and comma-separated values.
    pub constraints: Vec<(String, Vec<String>)>,
}

/// Why a privilege list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BppError {
    #[error("privilege list is not base64")]
    Base64,
    #[error("privilege list is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("privilege list is not well-formed XML: {0}")]
    Xml(String),
    #[error("privilege list root must be PrivilegeList in a BPP namespace")]
    Root,
    #[error("privilege lists with a DOCTYPE are refused")]
    DocType,
    #[error("privilege group scope '{0}' is not a CVR scope")]
    Scope(String),
}

/// Decodes the base64 claim value and parses it.
pub fn decode(claim: &str) -> Result<Vec<PrivilegeGroup>, BppError> {
    let compact: String = claim.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.len() > MAX_BYTES * 4 / 3 + 4 {
        return Err(BppError::TooLarge);
    }
    let bytes = STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .map_err(|_| BppError::Base64)?;
    let xml = String::from_utf8(bytes).map_err(|_| BppError::Xml("not UTF-8".into()))?;
    parse(&xml)
}

#[derive(PartialEq)]
enum Field {
    None,
    Privilege,
    Constraint(String),
}

/// Parses a privilege list document.
pub fn parse(xml: &str) -> Result<Vec<PrivilegeGroup>, BppError> {
    if xml.len() > MAX_BYTES {
        return Err(BppError::TooLarge);
    }
    let mut reader = NsReader::from_str(xml);
    reader.config_mut().trim_text(true);
    let mut groups = Vec::new();
    let mut current: Option<PrivilegeGroup> = None;
    let mut field = Field::None;
    let mut text = String::new();
    let mut depth = 0usize;
    let mut saw_root = false;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| BppError::Xml(e.to_string()))?;
        let event_kind = if matches!(event, Event::Start(_)) {
            Kind::Start
        } else {
            Kind::Other
        };
        let namespace = match ns {
            ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.as_ref()).into_owned()),
            _ => None,
        };
        match event {
            Event::DocType(_) => return Err(BppError::DocType),
            Event::Start(e) | Event::Empty(e) if depth == 0 && !saw_root => {
                let root_ok = e.local_name().as_ref() == b"PrivilegeList"
                    && namespace
                        .as_deref()
                        .is_some_and(|n| NAMESPACES.contains(&n));
                if !root_ok {
                    return Err(BppError::Root);
                }
                saw_root = true;
                if matches!(event_kind, Kind::Start) {
                    depth = 1;
                }
            }
            Event::Start(e) => {
                depth += 1;
                match e.local_name().as_ref() {
                    b"PrivilegeGroup" => {
                        let cvr = cvr_of(&attribute(&e, b"Scope")?.unwrap_or_default())?;
                        current = Some(PrivilegeGroup {
                            cvr,
                            ..PrivilegeGroup::default()
                        });
                    }
                    b"Privilege" => field = Field::Privilege,
                    b"Constraint" => {
                        field = Field::Constraint(attribute(&e, b"Name")?.unwrap_or_default())
                    }
                    _ => {}
                }
                text.clear();
            }
            Event::Empty(e) if e.local_name().as_ref() == b"PrivilegeGroup" => {
                let cvr = cvr_of(&attribute(&e, b"Scope")?.unwrap_or_default())?;
                groups.push(PrivilegeGroup {
                    cvr,
                    ..PrivilegeGroup::default()
                });
            }
            Event::Text(t) => text.push_str(
                &t.xml10_content()
                    .map_err(|e| BppError::Xml(e.to_string()))?,
            ),
            Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                text.push_str(match name.as_str() {
                    "amp" => "&",
                    "lt" => "<",
                    "gt" => ">",
                    "quot" => "\"",
                    "apos" => "'",
                    _ => return Err(BppError::Xml(format!("unknown entity &{name};"))),
                });
            }
            Event::End(e) => {
                depth = depth.saturating_sub(1);
                match (e.local_name().as_ref(), current.as_mut()) {
                    (b"Privilege", Some(group)) if field == Field::Privilege => {
                        group.privileges.push(text.trim().to_owned());
                    }
                    (b"Constraint", Some(group)) => {
                        if let Field::Constraint(name) = std::mem::replace(&mut field, Field::None)
                        {
                            let values = text
                                .split(',')
                                .map(|v| v.trim().to_owned())
                                .filter(|v| !v.is_empty())
                                .collect();
                            group.constraints.push((name, values));
                        }
                    }
                    (b"PrivilegeGroup", _) => groups.extend(current.take()),
                    _ => {}
                }
                field = if matches!(field, Field::Constraint(_)) {
                    field
                } else {
                    Field::None
                };
                text.clear();
            }
            Event::Eof if saw_root && depth == 0 => return Ok(groups),
            Event::Eof => return Err(BppError::Root),
            _ => {}
        }
    }
}

/// The CVR of `urn:dk:gov:saml:cvrNumberIdentifier:<cvr>` (prefix case-insensitive).
fn cvr_of(scope: &str) -> Result<String, BppError> {
    scope
        .get(..SCOPE_PREFIX.len())
        .filter(|p| p.eq_ignore_ascii_case(SCOPE_PREFIX))
        .and_then(|_| scope.get(SCOPE_PREFIX.len()..))
        .map(|cvr| cvr.trim().to_owned())
        .filter(|cvr| !cvr.is_empty())
        .ok_or_else(|| BppError::Scope(scope.chars().take(100).collect()))
}

enum Kind {
    Start,
    Other,
}

fn attribute(
    e: &quick_xml::events::BytesStart<'_>,
    name: &[u8],
) -> Result<Option<String>, BppError> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| BppError::Xml(err.to_string()))?;
        if attr.key.local_name().as_ref() == name {
            return Ok(Some(
                attr.unescape_value()
                    .map_err(|err| BppError::Xml(err.to_string()))?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">
  <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:29189129">
    <Privilege>http://dap.example/roles/usersystemrole/laes-oekonomi/1</Privilege>
    <Privilege>http://dap.example/roles/usersystemrole/laes-personale/1</Privilege>
    <Constraint Name="http://sts.kombit.dk/constraints/orgenhed/1">uuid1, uuid2</Constraint>
  </PrivilegeGroup>
  <PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:64942212">
    <Privilege>http://dap.example/roles/usersystemrole/laes-borger/1</Privilege>
  </PrivilegeGroup>
</bpp:PrivilegeList>"#;

    #[test]
    fn the_design_sample_parses_into_groups() {
        let groups = parse(SAMPLE).expect("parse");
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].cvr, "29189129");
        assert_eq!(groups[0].privileges.len(), 2);
        assert_eq!(
            groups[0].constraints,
            vec![(
                "http://sts.kombit.dk/constraints/orgenhed/1".to_owned(),
                vec!["uuid1".to_owned(), "uuid2".to_owned()]
            )]
        );
        assert_eq!(groups[1].cvr, "64942212");
        assert_eq!(
            groups[1].privileges,
            vec!["http://dap.example/roles/usersystemrole/laes-borger/1"]
        );
    }

    #[test]
    fn both_namespaces_and_base64_are_accepted() {
        let digst = SAMPLE.replace("http://itst.dk/", "http://digst.dk/");
        assert_eq!(parse(&digst).map(|g| g.len()), Ok(2));
        let encoded = STANDARD.encode(SAMPLE);
        assert_eq!(decode(&encoded).map(|g| g.len()), Ok(2));
        assert_eq!(
            parse(r#"<x:PrivilegeList xmlns:x="http://itst.dk/oiosaml/basic_privilege_profile"/>"#),
            Ok(vec![])
        );
    }

    #[test]
    fn hostile_or_broken_lists_are_refused() {
        let cases = [
            ("<PrivilegeList/>", BppError::Root),
            (
                r#"<b:PrivilegeList xmlns:b="http://evil.example/bpp"/>"#,
                BppError::Root,
            ),
            (
                "<!DOCTYPE x [<!ENTITY a \"b\">]><b:PrivilegeList xmlns:b=\"http://itst.dk/oiosaml/basic_privilege_profile\"/>",
                BppError::DocType,
            ),
        ];
        for (xml, expected) in cases {
            assert_eq!(parse(xml), Err(expected), "{xml}");
        }
        assert!(parse("<b:PrivilegeList xmlns:b=\"http://itst.dk/oiosaml/basic_privilege_profile\"><PrivilegeGroup Scope=\"urn:other:1\"/>").is_err());
        assert!(parse("not xml").is_err());
        assert_eq!(decode("%%%"), Err(BppError::Base64));
        assert_eq!(parse(&"x".repeat(MAX_BYTES + 1)), Err(BppError::TooLarge));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn xml_of(groups: &[PrivilegeGroup]) -> String {
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        };
        let body: String = groups
            .iter()
            .map(|g| {
                let privileges: String = g.privileges.iter().map(|p| format!("<Privilege>{}</Privilege>", escape(p))).collect();
                let constraints: String = g
                    .constraints
                    .iter()
                    .map(|(n, v)| format!(r#"<Constraint Name="{}">{}</Constraint>"#, escape(n), escape(&v.join(","))))
                    .collect();
                format!(r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:{}">{privileges}{constraints}</PrivilegeGroup>"#, g.cvr)
            })
            .collect();
        format!(
            r#"<bpp:PrivilegeList xmlns:bpp="http://itst.dk/oiosaml/basic_privilege_profile">{body}</bpp:PrivilegeList>"#
        )
    }

    fn group() -> impl Strategy<Value = PrivilegeGroup> {
        (
            "[0-9]{8}",
            proptest::collection::vec("[a-z:/._&<>-]{1,40}", 0..4),
            proptest::collection::vec(
                (
                    "[a-z:/.]{1,20}",
                    proptest::collection::vec("[a-z0-9-]{1,10}", 1..4),
                ),
                0..3,
            ),
        )
            .prop_map(|(cvr, privileges, constraints)| PrivilegeGroup {
                cvr,
                privileges,
                constraints,
            })
    }

    proptest! {
        #[test]
        fn generated_lists_round_trip(groups in proptest::collection::vec(group(), 0..5)) {
            prop_assert_eq!(parse(&xml_of(&groups)), Ok(groups));
        }

        #[test]
        fn arbitrary_input_never_panics(input in ".{0,300}") {
            let _ = parse(&input);
            let _ = decode(&input);
        }
    }
}
