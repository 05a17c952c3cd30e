//! Danish first, English switchable: the console's texts in one table. The language is
//! the `dap_lang` cookie (set by `/console/lang`), Danish when absent.

use actix_web::HttpRequest;

/// Name of the language cookie.
pub const LANG_COOKIE: &str = "dap_lang";

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Da,
    En,
}

impl Lang {
    /// The request's language (cookie), Danish by default.
    pub fn of(req: &HttpRequest) -> Self {
        match req.cookie(LANG_COOKIE).as_ref().map(|c| c.value()) {
            Some("en") => Self::En,
            _ => Self::Da,
        }
    }

    /// `da` or `en`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Da => "da",
            Self::En => "en",
        }
    }

    /// The other language, offered by the switch in the header.
    pub fn other(self) -> Self {
        match self {
            Self::Da => Self::En,
            Self::En => Self::Da,
        }
    }

    /// The text with this key; a missing key shows itself (a unit test keeps the table
    /// complete for every key the console's code uses).
    pub fn t(self, key: &str) -> &'static str {
        match MESSAGES.iter().find(|(k, _, _)| *k == key) {
            Some((_, da, en)) => match self {
                Self::Da => da,
                Self::En => en,
            },
            None => "??",
        }
    }

    /// The Danish or English one of two texts (catalogue titles and descriptions).
    pub fn pick<'a>(self, da: &'a str, en: &'a str) -> &'a str {
        match self {
            Self::Da => da,
            Self::En if en.is_empty() => da,
            Self::En => en,
        }
    }
}

