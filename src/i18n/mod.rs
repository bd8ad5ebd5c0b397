//! The report's languages: the five of Cisco's guide. Texts live in Fluent
//! files (`src/i18n/<lang>.ftl`, compiled in); this module picks a language
//! (flag, locale, `Accept-Language`) and formats messages. It knows nothing of
//! checks or the guide's logic, and never fails: a missing text shows its key.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// A language of the guide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Fr,
    Nl,
    Es,
    Zh,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Fr, Lang::Nl, Lang::Es, Lang::Zh];

    pub const fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::Nl => "nl",
            Lang::Es => "es",
            Lang::Zh => "zh",
        }
    }

    /// The Fluent source of the language.
    pub const fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("en.ftl"),
            Lang::Fr => include_str!("fr.ftl"),
            Lang::Nl => include_str!("nl.ftl"),
            Lang::Es => include_str!("es.ftl"),
            Lang::Zh => include_str!("zh.ftl"),
        }
    }

    /// The language of a locale or language tag: `fr_FR.UTF-8`, `nl-BE`, `zh_CN`, `es`.
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['_', '-', '.', '@']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The language of the environment's locale (`LC_ALL`, `LC_MESSAGES`,
    /// `LANG`, then the system's setting on Windows), English otherwise.
    pub fn from_environment() -> Lang {
        Lang::from_locale_vars(|name| std::env::var(name).ok()).unwrap_or_else(system_lang)
    }

    /// POSIX precedence: the first variable that is set and not empty decides,
    /// even when it names a language we lack (then English).
    fn from_locale_vars(get: impl Fn(&str) -> Option<String>) -> Option<Lang> {
        let value = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .into_iter()
            .find_map(|v| get(v).filter(|s| !s.is_empty()))?;
        Some(Lang::from_tag(&value).unwrap_or(Lang::En))
    }

    /// The best language for an HTTP `Accept-Language` header, English otherwise.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate().take(32) {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let Some(lang) = Lang::from_tag(tag) else { continue };
            if q > 0.0 && best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && i < bi)) {
                best = Some((q, i, lang));
            }
        }
        best.map(|(_, _, l)| l).unwrap_or(Lang::En)
    }

    /// Formats message `key` with `args`; the key itself when it is missing.
    /// An argument that is a plain count (decimal digits) is passed as a
    /// number, so that plural variants (`[one]`, `*[other]`) select on it.
    pub fn text(self, key: &str, args: &[(&str, String)]) -> String {
        let bundle = &bundles()[self as usize];
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            return key.to_string();
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, fluent_value(value));
        }
        let mut errors = Vec::new();
        bundle.format_pattern(pattern, Some(&fluent_args), &mut errors).into_owned()
    }

    /// Whether the language has message `key`.
    pub fn has(self, key: &str) -> bool {
        bundles()[self as usize].has_message(key)
    }
}

/// A count as a Fluent number, anything else as a string. Only plain
/// decimal integers (no sign, no leading zero, at most 15 digits, exact in
/// an `f64`) count, so that a number prints exactly as it was given.
fn fluent_value(value: &str) -> FluentValue<'_> {
    let plain =
        !value.is_empty() && value.len() <= 15 && value.bytes().all(|b| b.is_ascii_digit()) && (value == "0" || !value.starts_with('0'));
    match value.parse::<u64>() {
        Ok(n) if plain => FluentValue::from(n),
        _ => FluentValue::from(value),
    }
}

#[cfg(windows)]
fn system_lang() -> Lang {
    sys_locale::get_locale().and_then(|l| Lang::from_tag(&l)).unwrap_or(Lang::En)
}

#[cfg(not(windows))]
fn system_lang() -> Lang {
    Lang::En
}

