//! One test per shape of a privilege list: spellings XML treats as equal parse equal,
//! and a shape dap does not understand grants nothing (its group is dropped, or the
//! whole list is refused).

use super::*;

const NS: &str = "http://itst.dk/oiosaml/basic_privilege_profile";
const SCOPE: &str = "urn:dk:gov:saml:cvrNumberIdentifier:29189129";
const ROLE: &str = "http://dap.example/roles/usersystemrole/laes-aeldre/1";
const ORG: &str = "http://sts.kombit.dk/constraints/orgenhed/1";

/// A list with one group whose body is `body`.
fn list(body: &str) -> String {
    format!(
        r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><PrivilegeGroup Scope="{SCOPE}">{body}</PrivilegeGroup></bpp:PrivilegeList>"#
    )
}

fn group(privileges: &[&str], constraints: &[(&str, &[&str])]) -> PrivilegeGroup {
    PrivilegeGroup {
        cvr: "29189129".into(),
        privileges: privileges.iter().map(|p| (*p).to_owned()).collect(),
        constraints: constraints
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect(),
    }
}

#[test]
fn a_self_closing_constraint_is_the_empty_constraint() {
    let expected = Ok(vec![group(&[ROLE], &[(ORG, &[])])]);
    for body in [
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}"/>"#),
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}" />"#),
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}"></Constraint>"#),
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}"> , </Constraint>"#),
        format!(r#"<Constraint Name='{ORG}'/><Privilege>{ROLE}</Privilege>"#),
    ] {
        assert_eq!(parse(&list(&body)), expected, "{body}");
    }
}

#[test]
fn self_closing_privileges_and_groups_are_their_empty_forms() {
    assert_eq!(
        parse(&list("<Privilege/>")),
        parse(&list("<Privilege></Privilege>"))
    );
    let empty = format!(
        r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><PrivilegeGroup Scope="{SCOPE}"/></bpp:PrivilegeList>"#
    );
    assert_eq!(parse(&empty), Ok(vec![group(&[], &[])]));
    assert_eq!(parse(&empty), parse(&list("")));
}

#[test]
fn prefixes_default_namespaces_cdata_entities_and_whitespace_are_the_same_list() {
    let expected = Ok(vec![group(&[ROLE], &[(ORG, &["u1", "u2"])])]);
    let slash_escaped = ROLE.replace('/', "&#x2F;");
    let spellings = [
        list(&format!(
            r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}">u1,u2</Constraint>"#
        )),
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><PrivilegeList xmlns="{NS}"><PrivilegeGroup Scope="{SCOPE}"><Privilege>{ROLE}</Privilege><Constraint Name="{ORG}">u1,u2</Constraint></PrivilegeGroup></PrivilegeList>"#
        ),
        format!(
            r#"<b:PrivilegeList xmlns:b="{NS}"><b:PrivilegeGroup Scope="{SCOPE}"><b:Privilege>{ROLE}</b:Privilege><b:Constraint Name="{ORG}">u1,u2</b:Constraint></b:PrivilegeGroup></b:PrivilegeList>"#
        ),
        list(&format!(
            "\n  <!-- job role -->\n  <Privilege>\n    <![CDATA[{ROLE}]]>\n  </Privilege>\n  <Constraint Name=\"{ORG}\"> u1 ,<![CDATA[u2]]> </Constraint>\n"
        )),
        list(&format!(
            r#"<Privilege>{slash_escaped}</Privilege><Constraint Name="{ORG}">&#117;1&#x2C;u2</Constraint>"#
        )),
    ];
    for xml in spellings {
        assert_eq!(parse(&xml), expected, "{xml}");
    }
}

