//! The bounded vocabularies that become label values: why a check failed
//! ([`Reason`]), which protocol step it was in ([`Phase`]), what kind of
//! check it is ([`Kind`]) and which item of Cisco's troubleshooting guide a
//! result belongs to ([`GuideItem`]).
//!
//! A reason is declared once, below, with its guide item; its remedy's
//! message key is derived from its label. The texts live in the language
//! files (`src/i18n/*.ftl`), the alert that routes it in
//! `prometheus/alerts.yaml`; tests hold both to this list.
//!
//! Every value is a fixed `&'static str`, so no server text, secret or
//! configuration value can ever reach a label through these types. Extend the
//! enums with care: each new variant is a new series for every check.

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

/// Declares [`Reason`]: a label enum whose variants also name their guide
/// item (`Item`, `Item shared Item`, or `check` for the check's own item).
macro_rules! reasons {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal, $item:ident $(shared $shared:ident)?;)+ }) => {
        label_enum! {
            $(#[$meta])*
            pub enum $name { $($(#[$vmeta])* $variant => $text,)+ }
        }

        impl $name {
            /// Where a failure with this reason belongs in the guide. `shared`:
            /// the mailbox is used through another account (`auth_user`).
            pub const fn route(self, shared: bool) -> Route {
                match self {
                    $($name::$variant => {
                        $(if shared { return Route::Item(GuideItem::$shared); })?
                        let _ = shared;
                        reasons!(@route $item)
                    })+
                }
            }

            /// The message key of this reason's remedy (`remedy-<reason>`,
            /// or `remedy-<reason>-shared` where the advice differs for a
            /// shared mailbox).
            pub const fn remedy_key(self, shared: bool) -> &'static str {
                match self {
                    $($name::$variant => {
                        $(if shared { let _ = GuideItem::$shared; return concat!("remedy-", $text, "-shared"); })?
                        let _ = shared;
                        concat!("remedy-", $text)
                    })+
                }
            }
        }
    };
    (@route check) => { Route::CheckItem };
    (@route $item:ident) => { Route::Item(GuideItem::$item) };
}

/// Where a failure belongs in the guide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// This item, whatever the check's kind.
    Item(GuideItem),
    /// The item of the check's own kind (a bug inside a token check is the
    /// token refresh's, inside a network check the network's).
    CheckItem,
}

label_enum! {
    /// The guide's check items, in the guide's order (plus token refresh,
    /// which the guide covers under "Network Connectivity" and the services server).
    pub enum GuideItem {
        MinimumVersion => "minimum_version",
        SystemConfiguration => "system_configuration",
        AzureAdApplication => "azure_ad_application",
        TokenGeneration => "token_generation",
        MailboxConfiguration => "mailbox_configuration",
        ExchangeLicense => "exchange_license",
        MailboxRights => "mailbox_rights",
        NetworkConnectivity => "network_connectivity",
        TokenRefresh => "token_refresh",
    }
}

reasons! {
    /// Why a check run failed. One run ends in success or exactly one reason.
    /// Each reason names the guide item it belongs to (and, after `shared`,
    /// the item when the mailbox is used through another account); `check`
    /// means the item of the check's own kind. Its remedy's message key is
    /// `remedy-<reason>` (`remedy-<reason>-shared` for the shared variant).
    pub enum Reason {
        DnsNxdomain => "dns_nxdomain", NetworkConnectivity;
        DnsServfail => "dns_servfail", NetworkConnectivity;
        DnsRefused => "dns_refused", NetworkConnectivity;
        DnsNoAnswer => "dns_no_answer", NetworkConnectivity;
        DnsTimeout => "dns_timeout", NetworkConnectivity;
        DnsError => "dns_error", NetworkConnectivity;
        /// The system resolver (getaddrinfo) could not resolve a target host.
        ResolveFailed => "resolve_failed", NetworkConnectivity;
        ConnectRefused => "connect_refused", NetworkConnectivity;
        ConnectTimeout => "connect_timeout", NetworkConnectivity;
        NetworkUnreachable => "network_unreachable", NetworkConnectivity;
        /// The HTTP proxy in the path: refused, unreachable, closed, or
        /// answered `CONNECT` with something that is not HTTP.
        ProxyConnectFailed => "proxy_connect_failed", NetworkConnectivity;
        /// The HTTP proxy wants credentials or refused them (407 to `CONNECT`; 401 from some proxies).
        ProxyAuthRequired => "proxy_auth_required", NetworkConnectivity;
        /// The HTTP proxy refused the tunnel: 403 or any other non-2xx.
        ProxyDenied => "proxy_denied", NetworkConnectivity;
        /// This machine, not the network: no file descriptor or socket buffer
        /// left to open a connection (EMFILE, ENFILE, ENOBUFS).
        LocalResourceExhausted => "local_resource_exhausted", SystemConfiguration;
        TlsHandshakeFailed => "tls_handshake_failed", NetworkConnectivity;
        /// No TLS version both sides accept: the server speaks only TLS 1.0/1.1 (or something older).
        TlsVersionUnsupported => "tls_version_unsupported", NetworkConnectivity;
        TlsCertExpired => "tls_cert_expired", NetworkConnectivity;
        TlsCertNotYetValid => "tls_cert_not_yet_valid", NetworkConnectivity;
        TlsCertUntrusted => "tls_cert_untrusted", NetworkConnectivity;
        TlsCertNameMismatch => "tls_cert_name_mismatch", NetworkConnectivity;
        TlsUnexpectedIssuer => "tls_unexpected_issuer", NetworkConnectivity;
        Timeout => "timeout", NetworkConnectivity;
        ConnectionClosed => "connection_closed", NetworkConnectivity;
        LineTooLong => "line_too_long", NetworkConnectivity;
        TooManyLines => "too_many_lines", NetworkConnectivity;
        /// One reply was larger than the codec's byte budget (many long lines).
        ReplyTooLarge => "reply_too_large", NetworkConnectivity;
        UnexpectedReply => "unexpected_reply", NetworkConnectivity;
        /// The server refused the session in its greeting (SMTP 4xx/5xx, IMAP BYE, POP3 -ERR).
        GreetingRejected => "greeting_rejected", NetworkConnectivity;
        StarttlsNotOffered => "starttls_not_offered", NetworkConnectivity;
        /// STARTTLS/STLS was advertised but the command was refused.
        StarttlsRejected => "starttls_rejected", NetworkConnectivity;
        /// An HTTPS server answered with a status the check does not expect
        /// (redirects are reported with their target host, never followed).
        HttpUnexpectedStatus => "http_unexpected_status", NetworkConnectivity;
        /// An HTTPS server's answer is not a usable HTTP/1.x response: not
        /// HTTP, a head over its budgets, or broken body framing.
        HttpBadResponse => "http_bad_response", NetworkConnectivity;
        AuthMechanismNotOffered => "auth_mechanism_not_offered", MailboxConfiguration;
        AuthRejected => "auth_rejected", MailboxConfiguration shared MailboxRights;
        SmtpAuthDisabled => "smtp_auth_disabled", MailboxConfiguration;
        MailboxNotFound => "mailbox_not_found", ExchangeLicense shared MailboxRights;
        TokenEndpointUnreachable => "token_endpoint_unreachable", NetworkConnectivity;
        /// The token endpoint (or something on the way to it) did not answer
        /// within the run's time budget.
        TokenEndpointTimeout => "token_endpoint_timeout", TokenRefresh;
        /// The token endpoint answered with something that is not a v2.0 token response (HTML, broken JSON, huge body).
        TokenBadResponse => "token_bad_response", NetworkConnectivity;
        TokenInvalidGrant => "token_invalid_grant", TokenRefresh;
        TokenRefreshTokenExpired => "token_refresh_token_expired", TokenRefresh;
        TokenInvalidClient => "token_invalid_client", AzureAdApplication;
        TokenClientSecretExpired => "token_client_secret_expired", AzureAdApplication;
        TokenConsentRequired => "token_consent_required", AzureAdApplication;
        TokenInteractionRequired => "token_interaction_required", TokenGeneration;
        TokenUnknownTenant => "token_unknown_tenant", AzureAdApplication;
        TokenUnknownClient => "token_unknown_client", AzureAdApplication;
        TokenThrottled => "token_throttled", TokenRefresh;
        TokenWrongUser => "token_wrong_user", TokenGeneration;
        TokenMissingScope => "token_missing_scope", TokenGeneration;
        TokenLifetimeTooShort => "token_lifetime_too_short", TokenGeneration;
        TokenStoreUnwritable => "token_store_unwritable", TokenRefresh;
        Internal => "internal", check;
        /// Exchange accepted the token but its account has no access to the
        /// mailbox: IMAP `BAD User is authenticated but not connected.`, or
        /// POP3 `-ERR Logon failure` for a token of another account (a shared
        /// account without Full Access, an app without `Add-MailboxPermission`).
        MailboxRightsMissing => "mailbox_rights_missing", MailboxRights;
        /// SMTP `5.2.0 ...SendAsDenied...` (or `5.7.60`): the account may not send as the mailbox.
        SendAsDenied => "send_as_denied", MailboxRights;
        /// SMTP `5.1.8 Access denied, bad outbound sender`: the account is
        /// restricted from sending (Defender portal, Restricted entities).
        SenderBlocked => "sender_blocked", MailboxConfiguration;
        /// SMTP `5.1.90`, `RecipientRateLimitExceeded`, `5.2.2 ...SubmissionQuotaExceeded`.
        SendingLimitReached => "sending_limit_reached", MailboxConfiguration;
        /// SMTP: any other 5xx to `RCPT TO`.
        RecipientRejected => "recipient_rejected", MailboxConfiguration;
        /// SMTP: a 4xx to `MAIL FROM`, `RCPT TO` or the message: Exchange
        /// defers the submission.
        SubmissionDeferred => "submission_deferred", MailboxConfiguration;
        /// A mail flow check's message was accepted but never seen in the
        /// receiving mailbox before the check's timeout.
        MessageNotDelivered => "message_not_delivered", MailboxConfiguration;
        /// A mail flow check could not delete its own test message (the
        /// next run retries).
        CleanupFailed => "cleanup_failed", MailboxRights;
    }
}

label_enum! {
    /// A protocol step of a check. Durations are recorded per phase.
    pub enum Phase {
        Resolve => "resolve",
        Connect => "connect",
        /// The HTTP `CONNECT` exchange with a proxy, before any TLS.
        ProxyConnect => "proxy_connect",
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
        /// An HTTPS check's request and the server's answer, inside TLS.
        Http => "http",
        /// A mail flow check's `MAIL FROM`, `RCPT TO` and message.
        Submit => "submit",
        /// A mail flow check waiting for its message in the receiving mailbox.
        Deliver => "deliver",
        /// A mail flow check deleting its own test messages.
        Cleanup => "cleanup",
    }
}

/// The kind of a check: the `kind:` key of a configured check and the
/// `kind` label. Each kind's file in `checks/` declares its own (`KIND`);
/// only `'static` names from the code exist, so the label stays bounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Kind(&'static str);

impl Kind {
    /// A kind named `name` (snake_case). Only `checks/<kind>.rs` makes one.
    pub const fn new(name: &'static str) -> Kind {
        Kind(name)
    }

    /// The stable string used in labels, logs, reports and the YAML.
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl prometheus_client::encoding::EncodeLabelValue for Kind {
    fn encode(&self, encoder: &mut prometheus_client::encoding::LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.0)
    }
}

impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

label_enum! {
    /// Which variant of a reason's remedy applies, read from the server's
    /// reply where one reason has several causes an administrator fixes in
    /// different places. Never a label; it reaches the remedy as `$hint`.
    pub enum Hint {
        /// `535 5.7.139 ... SmtpClientAuthentication is disabled for the Tenant`.
        SmtpAuthTenant => "smtp_auth_tenant",
        /// `535 5.7.139 ... SmtpClientAuthentication is disabled for the Mailbox`.
        SmtpAuthMailbox => "smtp_auth_mailbox",
        /// `535 5.7.139 ... locked by your organization's security defaults policy`.
        SecurityDefaults => "security_defaults",
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
    fn remedy_keys_are_derived_from_the_labels() {
        let mut shared = 0;
        for r in Reason::ALL {
            assert_eq!(r.remedy_key(false), format!("remedy-{}", r.as_str()));
            let key = r.remedy_key(true);
            if key != r.remedy_key(false) {
                assert_eq!(key, format!("remedy-{}-shared", r.as_str()));
                assert_ne!(r.route(true), r.route(false), "{r}: a shared remedy comes with a shared item");
                shared += 1;
            }
        }
        assert_eq!(shared, 2, "auth_rejected and mailbox_not_found have shared variants");
        assert_eq!(Reason::Internal.route(false), Route::CheckItem);
        assert_eq!(Reason::AuthRejected.route(true), Route::Item(GuideItem::MailboxRights));
        assert_eq!(Reason::ConnectRefused.route(true), Route::Item(GuideItem::NetworkConnectivity));
    }
}
