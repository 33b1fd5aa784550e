//! A small, bounded XML tree for reading SOAP answers (and, in the sandbox,
//! requests) that come from outside.
//!
//! Memory is bounded by the document's size, not only by counts: every
//! element, attribute and byte of text is charged what it costs in the tree,
//! and a document whose tree would cost more than [`BUDGET_FACTOR`] times
//! its size (plus [`BUDGET_SLACK`]) is refused ([`XmlError::TooLarge`]).
//! Why: a small element (`<a/>`, 4 bytes) costs over 100 bytes as a tree
//! node, so a 1.6 MB answer of empty elements would take ~90 MB; a long
//! namespace is stored once per document, not once per element. Children
//! are collected on one shared stack and moved into an exactly sized vector
//! when their parent closes, so the finished tree carries no growth slack.
//!
//! Why not deserialize straight into structs: a MultiSpeak answer is read from
//! a server we do not control, so nothing about its structure is trusted. This
//! reader builds a plain tree with hard limits (depth, element count, text
//! size), resolves namespaces, and refuses DTDs: a `<!DOCTYPE` (the door to
//! entity expansion and external entities) is an error, and so is any entity
//! reference other than the five predefined ones and character references.
//! The typed readers in [`super::response`] then look for what they need and
//! say what is missing.

use std::borrow::Cow;
use std::sync::Arc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

/// The deepest element nesting accepted. A MultiSpeak answer is about 8 deep.
pub const MAX_DEPTH: usize = 64;
/// The most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 1_000_000;

/// A document's tree may cost at most this many times its size ...
pub const BUDGET_FACTOR: usize = 8;
/// ... plus this much (small documents).
pub const BUDGET_SLACK: usize = 64 * 1024;

/// Why a document could not be read as XML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("the answer is not well-formed XML: {0}")]
    Malformed(String),
    #[error("the answer carries a DOCTYPE declaration, which is refused (entity expansion)")]
    Doctype,
    #[error("the answer uses the entity `&{0};`, which is not one of XML's predefined ones")]
    Entity(String),
    #[error("the answer nests elements deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("the answer has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error(
        "the answer's elements, attributes and text would take more than {BUDGET_FACTOR} times its size in memory; refused"
    )]
    TooLarge,
    #[error("the answer has no root element")]
    Empty,
    #[error("the answer uses the namespace prefix `{0}` without declaring it")]
    UnboundPrefix(String),
}