/// Shapes inside a group that dap does not understand: the group grants nothing.
#[test]
fn a_group_with_a_shape_dap_does_not_understand_is_dropped() {
    let evil = r#"xmlns:e="http://evil.example/""#;
    let xsi = r#"xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance""#;
    let half = "http://dap.example/roles/usersystemrole/laes-";
    let bodies = [
        // Unknown or misspelt elements, anywhere in the group.
        format!(r#"<Privilege>{ROLE}</Privilege><constraint Name="{ORG}">u1</constraint>"#),
        format!(
            r#"<Privilege>{ROLE}</Privilege><Foo><Constraint Name="{ORG}">u1</Constraint></Foo>"#
        ),
        format!(r#"<Foo><Privilege>{ROLE}</Privilege></Foo>"#),
        format!(r#"<Privilege>{ROLE}</Privilege><Foo/>"#),
        format!(r#"<Privilege><Privilege>{ROLE}</Privilege></Privilege>"#),
        format!(r#"<Privilege>{ROLE}<Constraint Name="{ORG}"/></Privilege>"#),
        format!(
            r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:64942212"><Privilege>{ROLE}</Privilege></PrivilegeGroup>"#
        ),
        // Known names in a foreign namespace.
        format!(r#"<e:Privilege {evil}>{ROLE}</e:Privilege>"#),
        format!(
            r#"<Privilege>{ROLE}</Privilege><e:Constraint {evil} Name="{ORG}">u1</e:Constraint>"#
        ),
        // Attributes dap does not know, or in another namespace.
        format!(
            r#"<Privilege>{ROLE}</Privilege><Constraint e:Name="{ORG}" {evil}>u1</Constraint>"#
        ),
        format!(
            r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}" e:Name="x" {evil}>u1</Constraint>"#
        ),
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint Name="{ORG}" xsi:nil="true" {xsi}/>"#),
        format!(r#"<Privilege xml:lang="da">{ROLE}</Privilege>"#),
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint>u1</Constraint>"#),
        format!(r#"<Privilege>{ROLE}</Privilege><Constraint Name=" ">u1</Constraint>"#),
        // Comments and processing instructions inside a value, and text in the group.
        format!("<Privilege>{half} <!-- x --> aeldre/1</Privilege>"),
        format!("<Privilege>{half}<?pi x?>aeldre/1</Privilege>"),
        format!(r#"<Privilege>{ROLE}</Privilege>stray<Constraint Name="{ORG}">u1</Constraint>"#),
        format!(r#"<Privilege>{ROLE}</Privilege><![CDATA[<Constraint/>]]>"#),
    ];
    let other = r#"<PrivilegeGroup Scope="urn:dk:gov:saml:cvrNumberIdentifier:64942212"><Privilege>x</Privilege></PrivilegeGroup>"#;
    for body in bodies {
        let xml = list(&body).replace(
            "</bpp:PrivilegeList>",
            &format!("{other}</bpp:PrivilegeList>"),
        );
        let groups = parse(&xml).unwrap_or_default();
        assert!(
            groups
                .iter()
                .all(|g| g.cvr == "64942212" && g.privileges == ["x"]),
            "{body}: {groups:?}"
        );
    }
    let unknown_group_attribute = format!(
        r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><PrivilegeGroup Scope="{SCOPE}" Validity="2030"><Privilege>{ROLE}</Privilege></PrivilegeGroup></bpp:PrivilegeList>"#
    );
    assert_eq!(parse(&unknown_group_attribute).unwrap_or_default(), vec![]);
}

/// Groups outside the list, inside unknown elements or in a foreign namespace grant
/// nothing.
#[test]
fn groups_outside_their_place_grant_nothing() {
    let granting = format!(
        r#"<PrivilegeGroup Scope="{SCOPE}"><Privilege>{ROLE}</Privilege></PrivilegeGroup>"#
    );
    let documents = [
        format!(r#"<bpp:PrivilegeList xmlns:bpp="{NS}"/>{granting}"#),
        format!(r#"<bpp:PrivilegeList xmlns:bpp="{NS}"></bpp:PrivilegeList>{granting}"#),
        format!(
            r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><Wrapper>{granting}</Wrapper></bpp:PrivilegeList>"#
        ),
        format!(
            r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><bpp:PrivilegeList>{granting}</bpp:PrivilegeList></bpp:PrivilegeList>"#
        ),
        format!(
            r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><e:PrivilegeGroup xmlns:e="http://evil.example/" Scope="{SCOPE}"><Privilege>{ROLE}</Privilege></e:PrivilegeGroup></bpp:PrivilegeList>"#
        ),
    ];
    for xml in documents {
        assert_eq!(parse(&xml).unwrap_or_default(), vec![], "{xml}");
    }
}

#[test]
fn duplicate_groups_and_constraints_are_kept_for_the_mapping_to_narrow() {
    let xml = format!(
        r#"<bpp:PrivilegeList xmlns:bpp="{NS}"><PrivilegeGroup Scope="{SCOPE}"><Privilege>{ROLE}</Privilege><Constraint Name="{ORG}">u1,u2</Constraint><Constraint Name="{ORG}">u2</Constraint></PrivilegeGroup><PrivilegeGroup Scope="{SCOPE}"><Privilege>{ROLE}</Privilege></PrivilegeGroup></bpp:PrivilegeList>"#
    );
    assert_eq!(
        parse(&xml),
        Ok(vec![
            group(&[ROLE], &[(ORG, &["u1", "u2"]), (ORG, &["u2"])]),
            group(&[ROLE], &[]),
        ])
    );
}

#[test]
fn unknown_entities_are_refused() {
    assert!(parse(&list("<Privilege>&role;</Privilege>")).is_err());
    assert!(parse(&list("<Privilege>&#0;</Privilege>")).is_err());
}
