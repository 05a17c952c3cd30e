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
    match role.strip_prefix(ROLE_URI_PREFIX) {
        Some(rest) => rest
            .split('/')
            .next()
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        None if !role.contains('/') && !role.contains(':') && !role.is_empty() => {
            Some(role.to_owned())
        }
        None => None,
    }
}

/// The short name of one of dap's role URIs; `None` for anything else (a privilege
/// list only ever grants dap's roles through their full URIs).
pub fn short_name_of_uri(uri: &str) -> Option<String> {
    uri.trim()
        .strip_prefix(ROLE_URI_PREFIX)
        .and_then(|rest| rest.split('/').next())
        .filter(|s| !s.is_empty())
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
}