/// One element: its namespace, local name, attributes (by local name, as
/// written; `xmlns` declarations left out), text and child elements.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Shared by every element of the document in the same namespace.
    pub ns: Option<Arc<str>>,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// Whether this element is `name` in namespace `ns`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name == name && self.ns.as_deref() == Some(ns)
    }

    /// The first child named `name` in namespace `ns`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child named `name` in namespace `ns`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The trimmed text of the first child `name`, if present.
    pub fn child_text(&self, ns: &str, name: &str) -> Option<&str> {
        self.child(ns, name).map(|c| c.text.trim())
    }

    /// An attribute by local name.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// What this element holds as a tree node, by the budget's measure:
    /// the node, its name and its attributes (text and namespaces are
    /// charged apart).
    fn node_cost(&self) -> usize {
        let attrs: usize = self
            .attrs
            .iter()
            .map(|(k, v)| std::mem::size_of::<(String, String)>() + k.len() + v.len())
            .sum();
        std::mem::size_of::<Element>() + self.name.len() + attrs
    }

    /// What this element's whole tree holds, by the budget's measure: each
    /// node, its text, and each namespace once. The parser charges the same
    /// as it goes; tests hold a returned tree to its budget with this.
    pub fn tree_cost(&self) -> usize {
        fn walk<'a>(e: &'a Element, namespaces: &mut std::collections::HashSet<&'a str>) -> usize {
            let ns = match e.ns.as_deref() {
                Some(ns) if namespaces.insert(ns) => ns.len(),
                _ => 0,
            };
            let children: usize = e.children.iter().map(|c| walk(c, namespaces)).sum();
            e.node_cost() + e.text.len() + ns + children
        }
        walk(self, &mut std::collections::HashSet::new())
    }

    /// `{ns}name` for messages.
    pub fn qualified(&self) -> String {
        match &self.ns {
            Some(ns) => format!("{{{ns}}}{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// What a document's tree has cost so far, against its budget.
struct Budget {
    spent: usize,
    limit: usize,
}

impl Budget {
    fn charge(&mut self, bytes: usize) -> Result<(), XmlError> {
        self.spent = self.spent.saturating_add(bytes);
        if self.spent > self.limit {
            Err(XmlError::TooLarge)
        } else {
            Ok(())
        }
    }

    /// An element as a tree node: the node, its name, its attributes.
    fn element(&mut self, e: &Element) -> Result<(), XmlError> {
        self.charge(e.node_cost())
    }
}

/// An element whose end tag has not come yet, and where its children start
/// on the shared stack of finished elements.
struct Open {
    el: Element,
    first_child: usize,
}

/// Parses a whole document into its root element, within the limits above.
pub fn parse(bytes: &[u8]) -> Result<Element, XmlError> {
    let mut budget = Budget {
        spent: 0,
        limit: bytes
            .len()
            .saturating_mul(BUDGET_FACTOR)
            .saturating_add(BUDGET_SLACK),
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = NsReader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Open> = Vec::new();
    // Finished elements whose parent is still open, of every open level.
    let mut done: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    // Each namespace URI is stored once and shared by its elements: a long
    // URI on many small elements must not multiply the document's size.
    let mut namespaces: Vec<Arc<str>> = Vec::new();
    let bad = |e: quick_xml::Error| XmlError::Malformed(e.to_string());

    loop {
        let (resolved, event) = reader.read_resolved_event().map_err(bad)?;
        let ns = match resolved {
            ResolveResult::Bound(ns) => {
                Some(intern(&mut namespaces, ns.into_inner(), &mut budget)?)
            }
            ResolveResult::Unbound => None,
            ResolveResult::Unknown(p) => return Err(XmlError::UnboundPrefix(p)),
        };
        match event {
            Event::Start(e) | Event::Empty(e) if root.is_some() => {
                let _ = e;
                return Err(XmlError::Malformed("more than one root element".into()));
            }
            Event::Start(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let el = element(ns, &e)?;
                budget.element(&el)?;
                stack.push(Open {
                    el,
                    first_child: done.len(),
                });
            }
            Event::Empty(e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooManyElements);
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let el = element(ns, &e)?;
                budget.element(&el)?;
                if stack.is_empty() {
                    root = Some(el);
                } else {
                    done.push(el);
                }
            }
            Event::End(_) => {
                let Open {
                    mut el,
                    first_child,
                } = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unexpected end tag".into()))?;
                // Exactly sized: collected from a drain of known length.
                el.children = done.drain(first_child..).collect();
                el.text.shrink_to_fit();
                if stack.is_empty() {
                    root = Some(el);
                } else {
                    done.push(el);
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                match stack.last_mut() {
                    Some(top) => {
                        budget.charge(text.len())?;
                        top.el.text.push_str(&text);
                    }
                    None if text.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Malformed("text outside the root element".into()));
                    }
                }
            }
            Event::CData(c) => {
                let text = c.xml10_content();
                match stack.last_mut() {
                    Some(top) => {
                        budget.charge(text.len())?;
                        top.el.text.push_str(&text);
                    }
                    None => {
                        return Err(XmlError::Malformed("CDATA outside the root element".into()));
                    }
                }
            }
            Event::GeneralRef(r) => {
                let ch: Cow<'static, str> = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string().into(),
                    Ok(None) => match r.xml10_content().as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "apos" => "'".into(),
                        "quot" => "\"".into(),
                        other => return Err(XmlError::Entity(truncate(other, 40))),
                    },
                    Err(e) => return Err(XmlError::Malformed(e.to_string())),
                };
                match stack.last_mut() {
                    Some(top) => {
                        budget.charge(ch.len())?;
                        top.el.text.push_str(&ch);
                    }
                    None => {
                        return Err(XmlError::Malformed(
                            "reference outside the root element".into(),
                        ));
                    }
                }
            }
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(XmlError::Malformed(format!(
            "the document ends inside <{}>",
            open.el.name
        )));
    }
    root.ok_or(XmlError::Empty)
}

/// The shared copy of a namespace URI (documents declare a handful).
fn intern(seen: &mut Vec<Arc<str>>, uri: &str, budget: &mut Budget) -> Result<Arc<str>, XmlError> {
    if let Some(ns) = seen.iter().find(|n| &***n == uri) {
        return Ok(ns.clone());
    }
    budget.charge(uri.len())?;
    let ns: Arc<str> = Arc::from(uri);
    seen.push(ns.clone());
    Ok(ns)
}

fn element(ns: Option<Arc<str>>, e: &BytesStart<'_>) -> Result<Element, XmlError> {
    let name = e.local_name().into_inner().to_string();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|e| XmlError::Malformed(e.to_string()))?;
        let key = a.key;
        if key.as_namespace_binding().is_some() {
            continue;
        }
        let local = key.local_name().into_inner().to_string();
        let value =
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| match e {
                    quick_xml::Error::Escape(
                        quick_xml::escape::EscapeError::UnrecognizedEntity(_, name),
                    ) => XmlError::Entity(truncate(&name, 40)),
                    other => XmlError::Malformed(other.to_string()),
                })?;
        attrs.push((local, value.into_owned()));
    }
    Ok(Element {
        ns,
        name,
        attrs,
        text: String::new(),
        children: Vec::new(),
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Escapes text for an XML element or a double-quoted attribute.
pub fn esc(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_text_and_refs() {
        let doc = br#"<?xml version="1.0"?><a:r xmlns:a="urn:a" xmlns="urn:d"><x k="1 &amp; 2">t&lt;u&#65;<![CDATA[<c>]]></x><a:y/></a:r>"#;
        let r = parse(doc).unwrap();
        assert!(r.is("urn:a", "r"));
        let x = r.child("urn:d", "x").unwrap();
        assert_eq!(x.text, "t<uA<c>");
        assert_eq!(x.attr("k"), Some("1 & 2"));
        assert!(r.child("urn:a", "y").is_some());
    }

    #[test]
    fn doctype_and_entities_are_refused() {
        let doc = br#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]><r>&e;</r>"#;
        assert_eq!(parse(doc), Err(XmlError::Doctype));
        assert!(matches!(parse(b"<r>&e;</r>"), Err(XmlError::Entity(_))));
        assert!(matches!(parse(b"<r a='&e;'/>"), Err(XmlError::Entity(_))));
    }

    #[test]
    fn a_tree_costlier_than_its_budget_is_refused() {
        // Empty elements cost far more as nodes than as text.
        let many = format!("<r>{}</r>", "<a/>".repeat(100_000));
        assert_eq!(parse(many.as_bytes()), Err(XmlError::TooLarge));
        // A few hundred are within the slack; text costs what it weighs.
        let few = format!("<r>{}</r>", "<a/>".repeat(300));
        assert_eq!(parse(few.as_bytes()).unwrap().children.len(), 300);
        let text = format!("<r>{}</r>", "x".repeat(1 << 20));
        assert_eq!(parse(text.as_bytes()).unwrap().text.len(), 1 << 20);
        // Children keep their order across levels.
        let r = parse(b"<r><a><b/><c/></a><d/></r>").unwrap();
        let names: Vec<&str> = r.children.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "d"]);
        let inner: Vec<&str> = r.children[0]
            .children
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(inner, ["b", "c"]);
    }

    #[test]
    fn limits_and_malformed() {
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(XmlError::TooDeep));
        assert!(matches!(parse(b"<a><b></a>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<a>"), Err(XmlError::Malformed(_))));
        assert_eq!(parse(b""), Err(XmlError::Empty));
        assert!(matches!(parse(b"<a/><b/>"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(b"<p:a/>"), Err(XmlError::UnboundPrefix(_))));
        assert!(parse(b"not xml").is_err());
    }
}
