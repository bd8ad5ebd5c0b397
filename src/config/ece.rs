//! The optional `ece:` section: facts about the ECE installation that no
//! probe can see (its version, External URL, the app registration's redirect
//! URI, this server's role). Validated here; judged against the guide by the
//! `guide` module, which reads these values: nothing in `config` depends on it.

use serde::Deserialize;
use serde_saphyr::Spanned;
use url::Url;

use super::{ConfigError, EceVersion, Validator};

/// The role of the server the agent runs on (guide: "Network Connectivity").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerRole {
    /// Runs the retriever and dispatcher and refreshes the tokens: needs 443, 587 and 993 or 995.
    Services,
    /// Creates the first token and sends alarm notifications: needs 443 and 587.
    Application,
    /// Both roles on one server (collocated deployment).
    Both,
}

impl ServerRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            ServerRole::Services => "services",
            ServerRole::Application => "application",
            ServerRole::Both => "both",
        }
    }

    /// Whether the retriever and dispatcher run here (IMAP/POP3 ports needed).
    pub fn runs_services(self) -> bool {
        matches!(self, ServerRole::Services | ServerRole::Both)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EceSpec {
    pub version: Option<Spanned<String>>,
    pub external_url: Option<Spanned<String>>,
    pub redirect_uri: Option<Spanned<String>>,
    pub role: Option<ServerRole>,
}

/// The validated `ece:` section.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EceSettings {
    pub version: Option<EceVersion>,
    /// ECE's "External URL of Application" (12.6+) or "Web server URL or Load Balancer URL" (11.5-12.5).
    pub external_url: Option<Url>,
    /// The redirect URI of the Azure AD app registration.
    pub redirect_uri: Option<Url>,
    pub role: Option<ServerRole>,
}

impl Validator<'_> {
    pub(super) fn ece(&self, spec: EceSpec) -> Result<EceSettings, ConfigError> {
        let version = match &spec.version {
            Some(v) => Some(EceVersion::parse(&v.value).map_err(|m| self.at(v, "ece.version", m))?),
            None => None,
        };
        Ok(EceSettings {
            version,
            external_url: self.web_url(spec.external_url.as_ref(), "ece.external_url")?,
            redirect_uri: self.web_url(spec.redirect_uri.as_ref(), "ece.redirect_uri")?,
            role: spec.role,
        })
    }

    fn web_url(&self, value: Option<&Spanned<String>>, field: &str) -> Result<Option<Url>, ConfigError> {
        let Some(v) = value else { return Ok(None) };
        let url = Url::parse(v.value.trim()).map_err(|e| {
            self.at(
                v,
                field,
                format!("`{}` is not a URL ({e}); write it like https://ece.example.com", v.value),
            )
        })?;
        if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
            return Err(self.at(
                v,
                field,
                format!(
                    "`{}` is not an http(s) URL with a host name; write it like https://ece.example.com",
                    v.value
                ),
            ));
        }
        Ok(Some(url))
    }
}
