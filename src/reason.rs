//! The bounded vocabularies that become label values: why a check failed
//! ([`Reason`]), which protocol step it was in ([`Phase`]) and what kind of
//! check it is ([`Kind`]).
//!
//! Every value is a fixed `&'static str`, so no server text, secret or
//! configuration value can ever reach a label through these types. Extend the
//! enums with care: each new variant is a new series for every check.

use serde::Deserialize;

/// Declares a fieldless enum with a stable snake_case string per variant and
/// the trait impls every label enum needs.
macro_rules! label_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant,)+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable string used in labels, logs and reports.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::prometheus_client::encoding::EncodeLabelValue for $name {
            fn encode(&self, encoder: &mut ::prometheus_client::encoding::LabelValueEncoder<'_>) -> ::std::result::Result<(), ::std::fmt::Error> {
                ::std::fmt::Write::write_str(encoder, self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}
pub(crate) use label_enum;

label_enum! {
    /// Why a check run failed. One run ends in success or exactly one reason.
    pub enum Reason {
        DnsNxdomain => "dns_nxdomain",
        DnsServfail => "dns_servfail",
        DnsRefused => "dns_refused",
        DnsNoAnswer => "dns_no_answer",
        DnsTimeout => "dns_timeout",
        DnsError => "dns_error",
        /// The system resolver (getaddrinfo) could not resolve a target host.
        ResolveFailed => "resolve_failed",
        ConnectRefused => "connect_refused",
        ConnectTimeout => "connect_timeout",
        NetworkUnreachable => "network_unreachable",
        /// This machine, not the network: no file descriptor or socket buffer
        /// left to open a connection (EMFILE, ENFILE, ENOBUFS).
        LocalResourceExhausted => "local_resource_exhausted",
        TlsHandshakeFailed => "tls_handshake_failed",
        /// No TLS version both sides accept: the server speaks only TLS 1.0/1.1 (or something older).
        TlsVersionUnsupported => "tls_version_unsupported",
        TlsCertExpired => "tls_cert_expired",
        TlsCertNotYetValid => "tls_cert_not_yet_valid",
        TlsCertUntrusted => "tls_cert_untrusted",
        TlsCertNameMismatch => "tls_cert_name_mismatch",
        TlsUnexpectedIssuer => "tls_unexpected_issuer",
        Timeout => "timeout",
        ConnectionClosed => "connection_closed",
        LineTooLong => "line_too_long",
        TooManyLines => "too_many_lines",
        /// One reply was larger than the codec's byte budget (many long lines).
        ReplyTooLarge => "reply_too_large",
        UnexpectedReply => "unexpected_reply",
        /// The server refused the session in its greeting (SMTP 4xx/5xx, IMAP BYE, POP3 -ERR).
        GreetingRejected => "greeting_rejected",
        StarttlsNotOffered => "starttls_not_offered",
        /// STARTTLS/STLS was advertised but the command was refused.
        StarttlsRejected => "starttls_rejected",
        AuthMechanismNotOffered => "auth_mechanism_not_offered",
        AuthRejected => "auth_rejected",
        SmtpAuthDisabled => "smtp_auth_disabled",
        MailboxNotFound => "mailbox_not_found",
        TokenEndpointUnreachable => "token_endpoint_unreachable",
        /// The token endpoint (or something on the way to it) did not answer
        /// within the run's time budget.
        TokenEndpointTimeout => "token_endpoint_timeout",
        /// The token endpoint answered with something that is not a v2.0 token response (HTML, broken JSON, huge body).
        TokenBadResponse => "token_bad_response",
        TokenInvalidGrant => "token_invalid_grant",
        TokenRefreshTokenExpired => "token_refresh_token_expired",
        TokenInvalidClient => "token_invalid_client",
        TokenClientSecretExpired => "token_client_secret_expired",
        TokenConsentRequired => "token_consent_required",
        TokenInteractionRequired => "token_interaction_required",
        TokenUnknownTenant => "token_unknown_tenant",
        TokenUnknownClient => "token_unknown_client",
        TokenThrottled => "token_throttled",
        TokenWrongUser => "token_wrong_user",
        TokenMissingScope => "token_missing_scope",
        TokenLifetimeTooShort => "token_lifetime_too_short",
        TokenStoreUnwritable => "token_store_unwritable",
        Internal => "internal",
    }
}

label_enum! {
    /// A protocol step of a check. Durations are recorded per phase.
    pub enum Phase {
        Resolve => "resolve",
        Connect => "connect",
        Tls => "tls",
        Banner => "banner",
        Ehlo => "ehlo",
        Starttls => "starttls",
        /// EHLO repeated inside the TLS session, as RFC 3207 requires.
        EhloTls => "ehlo_tls",
        Capability => "capability",
        Auth => "auth",
        Select => "select",
        Quit => "quit",
        TokenRequest => "token_request",
    }
}

label_enum! {
    /// The protocol a check speaks. Also the `kind:` key of a configured check.
    pub enum Kind {
        Dns => "dns",
        Tcp => "tcp",
        Tls => "tls",
        Smtp => "smtp",
        Imap => "imap",
        Pop3 => "pop3",
        /// An OAuth2 token refresh on its own schedule.
        Token => "token",
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Kind::ALL.iter().copied().find(|k| k.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
            serde::de::Error::custom(format!("unknown check kind `{text}`, expected one of {}", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_strings_are_unique_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for r in Reason::ALL {
            let s = r.as_str();
            assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{s}");
            assert!(seen.insert(s), "duplicate reason {s}");
        }
        for p in Phase::ALL {
            assert!(seen.insert(p.as_str()) || Reason::ALL.iter().any(|r| r.as_str() == p.as_str()));
        }
    }

    #[test]
    fn kind_parses_from_its_label() {
        for k in Kind::ALL {
            let parsed: Kind = serde_json::from_str(&format!("\"{}\"", k.as_str())).unwrap();
            assert_eq!(parsed, *k);
        }
        let err = serde_json::from_str::<Kind>("\"smtpx\"").unwrap_err().to_string();
        assert!(err.contains("unknown check kind `smtpx`"), "{err}");
    }
}
