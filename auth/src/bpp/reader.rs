//! The privilege list parser: a stack of the elements the reader is in, so each event
//! is judged by its place. Known elements in their place build groups; anything else in
//! a group drops that group (see the module documentation of [`super`]).

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::{BppError, MAX_BYTES, NAMESPACES, PrivilegeGroup};

const SCOPE_PREFIX: &str = "urn:dk:gov:saml:cvrnumberidentifier:";

/// Where the reader is.
enum Frame {
    /// Inside the root `PrivilegeList`.
    List,
    /// Inside a `PrivilegeGroup`.
    Group,
    /// Inside a `Privilege`.
    Privilege,
    /// Inside a `Constraint` with this name.
    Constraint(String),
    /// Inside an element dap does not know: nothing in it grants.
    Unknown,
}

#[derive(Default)]
struct State {
    stack: Vec<Frame>,
    groups: Vec<PrivilegeGroup>,
    /// The open group; `None` when it holds a shape dap does not understand.
    group: Option<PrivilegeGroup>,
    /// The text of the open value (text, CDATA and references, joined).
    text: String,
    /// The root element has ended.
    closed: bool,
}

/// Parses a privilege list document.
pub fn parse(xml: &str) -> Result<Vec<PrivilegeGroup>, BppError> {
    if xml.len() > MAX_BYTES {
        return Err(BppError::TooLarge);
    }
    let mut reader = NsReader::from_str(xml);
    let config = reader.config_mut();
    // `<X/>` arrives as `<X></X>`: one path for both spellings, so no self-closing
    // element can slip past the code that handles its long form.
    config.expand_empty_elements = true;
    // Values are trimmed whole, after text, CDATA and references are joined; trimming
    // each piece would glue `laes- <!-- --> x` into a different name.
    config.trim_text(false);
    let mut state = State::default();
    loop {
        let (ns, event) = reader.read_resolved_event().map_err(xml_error)?;
        match event {
            Event::Start(e) => state.start(&ns, &e)?,
            Event::Empty(e) => {
                state.start(&ns, &e)?;
                state.end();
            }
            Event::End(_) => state.end(),
            Event::Text(t) => state.text(&t.xml10_content().map_err(xml_error)?)?,
            Event::CData(t) => state.text(&t.xml10_content().map_err(xml_error)?)?,
            Event::GeneralRef(r) => state.text(&reference(&r)?)?,
            Event::Comment(_) | Event::PI(_) => state.aside(),
            Event::DocType(_) => return Err(BppError::DocType),
            Event::Decl(_) => {}
            Event::Eof if state.closed && state.stack.is_empty() => return Ok(state.groups),
            Event::Eof => return Err(BppError::Root),
        }
    }
}

impl State {
    fn start(&mut self, ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Result<(), BppError> {
        let frame = match self.stack.last() {
            None if self.closed => return Err(BppError::AfterRoot),
            None => {
                let root_ok = e.local_name().as_ref() == b"PrivilegeList"
                    && matches!(ns, ResolveResult::Bound(n) if in_bpp(n.as_ref()));
                if !root_ok {
                    return Err(BppError::Root);
                }
                Frame::List
            }
            Some(Frame::List) if is(ns, e, b"PrivilegeGroup") => {
                self.group = open_group(e)?;
                Frame::Group
            }
            Some(Frame::Group) => {
                self.text.clear();
                match value_frame(ns, e)? {
                    Some(frame) => frame,
                    None => self.drop_group(),
                }
            }
            // An element inside a value: the value is not plain text.
            Some(Frame::Privilege | Frame::Constraint(_)) => self.drop_group(),
            Some(Frame::List | Frame::Unknown) => Frame::Unknown,
        };
        self.stack.push(frame);
        Ok(())
    }

    fn end(&mut self) {
        match self.stack.pop() {
            Some(Frame::List) => self.closed = true,
            Some(Frame::Group) => self.groups.extend(self.group.take()),
            Some(Frame::Privilege) => {
                if let Some(group) = self.group.as_mut() {
                    group.privileges.push(self.text.trim().to_owned());
                }
            }
            Some(Frame::Constraint(name)) => {
                if let Some(group) = self.group.as_mut() {
                    let values = self
                        .text
                        .split(',')
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty())
                        .collect();
                    group.constraints.push((name, values));
                }
            }
            Some(Frame::Unknown) | None => {}
        }
        self.text.clear();
    }

