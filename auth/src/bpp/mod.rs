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
//! Both namespaces (`http://itst.dk/…` and `http://digst.dk/…`) are accepted on the root;
//! the children are unqualified or in the root's namespace. Documents with a DOCTYPE are
//! refused (no entity tricks), and size is bounded.
//!
//! **Unknown shapes close.** Spellings XML treats as equal are equal here (`<X/>` and
//! `<X></X>`, prefixes, CDATA, character references, surrounding whitespace). Anything
//! else inside a group that dap does not understand (an unknown or misspelt element, an
//! element in another namespace, an attribute other than `Scope`/`Name`, text between
//! the children, a comment or processing instruction inside a value, a `Constraint`
//! without a `Name`) drops the whole group: it grants nothing, because dropping a group
//! can only take access away (groups widen each other, constraints narrow). Elements
//! outside a group grant nothing either, and content after the root refuses the list.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};

/// Namespaces of the privilege list root.
pub const NAMESPACES: [&str; 2] = [
    "http://itst.dk/oiosaml/basic_privilege_profile",
    "http://digst.dk/oiosaml/basic_privilege_profile",
];
/// Largest privilege list accepted (decoded).
pub const MAX_BYTES: usize = 64 * 1024;

mod reader;

pub use reader::parse;

/// The privileges one organisation (a CVR) grants.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrivilegeGroup {
    /// The organisation's CVR number, from `Scope`.
    pub cvr: String,
    /// Privilege URIs.
    pub privileges: Vec<String>,
    /// Data constraints in document order: name and its comma-separated values (none
    /// for an empty or self-closing `Constraint`, which admits nothing). A name may
    /// repeat; each occurrence restricts on its own.
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
    #[error("privilege list has content after its root element")]
    AfterRoot,
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
mod properties;
#[cfg(test)]
mod shapes;
