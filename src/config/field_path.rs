//! The field path of a YAML error (`checks[2].interval`) from where the
//! parser says it is: the document is read again as a plain tree of maps,
//! sequences and scalars with their positions, and the path is the way down
//! that tree to the line and column of the error. A document that is not
//! YAML at all (a syntax error) has no tree: its path is where a walk
//! through it stopped.
//!
//! Why not track the path while deserializing (as `serde_path_to_error`
//! does): that wraps every typed `Deserialize` of the configuration in a
//! second, path-keeping copy, a few hundred KB of machine code that every
//! agent maps for the rare bad file. This reads the tree only when an error
//! is shown.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// The path to `(line, column)` in `text`, or an empty string at the
/// document's root. `message` is the error's: an unknown or duplicate key's
/// path ends with that key; a missing field's ends at the map that lacks it.
pub(super) fn at(text: &str, line: u32, column: u32, message: &str) -> String {
    let Ok(root) = serde_saphyr::from_str::<Spanned<Node>>(text) else {
        return where_it_breaks(text);
    };
    let about = if message.starts_with("unknown field") || message.starts_with("duplicate field") {
        About::Key
    } else if message.starts_with("missing field") {
        About::MissingKey
    } else {
        About::Value
    };
    let mut path = String::new();
    descend(&root, (line, column), about, &mut path);
    path
}

/// What an error at a position is about.
#[derive(Clone, Copy, PartialEq, Eq)]
enum About {
    /// The value there (a wrong type, a bad duration): the path ends at it.
    Value,
    /// The key there (unknown, duplicate): the path ends with that key.
    Key,
    /// A key the map there lacks: the path ends at the map.
    MissingKey,
}

fn descend(node: &Spanned<Node>, at: (u32, u32), about: About, path: &mut String) {
    // A block map starts where its first key does, so an error where a node
    // starts is that node's only when it is about a value.
    if pos(node) == at && about == About::Value {
        return;
    }
    match &node.value {
        Node::Scalar => {}
        Node::Seq(items) => {
            let Some((i, item)) = items.iter().enumerate().rev().find(|(_, item)| pos(item) <= at) else {
                return;
            };
            path.push_str(&format!("[{i}]"));
            descend(item, at, about, path);
        }
        Node::Map(entries) => {
            let Some((key, value)) = entries.iter().rev().find(|(key, _)| pos(key) <= at) else {
                return;
            };
            if pos(key) == at && about == About::MissingKey {
                return;
            }
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key.value.0);
            if pos(key) == at && about == About::Key {
                return;
            }
            descend(value, at, about, path);
        }
    }
}

/// Walks the document until the parser gives up, and names the value it was
/// in then.
fn where_it_breaks(text: &str) -> String {
    let path = RefCell::new(Vec::new());
    let _ = serde_saphyr::with_deserializer_from_str(text, |de| Walk(&path).deserialize(de));
    let mut out = String::new();
    for step in path.into_inner() {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) if out.is_empty() => out.push_str(&k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(&k);
            }
        }
    }
    out
}

enum Step {
    Key(String),
    Index(usize),
}

/// Reads any node, keeping on `path` the way to the value being read; a
/// value read whole takes its step off again, so after an error the steps
/// left lead to where it happened.
#[derive(Clone, Copy)]
struct Walk<'a>(&'a RefCell<Vec<Step>>);

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq.next_element_seed(Element(self, index))?.is_some() {
            index += 1;
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            self.0.borrow_mut().push(Step::Key(key.0));
            map.next_value_seed(self)?;
            self.0.borrow_mut().pop();
        }
        Ok(())
    }
}

/// A sequence's element: its step is taken once the element is there, not
/// while the parser looks for one.
struct Element<'a>(Walk<'a>, usize);

impl<'de> DeserializeSeed<'de> for Element<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        let Element(walk, index) = self;
        walk.0.borrow_mut().push(Step::Index(index));
        walk.deserialize(d)?;
        walk.0.borrow_mut().pop();
        Ok(())
    }
}

fn pos<T>(s: &Spanned<T>) -> (u32, u32) {
    let l = s.referenced;
    (
        u32::try_from(l.line()).unwrap_or(u32::MAX),
        u32::try_from(l.column()).unwrap_or(u32::MAX),
    )
}

