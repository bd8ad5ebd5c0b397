//! The field path of a YAML error (`checks[2].interval`) from where the
//! parser says it is: the document is read once more, keeping only the way
//! down to the node being read and the way to the last node that starts at
//! or before the error's line and column. Nothing of the document is kept,
//! so the memory this takes is the nesting depth, not the file's size. A
//! document that is not YAML at all (a syntax error) is named by the last
//! key read before the parser gave up.
//!
//! Why not track the path while deserializing (as `serde_path_to_error`
//! does): that wraps every typed `Deserialize` of the configuration in a
//! second, path-keeping copy, a few hundred KB of machine code that every
//! agent maps for the rare bad file. This reads the document again only when
//! an error is shown.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::Loc;

/// The path to `loc` in `text`, or an empty string at the document's root.
/// `message` is the error's: an unknown or duplicate key's path ends with
/// that key; a missing field's ends at the map that lacks it.
pub(super) fn at(text: &str, loc: Loc, message: &str) -> String {
    let about = if message.starts_with("unknown field") || message.starts_with("duplicate field") {
        About::Key
    } else if message.starts_with("missing field") {
        About::MissingKey
    } else {
        About::Value
    };
    SEARCH.with(|s| {
        *s.borrow_mut() = Search {
            at: loc,
            about,
            path: Vec::new(),
            best: Vec::new(),
        }
    });
    // The read fails where the first one did, or later; what it passed is enough.
    let _ = serde_saphyr::from_str::<Spanned<Walk>>(text);
    let best = SEARCH.with(|s| std::mem::take(&mut *s.borrow_mut()).best);
    let mut out = String::new();
    for step in best {
        match step {
            Step::Index(i) => out.push_str(&format!("[{i}]")),
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&k);
            }
        }
    }
    out
}

/// What an error at a position is about.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum About {
    /// The value there (a wrong type, a bad duration): the path ends at it.
    #[default]
    Value,
    /// The key there (unknown, duplicate): the path ends with that key.
    Key,
    /// A key the map there lacks: the path ends at the map.
    MissingKey,
}

#[derive(Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The state of one search, beside the walk (a `Spanned` value cannot carry
/// a seed, so the walk's nodes find it here).
#[derive(Default)]
struct Search {
    at: Loc,
    about: About,
    /// The way to the node being read.
    path: Vec<Step>,
    /// The way to the node the error is in, as far as the walk has come.
    best: Vec<Step>,
}

thread_local! {
    static SEARCH: RefCell<Search> = RefCell::new(Search::default());
}

impl Search {
    /// A map key, seen before its value: keys come in document order, so the
    /// last one at or before the error holds it, unless a later node is
    /// deeper. A block map starts where its first key does: an error there
    /// that is not about a key is the map's.
    fn key(&mut self, at: Loc) {
        if at < self.at || (at == self.at && self.about == About::Key) {
            self.best = self.path.clone();
        } else if at == self.at {
            self.best = self.path[..self.path.len() - 1].to_vec();
        }
    }

    /// A value or sequence element, once read whole (only then is its start
    /// known). One that starts at the error is the answer when the error is
    /// about a value: the outermost of several starting there, which is read
    /// whole last. Otherwise it counts when nothing below it already does.
    fn value(&mut self, at: Loc) {
        let below = self.best.len() >= self.path.len() && self.best[..self.path.len()] == self.path[..];
        if (at == self.at && self.about == About::Value) || (at <= self.at && !below) {
            self.best = self.path.clone();
        }
    }
}

fn pos<T>(s: &Spanned<T>) -> Loc {
    s.referenced.into()
}

/// Any YAML node, read for its keys and positions and then forgotten.
struct Walk;

impl<'de> Deserialize<'de> for Walk {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(WalkVisitor)
    }
}

struct WalkVisitor;

impl<'de> Visitor<'de> for WalkVisitor {
    type Value = Walk;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_none<E: de::Error>(self) -> Result<Walk, E> {
        Ok(Walk)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Walk, D::Error> {
        Walk::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Walk, A::Error> {
        for index in 0.. {
            SEARCH.with(|s| s.borrow_mut().path.push(Step::Index(index)));
            let Some(element) = seq.next_element::<Spanned<Walk>>()? else {
                SEARCH.with(|s| s.borrow_mut().path.pop());
                break;
            };
            SEARCH.with(|s| {
                let mut s = s.borrow_mut();
                s.value(pos(&element));
                s.path.pop();
            });
        }
        Ok(Walk)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Walk, A::Error> {
        while let Some(key) = map.next_key::<Spanned<Key>>()? {
            SEARCH.with(|s| {
                let mut s = s.borrow_mut();
                let at = pos(&key);
                s.path.push(Step::Key(key.value.0));
                s.key(at);
            });
            let value = map.next_value::<Spanned<Walk>>()?;
            SEARCH.with(|s| {
                let mut s = s.borrow_mut();
                s.value(pos(&value));
                s.path.pop();
            });
        }
        Ok(Walk)
    }
}

/// A map key as the path shows it: any scalar, as written.
struct Key(String);

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
    fn a_late_element_of_a_long_list_is_counted_right() {
        let mut yaml = String::from("checks:\n");
        for i in 0..2000 {
            let timeout = if i == 1234 { "soon" } else { "5s" };
            yaml.push_str(&format!("  - {{ name: c{i}, kind: tcp, timeout: {timeout} }}\n"));
        }
        let (line, _, field, _) = error(&yaml);
        assert_eq!((line, field.as_str()), (1236, "checks[1234].timeout"));
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