    /// Character data (text, CDATA or a resolved reference).
    fn text(&mut self, text: &str) -> Result<(), BppError> {
        match self.stack.last() {
            Some(Frame::Privilege | Frame::Constraint(_)) => self.text.push_str(text),
            // Whitespace lays out the document; anything else between a group's children
            // is a shape dap does not know.
            Some(Frame::Group) if !text.trim().is_empty() => {
                self.drop_group();
            }
            None if !text.trim().is_empty() => {
                return Err(if self.closed {
                    BppError::AfterRoot
                } else {
                    BppError::Root
                });
            }
            _ => {}
        }
        Ok(())
    }

    /// A comment or processing instruction: harmless between elements, but a value it
    /// splits is not one piece of text.
    fn aside(&mut self) {
        if matches!(
            self.stack.last(),
            Some(Frame::Privilege | Frame::Constraint(_))
        ) {
            self.drop_group();
        }
    }

    /// The open group holds something dap does not understand: it grants nothing.
    fn drop_group(&mut self) -> Frame {
        self.group = None;
        Frame::Unknown
    }
}

/// True for an element named `local` that is unqualified or in a BPP namespace.
fn is(ns: &ResolveResult<'_>, e: &BytesStart<'_>, local: &[u8]) -> bool {
    e.local_name().as_ref() == local
        && match ns {
            ResolveResult::Unbound => true,
            ResolveResult::Bound(n) => in_bpp(n.as_ref()),
            ResolveResult::Unknown(_) => false,
        }
}

fn in_bpp(namespace: &[u8]) -> bool {
    NAMESPACES.iter().any(|n| n.as_bytes() == namespace)
}

/// The group a `PrivilegeGroup` opens; `None` when it carries an attribute other than
/// `Scope` (the group then grants nothing). A missing or malformed scope refuses the list.
fn open_group(e: &BytesStart<'_>) -> Result<Option<PrivilegeGroup>, BppError> {
    let Some(attributes) = attributes(e, b"Scope")? else {
        return Ok(None);
    };
    let cvr = cvr_of(attributes.as_deref().unwrap_or_default())?;
    Ok(Some(PrivilegeGroup {
        cvr,
        ..PrivilegeGroup::default()
    }))
}

/// The frame a child of a group opens; `None` for a child dap does not understand.
fn value_frame(ns: &ResolveResult<'_>, e: &BytesStart<'_>) -> Result<Option<Frame>, BppError> {
    if is(ns, e, b"Privilege") {
        // A privilege has no attributes (no attribute is named "").
        let bare = attributes(e, b"")?.is_some();
        return Ok(bare.then_some(Frame::Privilege));
    }
    if is(ns, e, b"Constraint") {
        let name = attributes(e, b"Name")?.flatten();
        let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        return Ok(name.map(Frame::Constraint));
    }
    Ok(None)
}

/// The value of the one attribute `wanted` (unprefixed); namespace declarations are
/// allowed. `None` when the element has any other attribute (a shape dap does not
/// know); `Some(None)` when `wanted` is absent.
fn attributes(e: &BytesStart<'_>, wanted: &[u8]) -> Result<Option<Option<String>>, BppError> {
    let mut found = None;
    for attr in e.attributes() {
        let attr: Attribute<'_> = attr.map_err(xml_error)?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let plain = attr.key.prefix().is_none();
        if !(plain && attr.key.local_name().as_ref() == wanted) {
            return Ok(None);
        }
        found = Some(attr.unescape_value().map_err(xml_error)?.into_owned());
    }
    Ok(Some(found))
}

/// The text a reference stands for: the five predefined entities and character
/// references; any other entity refuses the list (there is no DTD to define it).
fn reference(r: &BytesRef<'_>) -> Result<String, BppError> {
    if let Some(c) = r.resolve_char_ref().map_err(xml_error)? {
        return Ok(c.to_string());
    }
    let name = r.decode().map_err(xml_error)?;
    let text = match name.as_ref() {
        "amp" => "&",
        "lt" => "<",
        "gt" => ">",
        "quot" => "\"",
        "apos" => "'",
        _ => return Err(BppError::Xml(format!("unknown entity &{name};"))),
    };
    Ok(text.to_owned())
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

fn xml_error(e: impl std::fmt::Display) -> BppError {
    BppError::Xml(e.to_string())
}
