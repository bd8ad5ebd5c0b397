//! The guide's "Minimum Version" table and how an [`EceVersion`] compares
//! with it: OAuth for Office 365 came to ECE in engineering specials (Cisco
//! bug CSCvr86493). Judging a version is pure and never fails; parsing one is
//! the configuration's business (`crate::config::EceVersion`), not this module's.

pub use crate::config::EceVersion;

/// A row of the table: release `(major, minor, maintenance)`, the ES it needs, and the ET on that ES.
type MinimumRow = ((u16, u16, u16), u16, Option<u16>);

/// The guide's table: the ES each release needs (and for 11.6(1) also ET1).
const MINIMUM: &[MinimumRow] = &[
    ((11, 6, 1), 12, Some(1)),
    ((12, 0, 1), 6, None),
    ((12, 5, 1), 3, None),
    ((12, 6, 1), 1, None),
];

/// How a version compares with the guide's minimum table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// At or above the minimum for its release, or a release newer than the table.
    Meets { minimum: Option<String> },
    /// A release in the table without the ES it needs.
    BelowMinimum { minimum: String },
    /// Older than the first release with OAuth support.
    TooOld { minimum: String },
    /// A release between the table's rows that the guide does not list.
    NotInTable,
}

impl EceVersion {
    fn release(&self) -> (u16, u16, u16) {
        (self.major, self.minor, self.maintenance)
    }

    /// Compares the version with the guide's minimum table.
    pub fn verdict(&self) -> Verdict {
        let release = self.release();
        let first = MINIMUM[0];
        let last = MINIMUM[MINIMUM.len() - 1];
        if release < first.0 {
            return Verdict::TooOld {
                minimum: minimum_text(first),
            };
        }
        if release > last.0 {
            return Verdict::Meets { minimum: None };
        }
        let Some(row) = MINIMUM.iter().find(|row| row.0 == release) else {
            return Verdict::NotInTable;
        };
        let (_, need_es, need_et) = *row;
        let es = self.es.unwrap_or(0);
        let meets = match need_et {
            // A later ES includes the earlier one's test builds.
            Some(et) => es > need_es || (es == need_es && self.et.unwrap_or(0) >= et),
            None => es >= need_es,
        };
        if meets {
            Verdict::Meets {
                minimum: Some(minimum_text(*row)),
            }
        } else {
            Verdict::BelowMinimum {
                minimum: minimum_text(*row),
            }
        }
    }
}

fn minimum_text(((major, minor, maintenance), es, et): MinimumRow) -> String {
    match et {
        Some(et) => format!("{major}.{minor}({maintenance}) ES{es} + ES{es}_ET{et}"),
        None => format!("{major}.{minor}({maintenance}) ES{es}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> EceVersion {
        EceVersion::parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn judged_against_the_guides_minimum_table() {
        let meets = |text: &str| matches!(v(text).verdict(), Verdict::Meets { .. });
        for ok in [
            "11.6(1) ES12 + ES12_ET1",
            "11.6(1) ES13",
            "12.0(1) ES6",
            "12.0(1) ES7",
            "12.5(1) ES3",
            "12.5(1) ES10",
            "12.6(1) ES1",
            "12.6(2)",
            "15.0(1)",
        ] {
            assert!(meets(ok), "{ok}: {:?}", v(ok).verdict());
        }
        let below = [
            ("11.6(1) ES12", "11.6(1) ES12 + ES12_ET1"),
            ("11.6(1) ES11_ET1", "11.6(1) ES12 + ES12_ET1"),
            ("12.0(1) ES5", "12.0(1) ES6"),
            ("12.5(1) ES2", "12.5(1) ES3"),
            ("12.5(1)", "12.5(1) ES3"),
            ("12.6(1)", "12.6(1) ES1"),
        ];
        for (text, minimum) in below {
            assert_eq!(v(text).verdict(), Verdict::BelowMinimum { minimum: minimum.into() }, "{text}");
        }
        assert_eq!(
            v("11.5(1) ES9").verdict(),
            Verdict::TooOld {
                minimum: "11.6(1) ES12 + ES12_ET1".into()
            }
        );
        assert_eq!(v("12.1(1) ES1").verdict(), Verdict::NotInTable);
    }
}
