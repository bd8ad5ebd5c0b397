//! The language files: every message the report can show exists in every
//! language of the guide, with the same variables and select variants as
//! English, and is really translated (not an English copy).
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use ece_o365_exporter::guide::{GuideItem, Status, message_keys};
use ece_o365_exporter::i18n::Lang;
use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

/// Per message: the variables it uses and, per select expression, its variant keys.
#[derive(Debug, PartialEq)]
struct Shape {
    variables: BTreeSet<String>,
    selects: Vec<(String, BTreeSet<String>, String)>,
}

fn walk(pattern: &Pattern<&str>, shape: &mut Shape) {
    for element in &pattern.elements {
        if let PatternElement::Placeable { expression } = element {
            match expression {
                Expression::Inline(InlineExpression::VariableReference { id }) => {
                    shape.variables.insert(id.name.to_string());
                }
                Expression::Select { selector, variants } => {
                    let InlineExpression::VariableReference { id } = selector else {
                        panic!("select on something other than a variable")
                    };
                    shape.variables.insert(id.name.to_string());
                    let keys = variants.iter().map(|v| format!("{:?}", v.key)).collect();
                    let default = variants
                        .iter()
                        .find(|v| v.default)
                        .map(|v| format!("{:?}", v.key))
                        .unwrap_or_default();
                    shape.selects.push((id.name.to_string(), keys, default));
                    for v in variants {
                        walk(&v.value, shape);
                    }
                }
                Expression::Inline(_) => {}
            }
        }
    }
}

/// Message id -> shape, and the formatted English-free text for comparison.
fn messages(lang: Lang) -> BTreeMap<String, Shape> {
    let resource = fluent_syntax::parser::parse(lang.source()).unwrap_or_else(|(_, errors)| panic!("{}.ftl: {errors:?}", lang.code()));
    let mut out = BTreeMap::new();
    for entry in resource.body {
        match entry {
            Entry::Message(m) => {
                let mut shape = Shape {
                    variables: BTreeSet::new(),
                    selects: Vec::new(),
                };
                let value = m.value.unwrap_or_else(|| panic!("{}.ftl: {} has no value", lang.code(), m.id.name));
                walk(&value, &mut shape);
                assert!(
                    out.insert(m.id.name.to_string(), shape).is_none(),
                    "{}.ftl: {} twice",
                    lang.code(),
                    m.id.name
                );
            }
            Entry::Junk { content } => panic!("{}.ftl: unparsable: {content}", lang.code()),
            _ => {}
        }
    }
    out
}

#[test]
fn every_key_exists_in_every_language_with_the_same_shape() {
    let english = messages(Lang::En);
    for lang in Lang::ALL {
        let other = messages(lang);
        let missing: Vec<&String> = english.keys().filter(|k| !other.contains_key(*k)).collect();
        let extra: Vec<&String> = other.keys().filter(|k| !english.contains_key(*k)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{}.ftl: missing {missing:?}, extra {extra:?}",
            lang.code()
        );
        for (key, shape) in &english {
            assert_eq!(
                &other[key],
                shape,
                "{}.ftl: {key} uses other variables or variants than en.ftl",
                lang.code()
            );
        }
    }
}

#[test]
fn every_message_the_report_uses_is_in_the_files() {
    let mut used: BTreeSet<String> = message_keys().into_iter().map(str::to_string).collect();
    for item in GuideItem::ALL {
        used.insert(format!("item-{item}"));
    }
    for status in Status::ALL {
        used.insert(format!("status-{status}"));
    }
    for key in [
        "report-title",
        "report-role",
        "report-summary",
        "label-evidence",
        "label-remedy",
        "label-reply",
        "label-ids",
        "page-checks-run",
        "page-metrics",
        "report-item",
        "report-labelled",
    ] {
        used.insert(key.to_string());
    }
    for lang in Lang::ALL {
        let missing: Vec<&String> = used.iter().filter(|k| !lang.has(k)).collect();
        assert!(missing.is_empty(), "{}.ftl lacks {missing:?}", lang.code());
    }
}

#[test]
fn translations_are_not_english_copies() {
    for lang in [Lang::Fr, Lang::Nl, Lang::Es, Lang::Zh] {
        let mut same = Vec::new();
        for key in message_keys() {
            let args: Vec<(&str, String)> = Vec::new();
            if lang.text(key, &args) == Lang::En.text(key, &args) {
                same.push(key);
            }
        }
        assert!(same.is_empty(), "{}: identical to English: {same:?}", lang.code());
        // The guide's own term for an item, in that language's guide.
        let expected = match lang {
            Lang::Fr => "Version minimale",
            Lang::Nl => "Minimale versie",
            Lang::Es => "Versión mínima",
            Lang::Zh => "最低版本",
            Lang::En => unreachable!(),
        };
        assert_eq!(lang.text("item-minimum_version", &[]), expected);
    }
}