fn bundles() -> &'static [FluentBundle<FluentResource>; 5] {
    static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 5]> = OnceLock::new();
    BUNDLES.get_or_init(|| Lang::ALL.map(bundle))
}

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    // The files are ours and tested (tests/i18n.rs): a syntax error keeps the
    // messages that did parse rather than failing the report.
    let resource = FluentResource::try_new(lang.source().to_string()).unwrap_or_else(|(partial, _)| partial);
    let id: LanguageIdentifier = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![id]);
    // Terminals and logs show the Unicode isolation marks as noise.
    bundle.set_use_isolating(false);
    let _ = bundle.add_resource(resource);
    bundle
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_choose_their_plural_form_and_other_text_stays_as_given() {
        assert!(matches!(fluent_value("1"), FluentValue::Number(_)));
        assert!(matches!(fluent_value("0"), FluentValue::Number(_)));
        for text in ["007", "1e3", "inf", "-1", "12.5", "", "9999999999999999", "support"] {
            assert_eq!(fluent_value(text), FluentValue::from(text), "{text}");
        }
        let days = |n: &str| {
            Lang::En.text(
                "secret-expires-soon",
                &[("tenant", "t".into()), ("date", "d".into()), ("days", n.into())],
            )
        };
        assert!(days("1").contains("in 1 day:"), "{}", days("1"));
        assert!(days("2").contains("in 2 days:"), "{}", days("2"));
        let fr = |n: &str| Lang::Fr.text("secret-expires-soon", &[("days", n.into())]);
        assert!(fr("1").contains("1 jour\u{a0}:"), "{}", fr("1"));
        assert!(fr("3").contains("3 jours\u{a0}:"), "{}", fr("3"));
    }

    #[test]
    fn tags_and_locales_name_a_language() {
        for (tag, lang) in [
            ("fr_FR.UTF-8", Some(Lang::Fr)),
            ("nl-BE", Some(Lang::Nl)),
            ("zh_CN.GB18030", Some(Lang::Zh)),
            ("zh-Hans-CN", Some(Lang::Zh)),
            ("ES", Some(Lang::Es)),
            ("en_US@euro", Some(Lang::En)),
            ("de_DE.UTF-8", None),
            ("C", None),
            ("", None),
        ] {
            assert_eq!(Lang::from_tag(tag), lang, "{tag}");
        }
    }

    #[test]
    fn the_first_set_locale_variable_decides() {
        let env =
            |pairs: &'static [(&'static str, &'static str)]| move |n: &str| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
        assert_eq!(Lang::from_locale_vars(env(&[("LANG", "fr_FR.UTF-8")])), Some(Lang::Fr));
        assert_eq!(
            Lang::from_locale_vars(env(&[("LC_ALL", "es_ES"), ("LANG", "fr_FR")])),
            Some(Lang::Es)
        );
        assert_eq!(
            Lang::from_locale_vars(env(&[("LC_MESSAGES", "zh_CN"), ("LANG", "fr_FR")])),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::from_locale_vars(env(&[("LC_ALL", ""), ("LANG", "nl_NL")])), Some(Lang::Nl));
        assert_eq!(Lang::from_locale_vars(env(&[("LANG", "C.UTF-8")])), Some(Lang::En));
        assert_eq!(Lang::from_locale_vars(env(&[])), None);
    }

    #[test]
    fn accept_language_picks_the_best_supported() {
        for (header, lang) in [
            ("fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5", Lang::Fr),
            ("de-DE, nl;q=0.7, en;q=0.3", Lang::Nl),
            ("en;q=0.5, zh-CN;q=0.9", Lang::Zh),
            ("es;q=0, fr;q=0.1", Lang::Fr),
            ("de, it", Lang::En),
            ("", Lang::En),
            ("es-419", Lang::Es),
            ("en, fr", Lang::En),
        ] {
            assert_eq!(Lang::from_accept_language(header), lang, "{header}");
        }
    }

    #[test]
    fn messages_format_with_their_arguments_and_missing_keys_show_themselves() {
        let text = Lang::En.text(
            "version-meets",
            &[("version", "12.5(1) ES3".into()), ("minimum", "12.5(1) ES3".into())],
        );
        assert_eq!(text, "ECE 12.5(1) ES3 meets the minimum 12.5(1) ES3.");
        assert_eq!(Lang::En.text("no-such-key", &[]), "no-such-key");
        assert_eq!(
            Lang::En.text("report-role", &[("role", "application".into())]),
            "Server role: application server"
        );
    }

    #[test]
    fn counts_select_plural_variants_and_print_as_given() {
        let expiring = |lang: Lang, days: &str| {
            lang.text(
                "secret-expires-soon",
                &[("tenant", "contoso".into()), ("date", "2026-12-04".into()), ("days", days.into())],
            )
        };
        assert!(expiring(Lang::En, "1").contains("in 1 day:"), "{}", expiring(Lang::En, "1"));
        assert!(expiring(Lang::En, "12").contains("in 12 days:"));
        // French counts 0 and 1 as singular; Dutch and Spanish only 1.
        assert!(
            expiring(Lang::Fr, "1").contains("dans 1 jour\u{a0}:"),
            "{}",
            expiring(Lang::Fr, "1")
        );
        assert!(expiring(Lang::Fr, "0").contains("dans 0 jour\u{a0}:"));
        assert!(expiring(Lang::Fr, "2").contains("dans 2 jours\u{a0}:"));
        assert!(expiring(Lang::Nl, "1").contains("over 1 dag:") && expiring(Lang::Nl, "0").contains("over 0 dagen:"));
        assert!(expiring(Lang::Es, "1").contains("dentro de 1 día:") && expiring(Lang::Es, "3").contains("dentro de 3 días:"));
        assert!(expiring(Lang::Zh, "1").contains("还剩1天"));
        // Not counts: printed untouched, and never singular.
        for odd in ["007", "1.0", "-1", "1e3", "1234567890123456"] {
            assert!(
                expiring(Lang::En, odd).contains(&format!("in {odd} days:")),
                "{}",
                expiring(Lang::En, odd)
            );
        }
        let ports = Lang::En.text("remedy-connect_timeout", &[("target", "x".into()), ("port", "587".into())]);
        assert!(ports.contains("port 587. Open TCP 587 outbound"), "{ports}");
    }
}
