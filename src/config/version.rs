//! ECE versions as admins write them (`12.5(1) ES3`, `11.6(1) ES12 + ES12_ET1`):
//! the value of `ece.version` and its strict parsing (a typo is a config
//! error, never a guess). Judging a version against the guide's minimum table
//! is the guide's business (`crate::guide`), not this module's.

use std::fmt;

/// An ECE release and the engineering special (ES) installed on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EceVersion {
    pub major: u16,
    pub minor: u16,
    pub maintenance: u16,
    /// The highest engineering special named, e.g. 3 for `ES3`.
    pub es: Option<u16>,
    /// An engineering test build on top of the ES, e.g. 1 for `ES12_ET1`.
    pub et: Option<u16>,
}

impl EceVersion {
    /// Parses `12.5(1) ES3`, `12.5(1)_ES3`, `11.6(1) ES12 + ES12_ET1`,
    /// `11.6(1) ES12_ET1`, `12.6(2)`; the error says what is expected.
    pub fn parse(text: &str) -> Result<EceVersion, String> {
        let bad = || {
            format!(
                "`{text}` is not an ECE version: write it as on ECE's About page, e.g. `12.5(1) ES3`, `11.6(1) ES12 + ES12_ET1` or `12.6(1)`"
            )
        };
        let text_trim = text.trim();
        let open = text_trim.find('(').ok_or_else(bad)?;
        let close = text_trim.find(')').filter(|c| *c > open).ok_or_else(bad)?;
        let (major, minor) = text_trim[..open].split_once('.').ok_or_else(bad)?;
        let number = |s: &str| -> Result<u16, String> {
            if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            s.parse().map_err(|_| bad())
        };
        let mut v = EceVersion {
            major: number(major)?,
            minor: number(minor)?,
            maintenance: number(&text_trim[open + 1..close])?,
            es: None,
            et: None,
        };
        let rest = &text_trim[close + 1..];
        for token in rest
            .split(|c: char| c.is_whitespace() || c == '+' || c == ',' || c == '_')
            .filter(|t| !t.is_empty())
        {
            let upper = token.to_ascii_uppercase();
            if let Some(n) = upper.strip_prefix("ES") {
                let n = number(n)?;
                v.es = Some(v.es.map_or(n, |e| e.max(n)));
            } else if let Some(n) = upper.strip_prefix("ET") {
                let n = number(n)?;
                v.et = Some(v.et.map_or(n, |e| e.max(n)));
            } else {
                return Err(bad());
            }
        }
        if v.et.is_some() && v.es.is_none() {
            return Err(format!(
                "`{text}`: an engineering test (ET) is built on an ES; name it too, e.g. `ES12_ET1`"
            ));
        }
        Ok(v)
    }
}

impl fmt::Display for EceVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}({})", self.major, self.minor, self.maintenance)?;
        match (self.es, self.et) {
            (Some(es), Some(et)) => write!(f, " ES{es}_ET{et}"),
            (Some(es), None) => write!(f, " ES{es}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> EceVersion {
        EceVersion::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_the_ways_admins_write_versions() {
        let cases = [
            ("12.5(1) ES3", (12, 5, 1, Some(3), None)),
            ("12.5(1)_ES3", (12, 5, 1, Some(3), None)),
            ("12.5(1)ES3", (12, 5, 1, Some(3), None)),
            ("  12.6(1) es1 ", (12, 6, 1, Some(1), None)),
            ("11.6(1) ES12 + ES12_ET1", (11, 6, 1, Some(12), Some(1))),
            ("11.6(1) ES12_ET1", (11, 6, 1, Some(12), Some(1))),
            ("11.6(1) ES12, ET1", (11, 6, 1, Some(12), Some(1))),
            ("12.6(2)", (12, 6, 2, None, None)),
            ("15.0(1)", (15, 0, 1, None, None)),
        ];
        for (text, (major, minor, maintenance, es, et)) in cases {
            assert_eq!(
                v(text),
                EceVersion {
                    major,
                    minor,
                    maintenance,
                    es,
                    et
                },
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_versions_are_errors_that_show_the_expected_form() {
        for text in [
            "",
            "12.5",
            "12.5 ES3",
            "12(1)",
            "12.5(1",
            "12.5)1(",
            "12.5(x) ES3",
            "12.5(1) SP3",
            "12.5(1) ES",
            "12.5(1) ESx",
            "12.5(1) ES99999",
            "-12.5(1)",
            "12.5(1) ES3 latest",
            "v12.5(1)",
        ] {
            let err = EceVersion::parse(text).expect_err(text);
            assert!(err.contains("12.5(1) ES3"), "{text}: {err}");
        }
        let err = EceVersion::parse("11.6(1) ET1").unwrap_err();
        assert!(err.contains("ES12_ET1"), "{err}");
    }

    #[test]
    fn displays_in_the_canonical_form() {
        assert_eq!(v("11.6(1) ES12 + ES12_ET1").to_string(), "11.6(1) ES12_ET1");
        assert_eq!(v("12.5(1)_es3").to_string(), "12.5(1) ES3");
    }
}
