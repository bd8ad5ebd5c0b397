//! The language files: every message the report can show exists in every
//! language of the guide, with the same variables and select variants as
//! English, and is really translated (not an English copy). Counts select
//! plural variants in every language but Chinese (which has none), and
//! French keeps its no-break spaces before `: ; ? !`.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use ece_o365_exporter::guide::{GuideItem, Status, message_keys};
use ece_o365_exporter::i18n::Lang;
use ece_o365_exporter::oauth::jwt::DETAIL_KEYS;
use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement, VariantKey};

/// Per message: the variables it uses, per select expression on a value
/// (not a count) its variant keys, and the counts it selects plural variants on.
#[derive(Debug, PartialEq)]
struct Shape {
    variables: BTreeSet<String>,
    selects: Vec<(String, BTreeSet<String>, String)>,
    plurals: BTreeSet<String>,
}

/// CLDR's plural categories, as Fluent writes them (`[one]`).
const PLURAL_CATEGORIES: [&str; 6] = ["zero", "one", "two", "few", "many", "other"];

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
                    let keys: BTreeSet<String> = variants.iter().map(|v| format!("{:?}", v.key)).collect();
                    let default = variants
                        .iter()
                        .find(|v| v.default)
                        .map(|v| format!("{:?}", v.key))
                        .unwrap_or_default();
                    let plural = variants
                        .iter()
                        .all(|v| matches!(&v.key, VariantKey::Identifier { name } if PLURAL_CATEGORIES.contains(name)));
                    if plural {
                        shape.plurals.insert(id.name.to_string());
                    } else {
                        shape.selects.push((id.name.to_string(), keys, default));
                    }
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
                    plurals: BTreeSet::new(),
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
            let theirs = &other[key];
            assert_eq!(
                (&theirs.variables, &theirs.selects),
                (&shape.variables, &shape.selects),
                "{}.ftl: {key} uses other variables or variants than en.ftl",
                lang.code()
            );
            // A language may also agree a word with another count (Spanish
            // verbs), but never prints a count English pluralises bare;
            // Chinese has no plural forms.
            if lang == Lang::Zh {
                assert!(theirs.plurals.is_empty(), "zh.ftl: {key} selects plural variants");
            } else {
                assert!(
                    theirs.plurals.is_superset(&shape.plurals),
                    "{}.ftl: {key} lacks the plural variants of en.ftl for {:?}",
                    lang.code(),
                    shape.plurals.difference(&theirs.plurals).collect::<Vec<_>>()
                );
            }
        }
    }
}

#[test]
fn every_message_the_report_uses_is_in_the_files() {
    let mut used: BTreeSet<String> = message_keys().into_iter().map(str::to_string).collect();
    used.extend(DETAIL_KEYS.iter().map(|k| k.to_string()));
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
        for key in message_keys().into_iter().chain(DETAIL_KEYS.iter().copied()) {
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

#[test]
fn counts_are_printed_with_plural_variants() {
    // Every count the report prints, in every message that prints one.
    let counts = ["days", "minutes", "tenants", "mailboxes", "configured"];
    let english = messages(Lang::En);
    for (key, shape) in &english {
        for count in counts.iter().filter(|c| shape.variables.contains(**c)) {
            assert!(
                shape.plurals.contains(*count),
                "en.ftl: {key} prints ${count} without plural variants"
            );
        }
    }
    let one = |lang: Lang| lang.text("why-azure_ad_application", &[("tenants", "1".into()), ("mailboxes", "1".into())]);
    assert!(one(Lang::En).contains("(1 tenant, 1 mailbox)"), "{}", one(Lang::En));
    assert!(one(Lang::Fr).contains("(1 locataire, 1 boîte aux lettres)"), "{}", one(Lang::Fr));
    assert!(one(Lang::Nl).contains("(1 tenant, 1 postvak)"), "{}", one(Lang::Nl));
    assert!(one(Lang::Es).contains("(1 inquilino, 1 buzón)"), "{}", one(Lang::Es));
    assert!(one(Lang::Zh).contains("（1个租户，1个邮箱）"), "{}", one(Lang::Zh));
}

#[test]
fn french_punctuation_keeps_its_no_break_spaces() {
    // A no-break space before `:` and a narrow one before `; ? !`, so that
    // neither a terminal nor a browser wraps the sign alone onto a line.
    for (n, line) in Lang::Fr.source().lines().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        for sign in [':', ';', '?', '!', '\u{bb}'] {
            assert!(
                !line.contains(&format!(" {sign}")),
                "fr.ftl:{}: a plain space before {sign}: {line}",
                n + 1
            );
        }
        for sign in [';', '?', '!'] {
            assert!(
                !line.contains(&format!("\u{a0}{sign}")),
                "fr.ftl:{}: use U+202F before {sign}: {line}",
                n + 1
            );
        }
        assert!(!line.contains("\u{ab} "), "fr.ftl:{}: a plain space after \u{ab}: {line}", n + 1);
    }
    let failed = Lang::Fr.text(
        "check-failed",
        &[
            ("check", "imap".into()),
            ("target", "outlook.office365.com:993".into()),
            ("reason", "token_wrong_user".into()),
            ("phase", "token_request".into()),
        ],
    );
    assert_eq!(
        failed,
        "La vérification imap (outlook.office365.com:993) a échoué (motif\u{a0}: `token_wrong_user`, phase\u{a0}: `token_request`)."
    );
}
