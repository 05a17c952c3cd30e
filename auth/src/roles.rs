//! dap's user system roles. A municipality bundles them into job roles in its own
//! administration; tokens carry them as URIs (`…/usersystemrole/<name>/1`) or short names.

/// Prefix of every role URI dap publishes.
pub const ROLE_URI_PREFIX: &str = "http://dap.example/roles/usersystemrole/";

/// Opens columns classified `sensitive` (e.g. CPR numbers) in datasets the caller can read.
pub const SENSITIVE: &str = "laes-foelsomme";
/// Municipal IT administration.
pub const IT_ADMIN: &str = "it-administration";
/// Cross-municipality key figures with small groups suppressed.
pub const KEY_FIGURES: &str = "noegletal";

/// The read role of a domain, e.g. `laes-oekonomi`.
pub fn read_role(domain: &str) -> String {
    format!("laes-{domain}")
}

/// The full URI of a role short name.
pub fn role_uri(name: &str) -> String {
    format!("{ROLE_URI_PREFIX}{name}/1")
}

/// The short name of a role given as URI or short name; `None` for a URI of someone else.
pub fn short_name(role: &str) -> Option<String> {
    let role = role.trim();
    if role.starts_with(ROLE_URI_PREFIX) {
        return short_name_of_uri(role);
    }
    (!role.contains('/') && !role.contains(':') && !role.is_empty()).then(|| role.to_owned())
}

/// The short name of one of dap's role URIs; `None` for anything else (a privilege
/// list only ever grants dap's roles through their full URIs). Only the exact form
/// `<prefix><name>/1` names a role: another version or a longer path is a privilege dap
/// does not know, and grants nothing.
pub fn short_name_of_uri(uri: &str) -> Option<String> {
    uri.trim()
        .strip_prefix(ROLE_URI_PREFIX)?
        .strip_suffix("/1")
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_uris_and_short_names_agree() {
        assert_eq!(
            short_name(&role_uri("laes-oekonomi")).as_deref(),
            Some("laes-oekonomi")
        );
        assert_eq!(short_name("laes-borger").as_deref(), Some("laes-borger"));
        assert_eq!(
            short_name("http://other.example/roles/usersystemrole/laes-oekonomi/1"),
            None
        );
    }

    #[test]
    fn only_the_exact_uri_of_a_role_names_it() {
        for uri in [
            "http://dap.example/roles/usersystemrole/laes-aeldre/2",
            "http://dap.example/roles/usersystemrole/laes-aeldre/1/x",
            "http://dap.example/roles/usersystemrole/laes-aeldre",
            "http://dap.example/roles/usersystemrole/laes aeldre/1",
            "http://dap.example/roles/usersystemrole/laes-aeldre?x/1",
            "http://dap.example/roles/usersystemrole//1",
        ] {
            assert_eq!(short_name_of_uri(uri), None, "{uri}");
            assert_eq!(short_name(uri), None, "{uri}");
        }
        assert_eq!(
            short_name_of_uri(" http://dap.example/roles/usersystemrole/laes-aeldre/1 ").as_deref(),
            Some("laes-aeldre")
        );
    }
}