/// key, Danish, English.
const MESSAGES: &[(&str, &str, &str)] = &[
    (
        "app",
        "dap — direkte dataadgang",
        "dap — direct data access",
    ),
    ("skip", "Spring til indhold", "Skip to content"),
    ("nav", "Hovedmenu", "Main menu"),
    ("nav.catalogue", "Datasæt", "Datasets"),
    ("nav.connect", "Forbind", "Connect"),
    ("nav.key_figures", "Nøgletal", "Key figures"),
    ("nav.admin", "IT-administration", "IT administration"),
    ("nav.audit", "Adgangslog", "Audit log"),
    ("lang.switch", "English", "Dansk"),
    ("signed_in_as", "Logget ind som", "Signed in as"),
    ("municipality", "Kommune", "Municipality"),
    ("acting_for", "handler for", "acting for"),
    ("acting.choose", "Handl for kommune", "Act for municipality"),
    ("acting.switch", "Skift", "Switch"),
    ("sign_out", "Log ud", "Sign out"),
    ("sign_in", "Log ind", "Sign in"),
    ("sign_in.title", "Log ind", "Sign in"),
    (
        "sign_in.expired",
        "Du er ikke logget ind, eller din session er udløbet. Log ind for at fortsætte.",
        "You are not signed in, or your session has expired. Sign in to continue.",
    ),
    (
        "sign_in.broker",
        "Log ind med kommunens login",
        "Sign in with your municipality's login",
    ),
    ("sign_in.demo", "Demo-login", "Demo sign-in"),
    (
        "sign_in.demo_help",
        "Kun i dap demo: vælg en kommune og de roller, du vil prøve med.",
        "In dap demo only: pick a municipality and the roles to try.",
    ),
    (
        "sign_in.none",
        "Der er ikke sat login op på denne server.",
        "No sign-in is configured on this server.",
    ),
    ("sign_in.user", "Brugernavn", "User name"),
    ("sign_in.roles", "Roller", "Roles"),
    ("signed_out", "Du er logget ud.", "You have signed out."),
    ("catalogue.title", "Datasæt", "Datasets"),
    ("catalogue.search", "Søg", "Search"),
    ("catalogue.search_label", "Søg i datasæt", "Search datasets"),
    ("catalogue.domain", "Domæne", "Domain"),
    ("catalogue.all_domains", "Alle domæner", "All domains"),
    (
        "catalogue.none",
        "Ingen datasæt matcher.",
        "No datasets match.",
    ),
    (
        "catalogue.updated",
        "Senest opdateret for din kommune",
        "Last updated for your municipality",
    ),
    ("catalogue.version", "Version", "Version"),
    ("catalogue.columns", "Kolonner", "Columns"),
    ("catalogue.count", "datasæt", "datasets"),
    (
        "catalogue.unavailable",
        "ikke tilgængelig lige nu",
        "not available right now",
    ),
    ("column.name", "Kolonne", "Column"),
    ("column.type", "Type", "Type"),
    ("column.classification", "Klassifikation", "Classification"),
    ("column.description", "Beskrivelse", "Description"),
    ("dataset.rows", "Rækker", "Rows"),
    ("dataset.filters", "Filtre", "Filters"),
    ("dataset.filter_column", "Kolonne", "Column"),
    ("dataset.filter_operator", "Operator", "Operator"),
    ("dataset.filter_value", "Værdi", "Value"),
    ("dataset.filter_add", "Tilføj filter", "Add filter"),
    ("dataset.filter_remove", "Fjern", "Remove"),
    (
        "dataset.filter_help",
        "Alle filtre skal gælde (OG). 'in' tager værdier adskilt af komma; 'is_null' tager true eller false.",
        "All filters must hold (AND). 'in' takes comma-separated values; 'is_null' takes true or false.",
    ),
    ("dataset.sort", "Sortér efter", "Sort by"),
    ("dataset.direction", "Rækkefølge", "Direction"),
    ("dataset.sort_none", "Nøglekolonner", "Key columns"),
    ("dataset.ascending", "Stigende", "Ascending"),
    ("dataset.descending", "Faldende", "Descending"),
    ("dataset.page_size", "Rækker pr. side", "Rows per page"),
    ("dataset.version", "Version", "Version"),
    (
        "dataset.as_of",
        "Data som de var den (dato)",
        "Data as of (date)",
    ),
    ("dataset.apply", "Vis", "Show"),
    ("dataset.reset", "Nulstil", "Reset"),
    ("dataset.next", "Næste side", "Next page"),
    ("dataset.first", "Første side", "First page"),
    ("dataset.showing", "Viser række", "Showing rows"),
    ("dataset.of_version", "af version", "of version"),
    ("dataset.no_rows", "Ingen rækker matcher.", "No rows match."),
    ("dataset.table_caption", "Rækker fra", "Rows of"),
    ("dataset.download", "Download", "Download"),
    (
        "dataset.download_help",
        "Downloads følger de filtre, den sortering og den version, der vises her.",
        "Downloads follow the filters, sort order and version shown here.",
    ),
    (
        "dataset.excel",
        "Til dansk Excel: XLSX bevarer kommunekoden {code} som tekst og beløb som tal; CSV (semikolon, decimalkomma) åbner direkte, men Excel kan fjerne foranstillede nuller.",
        "For Danish Excel: XLSX keeps the municipality code {code} as text and amounts as numbers; CSV (semicolon, decimal comma) opens directly, but Excel may drop leading zeros.",
    ),
    (
        "dataset.csv_danish",
        "CSV til dansk Excel (semikolon, decimalkomma)",
        "CSV for Danish Excel (semicolon, decimal comma)",
    ),
    (
        "dataset.versions",
        "Versioner og ændringer",
        "Versions and changes",
    ),
    (
        "dataset.versions_help",
        "Versioner, der ændrede din kommunes rækker, nyeste først.",
        "Versions that changed your municipality's rows, newest first.",
    ),
    ("dataset.operation", "Handling", "Operation"),
    ("dataset.time", "Tidspunkt", "Time"),
    ("dataset.inserted", "Indsat", "Inserted"),
    ("dataset.updated", "Opdateret", "Updated"),
    ("dataset.deleted", "Slettet", "Deleted"),
    ("dataset.show_version", "Vis version", "Show version"),
    (
        "dataset.connect",
        "Forbind Power BI, Excel, Python eller R til dette datasæt",
        "Connect Power BI, Excel, Python or R to this dataset",
    ),
    ("dataset.current", "nuværende", "current"),
    ("not_found.title", "Ikke fundet", "Not found"),
    (
        "not_found.text",
        "Siden findes ikke, eller du har ikke adgang til den.",
        "The page does not exist, or you do not have access to it.",
    ),
    ("forbidden.title", "Ingen adgang", "No access"),
    ("error.title", "Noget gik galt", "Something went wrong"),
    (
        "error.text",
        "Prøv igen om lidt. Oplys forespørgslens id, hvis du kontakter support:",
        "Try again shortly. Quote the request id if you contact support:",
    ),
    (
        "error.form",
        "Formularen blev ikke godkendt",
        "The form was not accepted",
    ),
    (
        "error.csrf",
        "Formularen var udløbet eller kom fra en anden side. Indlæs siden igen og prøv igen.",
        "The form had expired or came from another site. Reload the page and try again.",
    ),
    ("back", "Tilbage", "Back"),
    ("connect.title", "Forbind værktøjer", "Connect tools"),
    ("connect.dataset", "Datasæt", "Dataset"),
    (
        "connect.tokens",
        "Personlige adgangsnøgler",
        "Personal access tokens",
    ),
    (
        "connect.tokens_help",
        "En nøgle handler som dig, kun for de valgte datasæt, indtil den udløber eller trækkes tilbage. Brug den i Excel/Power BI (OData, Basic: adgangskode) eller i scripts.",
        "A token acts as you, for the chosen datasets only, until it expires or is revoked. Use it in Excel/Power BI (OData, Basic: password) or in scripts.",
    ),
    ("connect.name", "Navn", "Name"),
    (
        "connect.days",
        "Gyldig i dage (1–90)",
        "Valid for days (1–90)",
    ),
    ("connect.datasets", "Datasæt", "Datasets"),
    ("connect.create_token", "Opret nøgle", "Create token"),
    ("connect.created", "Oprettet", "Created"),
    ("connect.expires", "Udløber", "Expires"),
    ("connect.revoked", "Trukket tilbage", "Revoked"),
    ("connect.revoke", "Træk tilbage", "Revoke"),
    (
        "connect.no_tokens",
        "Du har ingen nøgler.",
        "You have no tokens.",
    ),
    (
        "connect.secret_once",
        "Kopiér nøglen nu: den vises kun denne ene gang.",
        "Copy the token now: it is shown this once only.",
    ),
    ("connect.copy", "Kopiér", "Copy"),
    (
        "connect.sharing",
        "Delta Sharing-profil (Power BI, pandas, Spark)",
        "Delta Sharing profile (Power BI, pandas, Spark)",
    ),
    (
        "connect.sharing_help",
        "Profilen er en fil (.share) med adresse og en personlig nøgle. I Power BI: Hent data → Delta Sharing, og indsæt adresse og nøgle fra filen.",
        "The profile is a file (.share) with the address and a personal token. In Power BI: Get data → Delta Sharing, and paste the address and token from the file.",
    ),
    (
        "connect.download_profile",
        "Opret og download profil",
        "Create and download profile",
    ),
    (
        "connect.odata",
        "OData (Excel og Power BI)",
        "OData (Excel and Power BI)",
    ),
    (
        "connect.odata_help",
        "Excel: Data → Hent data → Fra andre kilder → Fra OData-feed. Indsæt adressen, vælg Basic, skriv et vilkårligt brugernavn og en personlig adgangsnøgle som adgangskode.",
        "Excel: Data → Get Data → From Other Sources → From OData Feed. Paste the address, choose Basic, enter any user name and a personal access token as the password.",
    ),
    ("connect.python", "Python", "Python"),
    ("connect.r", "R", "R"),
    (
        "connect.choose",
        "Vælg et datasæt for adresser og eksempler:",
        "Choose a dataset for addresses and examples:",
    ),
    ("key_figures.title", "Nøgletal", "Key figures"),
    (
        "key_figures.help",
        "Sammenlign din kommune med de andre. Små grupper er undertrykt, så ingen enkeltpersoner kan genkendes.",
        "Compare your municipality with the others. Small groups are suppressed so no individual can be recognised.",
    ),
    ("key_figures.group", "Sammenlign med", "Compare with"),
    ("key_figures.all", "Alle kommuner", "All municipalities"),
    (
        "key_figures.region",
        "Kommunens region",
        "The municipality's region",
    ),
    (
        "key_figures.size",
        "Kommuner af samme størrelse",
        "Municipalities of similar size",
    ),
    (
        "key_figures.selected",
        "Udvalgte kommuner",
        "Selected municipalities",
    ),
    (
        "key_figures.codes",
        "Kommunekoder, adskilt af komma (fx 0147,0151)",
        "Municipality codes, separated by commas (e.g. 0147,0151)",
    ),
    ("key_figures.category", "Kategori", "Category"),
    ("key_figures.total", "I alt", "Total"),
    ("key_figures.own", "Din kommune", "Your municipality"),
    ("key_figures.median", "Gruppens median", "Group median"),
    ("key_figures.country", "Hele landet", "Whole country"),
    ("key_figures.suppressed", "undertrykt", "suppressed"),
    (
        "key_figures.too_few_units",
        "for få enheder",
        "too few units",
    ),
    (
        "key_figures.complementary",
        "sekundær undertrykkelse",
        "complementary suppression",
    ),
    ("key_figures.not_defined", "ikke defineret", "not defined"),
    ("key_figures.definition", "Definition", "Definition"),
    (
        "key_figures.disclosure",
        "Diskretionsregel",
        "Disclosure rule",
    ),
    (
        "key_figures.disclosure_text",
        "En celle vises kun med mindst så mange bidragende enheder:",
        "A cell is shown only with at least this many contributing units:",
    ),
    (
        "key_figures.unit_column",
        "Enheder tælles i kolonnen",
        "Units are counted in the column",
    ),
    ("key_figures.measure", "Beregning", "Measure"),
    ("key_figures.unit", "Enhed", "Unit"),
    ("key_figures.chart", "Diagram", "Chart"),
    ("key_figures.table", "Tabel", "Table"),
    (
        "key_figures.download",
        "Download tabellen (CSV)",
        "Download the table (CSV)",
    ),
    ("key_figures.show", "Vis", "Show"),
    ("key_figures.over_time", "over tid", "over time"),
    ("admin.title", "IT-administration", "IT administration"),
    ("admin.clients", "Maskinklienter", "Machine clients"),
    (
        "admin.clients_help",
        "Integrationer henter data med klient-id og hemmelighed (OAuth client credentials).",
        "Integrations fetch data with client id and secret (OAuth client credentials).",
    ),
    ("admin.client_id", "Klient-id", "Client id"),
    ("admin.status", "Status", "Status"),
    ("admin.active", "aktiv", "active"),
    ("admin.disabled", "deaktiveret", "disabled"),
    ("admin.register", "Registrér klient", "Register client"),
    ("admin.rotate", "Ny hemmelighed", "New secret"),
    ("admin.disable", "Deaktivér", "Disable"),
    ("admin.delete", "Slet", "Delete"),
    (
        "admin.secret_once",
        "Kopiér hemmeligheden nu: den vises kun denne ene gang.",
        "Copy the secret now: it is shown this once only.",
    ),
    ("admin.secret", "Hemmelighed", "Secret"),
    ("admin.client_name", "Navn", "Name"),
    ("admin.client_description", "Beskrivelse", "Description"),
    (
        "admin.days",
        "Gyldig i dage (1–730)",
        "Valid for days (1–730)",
    ),
    (
        "admin.no_clients",
        "Ingen maskinklienter.",
        "No machine clients.",
    ),
    (
        "admin.tokens",
        "Personlige nøgler i kommunen",
        "Personal tokens of the municipality",
    ),
    ("admin.owner", "Ejer", "Owner"),
    (
        "admin.no_tokens",
        "Ingen personlige nøgler.",
        "No personal tokens.",
    ),
    ("admin.delegations", "Delegeringer", "Delegations"),
    ("admin.rights", "Leveranceret", "Delivery rights"),
    (
        "dataset.deliveries",
        "Seneste leverancer",
        "Recent deliveries",
    ),
    (
        "dataset.no_deliveries",
        "Kommunen har ikke leveret til dette datasæt endnu.",
        "The municipality has not delivered to this dataset yet.",
    ),
    ("dataset.delivery_id", "Leverance", "Delivery"),
    ("dataset.delivery_mode", "Måde", "Mode"),
    (
        "admin.rights_help",
        "Hvem må levere data for kommunen, datasæt for datasæt: en maskinklient eller en person (udsteder og bruger-id). Retten læses ved hver levering.",
        "Who may deliver data for the municipality, dataset by dataset: a machine client or a person (issuer and user id). The right is checked on every delivery.",
    ),
    ("admin.right_dataset", "Datasæt", "Dataset"),
    ("admin.right_client", "Maskinklient", "Machine client"),
    (
        "admin.right_person",
        "Ingen (en person, nedenfor)",
        "None (a person, below)",
    ),
    (
        "admin.right_person_legend",
        "Eller en person",
        "Or a person",
    ),
    ("admin.right_issuer", "Udsteder", "Issuer"),
    (
        "admin.right_subject",
        "Modtager (bruger- eller klient-id)",
        "Grantee (user or client id)",
    ),
    ("admin.granted", "Givet", "Granted"),
    ("admin.grant", "Giv leveranceret", "Grant delivery right"),
    (
        "admin.no_rights",
        "Ingen må levere endnu.",
        "No one may deliver yet.",
    ),
    (
        "admin.delegations_help",
        "Lad en anden organisation (CVR) læse udvalgte datasæt for kommunen indtil en dato.",
        "Let another organisation (CVR) read chosen datasets of the municipality until a date.",
    ),
    ("admin.grantee", "Modtager (CVR)", "Grantee (CVR)"),
    (
        "admin.valid_until",
        "Gyldig til (dato)",
        "Valid until (date)",
    ),
    ("admin.direction", "Retning", "Direction"),
    ("admin.delegate", "Delegér", "Delegate"),
    (
        "admin.no_delegations",
        "Ingen delegeringer.",
        "No delegations.",
    ),
    (
        "admin.settings",
        "Kommunens indstillinger",
        "Municipality settings",
    ),
    (
        "admin.disabled_datasets",
        "Slåede fra datasæt",
        "Datasets switched off",
    ),
    (
        "admin.min_nsis",
        "Mindste NSIS-sikringsniveau",
        "Minimum NSIS assurance level",
    ),
    ("admin.default", "Platformens standard", "Platform default"),
    ("admin.save", "Gem", "Save"),
    ("admin.saved", "Gemt.", "Saved."),
    ("admin.updated_by", "Sidst ændret af", "Last changed by"),
    ("audit.title", "Adgangslog", "Audit log"),
    ("audit.from", "Fra (dato)", "From (date)"),
    ("audit.to", "Til (dato)", "To (date)"),
    ("audit.subject", "Bruger/klient", "User/client"),
    ("audit.dataset", "Datasæt", "Dataset"),
    ("audit.outcome", "Udfald", "Outcome"),
    ("audit.any", "Alle", "Any"),
    ("audit.filter", "Filtrér", "Filter"),
    ("audit.time", "Tidspunkt", "Time"),
    ("audit.action", "Handling", "Action"),
    ("audit.rows", "Rækker", "Rows"),
    ("audit.reason", "Årsag", "Reason"),
    ("audit.none", "Ingen poster matcher.", "No records match."),
    ("audit.more", "Flere poster", "More records"),
    (
        "audit.export",
        "Eksportér det valgte",
        "Export the selection",
    ),
    ("audit.chain", "Kædens integritet", "Chain integrity"),
    (
        "audit.chain_ok",
        "Kæden er intakt: ingen poster er ændret, fjernet eller flyttet.",
        "The chain is intact: no record was changed, removed or moved.",
    ),
    (
        "audit.chain_broken",
        "Kæden er brudt ved position",
        "The chain is broken at position",
    ),
    (
        "audit.checked",
        "poster kontrolleret; kædens hoved",
        "records checked; chain head",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `t("key")` in the console's code has a Danish and an English text.
    #[test]
    fn every_used_key_is_in_the_table() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/console");
        let mut missing = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            for part in text.split(".t(\"").skip(1) {
                let key = part.split('"').next().unwrap_or_default();
                if !MESSAGES.iter().any(|(k, _, _)| *k == key) {
                    missing.push(key.to_owned());
                }
            }
        }
        assert!(missing.is_empty(), "keys without texts: {missing:?}");
        let mut keys: Vec<&str> = MESSAGES.iter().map(|(k, _, _)| *k).collect();
        let all = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all, "a key is in the table twice");
    }
}