/// A YAML node with nothing kept but its shape and, through `Spanned`, where
/// each key and value starts.
enum Node {
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

/// A map key as the path shows it: any scalar, as written.
struct Key(String);

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Ok(Key("~".to_string()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Key, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Key("?".to_string()))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Key("?".to_string()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use crate::config::raw;

    /// The line, column and field of the error the configuration parser gives.
    fn error(yaml: &str) -> (u32, u32, String, String) {
        let e = raw::parse(Path::new("config.yaml"), yaml).unwrap_err();
        (e.loc.line, e.loc.column, e.field, e.message)
    }

    #[test]
    fn a_bad_value_is_named_by_the_keys_and_indexes_above_it() {
        let yaml = "global:\n  interval: 30s\nchecks:\n  - name: a\n    kind: tcp\n  - name: b\n    kind: tcp\n    timeout: soon\n";
        let (line, column, field, message) = error(yaml);
        assert_eq!((line, column, field.as_str()), (8, 14, "checks[1].timeout"), "{message}");
        assert!(message.contains("`soon` is not a duration"), "{message}");
        // A map where a duration belongs starts where its first key does.
        let (line, column, field, _) = error("global:\n  interval:\n    every: 30s\nchecks: []\n");
        assert_eq!((line, column, field.as_str()), (3, 5, "global.interval"));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_map_even_as_the_first_key() {
        let (line, column, field, _) = error("global:\n  intervall: 30s\n  timeout: 5s\nchecks: []\n");
        assert_eq!((line, column, field.as_str()), (2, 3, "global.intervall"));
        let (_, _, field, _) = error("global: { timeout: 5s, intervall: 30s }\nchecks: []\n");
        assert_eq!(field, "global.intervall");
    }

    #[test]
    fn a_missing_key_is_the_maps_in_block_and_in_flow_style() {
        let (_, _, field, message) = error("checks:\n  - name: a\n    kind: tcp\n  - kind: tcp\n    interval: 30s\n");
        assert!(message.contains("missing field `name`"), "{message}");
        assert_eq!(field, "checks[1]");
        let (_, _, field, message) = error("checks:\n  - { name: a, kind: tcp }\n  - { kind: tcp }\n");
        assert!(message.contains("missing field `name`"), "{message}");
        assert_eq!(field, "checks[1]");
    }

    #[test]
    fn a_value_through_an_alias_is_named_where_it_is_used() {
        let yaml = "global:\n  dns_servers: &servers [\"192.0.2.1:53\"]\n  interval: *servers\nchecks: []\n";
        let (line, _, field, message) = error(yaml);
        assert_eq!((line, field.as_str()), (3, "global.interval"), "{message}");
    }

    #[test]
    fn a_syntax_error_is_named_by_where_the_parser_stopped() {
        let (line, _, field, _) = error("checks:\n  - name: a\n    kind: tcp\n    target: [host:1\n");
        assert_eq!((line, field.as_str()), (4, "checks[0].target"));
    }

    #[test]
    fn an_error_at_the_top_has_no_field() {
        let (_, _, field, _) = error("- just\n- a list\n");
        assert_eq!(field, "");
    }

    #[test]
    fn a_tenants_line_is_never_shown() {
        let e = raw::parse(
            Path::new("config.yaml"),
            "tenants:\n  - name: t\n    tenant_id: x\n    client_id: y\n    client_secret: canary-secret\n    secret: canary-too\nchecks: []\n",
        )
        .unwrap_err();
        assert_eq!(e.field, "tenants[0].secret");
        let shown = e.to_string();
        assert!(!shown.contains("canary"), "{shown}");
        // Nor when the file is not YAML at all.
        let e = raw::parse(
            Path::new("config.yaml"),
            "tenants:\n  - name: t\n    client_secret: [canary-secret\nchecks: []\n",
        )
        .unwrap_err();
        assert!(e.field.starts_with("tenants[0]"), "{}", e.field);
        let shown = e.to_string();
        assert!(!shown.contains("canary"), "{shown}");
    }
}
