//! The only place that knows metric names. Turns each [`Observation`] into
//! series and renders them for `/metrics` (OpenMetrics) or for a textfile
//! (the Prometheus text format, see [`Format`]). The per-check state keeps each
//! check's last run (moved in, once); [`Metrics::last_runs`] lends it to
//! readers (the status page, readiness) without copying. It must not know
//! the guide, the HTTP side or the agent.
//!
//! Every label value here is a configured name, a fixed enum, a watched
//! capability from a static list, or a certificate field of the one leaf a
//! check currently sees (replaced, not accumulated, when it changes).
//!
//! Series that exist once per check live in `per_check`, compact and
//! written out in chunks by each scrape (an agent of 10,000 checks must stay
//! small and quick to scrape); the bounded families (per kind, per mailbox,
//! per tenant, the agent's own) are prometheus-client's.

mod per_check;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::checks::CheckMeta;
use crate::observation::Observation;
use crate::reason::{Kind, Phase};

/// The prefix of every metric name.
pub const PREFIX: &str = "ece_o365";
/// Buckets for whole runs and single phases: 5 ms (loopback) to 30 s (a
/// timed-out run), dense where Office 365 answers (50 ms to 2 s).
const DURATION_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

type FloatGauge = Gauge<f64, AtomicU64>;

/// Histograms are per kind (and phase), not per check: their cardinality is
/// bounded by the code, not by the configuration. Per check, the last run's
/// durations are gauges (see `per_check`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OnlyKindLabels {
    kind: Kind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindPhaseLabels {
    kind: Kind,
    phase: Phase,
}

/// Mail flow checks are few (one message per run, opt-in), so their
/// delivery times get a histogram per check.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    check: String,
}

/// Buckets for a mail flow message's delivery: 1 s to 10 minutes (Exchange
/// Online usually delivers within seconds; a check's timeout is minutes).
const DELIVERY_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailboxLabels {
    mailbox: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FolderLabels {
    mailbox: String,
    folder: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SecretLabels {
    tenant: String,
    client_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    revision: String,
}

/// Every check's stored state at one moment, by name: one reference per
/// check, sharing (not copying) its last [`Observation`].
pub struct LastRuns(Vec<Arc<per_check::CheckSeries>>);

impl LastRuns {
    /// The last run of every check that has run, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<CheckMeta>, &Observation)> {
        self.0.iter().filter_map(|c| c.last.as_ref().map(|o| (&c.meta, o)))
    }
}

/// About this much of `/metrics` is written at a time (see [`Metrics::exposition`]).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The text format a body is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0, for `/metrics`: counters declared under their
    /// family names, `# EOF` at the end.
    OpenMetrics,
    /// The Prometheus text format (0.0.4) that node_exporter's and
    /// windows_exporter's textfile collectors read: counters declared under
    /// their sample names (`..._total`), no `# EOF`.
    Prometheus,
}

pub struct Metrics {
    registry: Registry,
    per_check: Mutex<per_check::PerCheck>,
    duration: Family<OnlyKindLabels, Histogram>,
    phase_duration: Family<KindPhaseLabels, Histogram>,
    token_expiry: Family<MailboxLabels, Gauge>,
    token_lifetime: Family<MailboxLabels, Gauge>,
    refresh_rotated: Family<MailboxLabels, Gauge>,
    secret_expiry: Family<SecretLabels, Gauge>,
    mailbox_messages: Family<FolderLabels, Gauge>,
    oldest_message: Family<FolderLabels, Gauge>,
    delivery: Family<CheckLabels, Histogram>,
    last_delivery: Family<CheckLabels, FloatGauge>,
    reload_ok: Gauge,
    reload_time: FloatGauge,
}

fn histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}

fn unix_seconds(t: SystemTime) -> f64 {
    crate::clock::unix_seconds_f64(t)
}

impl Metrics {
    pub fn new(version: &str, revision: &str) -> Self {
        let mut registry = Registry::with_prefix(PREFIX);
        let m = Metrics {
            per_check: Mutex::default(),
            duration: Family::new_with_constructor(histogram),
            phase_duration: Family::new_with_constructor(histogram),
            token_expiry: Family::default(),
            token_lifetime: Family::default(),
            refresh_rotated: Family::default(),
            secret_expiry: Family::default(),
            mailbox_messages: Family::default(),
            oldest_message: Family::default(),
            delivery: Family::new_with_constructor(|| Histogram::new(DELIVERY_BUCKETS.iter().copied())),
            last_delivery: Family::default(),
            reload_ok: Gauge::default(),
            reload_time: FloatGauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "check_duration_seconds",
            "Duration of whole check runs, over all checks of a kind",
            m.duration.clone(),
        );
        registry.register(
            "check_phase_duration_seconds",
            "Duration of each protocol step, over all checks of a kind",
            m.phase_duration.clone(),
        );
        registry.register(
            "token_expiry_timestamp_seconds",
            "When the mailbox's current access token expires",
            m.token_expiry.clone(),
        );
        registry.register(
            "token_lifetime_seconds",
            "exp - iat of the mailbox's access token (the guide requires 60 minutes)",
            m.token_lifetime.clone(),
        );
        registry.register(
            "refresh_token_last_rotated_timestamp_seconds",
            "When the stored refresh token was issued; unused for 90 days it expires",
            m.refresh_rotated.clone(),
        );
        registry.register(
            "client_secret_expiry_timestamp_seconds",
            "When the app registration's client secret expires, from the configuration",
            m.secret_expiry.clone(),
        );
        registry.register(
            "mailbox_messages",
            "Messages in the folder (IMAP STATUS or POP3 STAT); a growing inbox means ECE stopped retrieving",
            m.mailbox_messages.clone(),
        );
        registry.register(
            "mailbox_oldest_message_timestamp_seconds",
            "When the folder's oldest message arrived (IMAP INTERNALDATE, POP3 Received:); absent when the folder is empty",
            m.oldest_message.clone(),
        );
        registry.register(
            "mailflow_delivery_seconds",
            "Time from the mail flow check's submission to its message's arrival in the receiving mailbox",
            m.delivery.clone(),
        );
        registry.register(
            "mailflow_last_delivery_seconds",
            "The delivery time of the mail flow check's last delivered message",
            m.last_delivery.clone(),
        );
        registry.register(
            "config_last_reload_successful",
            "1 if the last load of the configuration succeeded; 0 while a bad file is kept out",
            m.reload_ok.clone(),
        );
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully",
            m.reload_time.clone(),
        );
        let build = Family::<BuildLabels, Gauge>::default();
        build
            .get_or_create(&BuildLabels {
                version: version.into(),
                revision: revision.into(),
            })
            .set(1);
        registry.register("build_info", "Version of the exporter", build);
        Metrics { registry, ..m }
    }

    /// Declares a configured check before its first run, so its success
    /// series exists (as 0) from the first scrape.
    pub fn declare(&self, meta: &Arc<CheckMeta>) {
        if let Ok(mut per_check) = self.per_check.lock() {
            per_check.declare(meta);
        }
    }

    /// Publishes what the configuration says (client secret expiry dates).
    pub fn configured(&self, config: &crate::config::Config) {
        self.secret_expiry.clear();
        for t in &config.tenants {
            if let Some(expires) = t.client_secret_expires {
                self.secret_expiry
                    .get_or_create(&SecretLabels {
                        tenant: t.name.clone(),
                        client_id: t.client_id.clone(),
                    })
                    .set(expires);
            }
        }
    }

    /// Drops every series of a check that was removed or changed by a reload.
    pub fn forget(&self, meta: &CheckMeta) {
        let check = CheckLabels { check: meta.name.clone() };
        self.delivery.remove(&check);
        self.last_delivery.remove(&check);
        if let Ok(mut per_check) = self.per_check.lock() {
            per_check.forget(&meta.name);
        }
    }

    /// Records the outcome of loading the configuration (at start or on reload).
    pub fn config_loaded(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            self.reload_time.set(unix_seconds(std::time::SystemTime::now()));
        }
    }

    /// Records one run.
    pub fn observe(&self, meta: &Arc<CheckMeta>, obs: Observation) {
        self.duration
            .get_or_create(&OnlyKindLabels { kind: meta.kind })
            .observe(obs.duration.as_secs_f64());
        for (phase, took) in &obs.phases {
            self.phase_duration
                .get_or_create(&KindPhaseLabels {
                    kind: meta.kind,
                    phase: *phase,
                })
                .observe(took.as_secs_f64());
        }
        if let Some(t) = &obs.facts.token {
            let mailbox = MailboxLabels {
                mailbox: t.mailbox.clone(),
            };
            self.token_expiry.get_or_create(&mailbox).set(t.expires_at);
            if let Some(lifetime) = t.lifetime {
                self.token_lifetime.get_or_create(&mailbox).set(lifetime);
            }
            if let Some(rotated) = t.refresh_token_rotated_at {
                self.refresh_rotated.get_or_create(&mailbox).set(rotated);
            }
        }
        if let (Some((folder, count)), Some(mailbox)) = (obs.facts.mailbox_messages, &meta.mailbox) {
            let labels = FolderLabels {
                mailbox: mailbox.clone(),
                folder: folder.to_string(),
            };
            self.mailbox_messages.get_or_create(&labels).set(count as i64);
        }
        if let (Some((folder, oldest)), Some(mailbox)) = (obs.facts.oldest_message, &meta.mailbox) {
            let labels = FolderLabels {
                mailbox: mailbox.clone(),
                folder: folder.to_string(),
            };
            match oldest {
                Some(t) => {
                    self.oldest_message.get_or_create(&labels).set(t);
                }
                None => {
                    self.oldest_message.remove(&labels);
                }
            }
        }
        if let Some(took) = obs.facts.delivery {
            let check = CheckLabels { check: meta.name.clone() };
            self.delivery.get_or_create(&check).observe(took.as_secs_f64());
            self.last_delivery.get_or_create(&check).set(took.as_secs_f64());
        }
        if let Ok(mut per_check) = self.per_check.lock() {
            per_check.record(meta, obs);
        }
    }

    /// Every check's last run as it is now, shared with the store (see [`LastRuns`]).
    pub fn last_runs(&self) -> LastRuns {
        LastRuns(self.per_check.lock().map(|p| p.snapshot()).unwrap_or_default())
    }

    /// How many checks have run at least once.
    pub fn ran(&self) -> usize {
        self.per_check.lock().map(|p| p.ran()).unwrap_or(0)
    }

    /// Every series in the OpenMetrics text format, as chunks of about
    /// [`CHUNK_BYTES`] written as they are taken: a scrape of ten thousand
    /// checks never holds its whole body (15 MB) in memory, and holds no
    /// lock while it is sent. The values are those of the moment of the
    /// call; runs recorded while the body is sent show in the next scrape.
    pub fn exposition(&self) -> impl Iterator<Item = String> + Send + 'static {
        self.exposition_in(Format::OpenMetrics)
    }

    /// [`exposition`](Self::exposition) in either text format. The bounded
    /// families are written the same in both: they hold no counter, info
    /// metric, unit or created time, where the two formats differ (a test
    /// holds them to it).
    pub fn exposition_in(&self, format: Format) -> impl Iterator<Item = String> + Send + 'static {
        let mut head = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut head, &self.registry);
        let snapshot = self.per_check.lock().map(|p| p.scrape());
        let mut eof = String::new();
        if format == Format::OpenMetrics {
            let _ = prometheus_client::encoding::text::encode_eof(&mut eof);
        }
        std::iter::once(head)
            .chain(
                snapshot
                    .ok()
                    .into_iter()
                    .flat_map(move |s| per_check::Chunks::new(s, CHUNK_BYTES, format)),
            )
            .chain(std::iter::once(eof))
            // An empty chunk would end a chunked HTTP body early.
            .filter(|chunk| !chunk.is_empty())
    }

    /// Every series in the OpenMetrics text format, in one string.
    pub fn render(&self) -> String {
        self.exposition().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::observation::{CertSummary, Facts, Probe, TlsFacts, TokenFacts};

    fn meta(name: &str, kind: Kind, mailbox: Option<&str>) -> Arc<CheckMeta> {
        Arc::new(CheckMeta {
            name: name.into(),
            kind,
            target: "outlook.office365.com:993".into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            mailbox: mailbox.map(str::to_string),
        })
    }

    fn observation(facts: Facts) -> Observation {
        let mut probe = Probe::default();
        probe.facts = facts;
        probe.into_observation(Ok(()), Duration::from_millis(20))
    }

    fn tls_facts(issuer: &str) -> Facts {
        let leaf = CertSummary {
            subject: "CN=outlook.com".into(),
            issuer: issuer.into(),
            fingerprint_sha256: "ab".repeat(32),
        };
        Facts {
            tls: Some(TlsFacts {
                version: "TLSv1.3",
                earliest_expiry: Some(2_000_000_000),
                leaf: Some(leaf),
            }),
            ..Facts::default()
        }
    }

    #[test]
    fn token_and_mailbox_facts_become_series() {
        let m = Metrics::new("1.2.3", "abc");
        let facts = Facts {
            token: Some(TokenFacts {
                mailbox: "support".into(),
                expires_at: 1_900_000_000,
                lifetime: Some(4500),
                refresh_token_rotated_at: Some(1_800_000_000),
            }),
            mailbox_messages: Some(("INBOX", 42)),
            ..Facts::default()
        };
        m.observe(
            &meta("imap-support", crate::checks::imap::KIND, Some("support")),
            observation(facts),
        );
        let text = m.render();
        for line in [
            "ece_o365_token_expiry_timestamp_seconds{mailbox=\"support\"} 1900000000",
            "ece_o365_token_lifetime_seconds{mailbox=\"support\"} 4500",
            "ece_o365_refresh_token_last_rotated_timestamp_seconds{mailbox=\"support\"} 1800000000",
            "ece_o365_mailbox_messages{mailbox=\"support\",folder=\"INBOX\"} 42",
            "ece_o365_build_info{version=\"1.2.3\",revision=\"abc\"} 1",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
    }

    #[test]
    fn the_oldest_message_is_a_timestamp_absent_when_the_folder_is_empty() {
        let m = Metrics::new("1", "r");
        let check = meta("imap-support", crate::checks::imap::KIND, Some("support"));
        let series = "ece_o365_mailbox_oldest_message_timestamp_seconds{mailbox=\"support\",folder=\"INBOX\"}";
        let oldest = |o: Option<(&'static str, Option<i64>)>| Facts {
            oldest_message: o,
            ..Facts::default()
        };
        m.observe(&check, observation(oldest(Some(("INBOX", Some(1_796_292_000))))));
        assert!(m.render().contains(&format!("{series} 1796292000")), "{}", m.render());
        // A run of a check that does not read it (no fact: a token check) leaves the last value.
        m.observe(&check, observation(oldest(None)));
        assert!(m.render().contains(&format!("{series} 1796292000")));
        // An empty folder: no series at all, not 0 (which would read as 1970).
        m.observe(&check, observation(oldest(Some(("INBOX", None)))));
        assert!(!m.render().contains(series), "{}", m.render());
    }

    #[test]
    fn the_connected_address_family_is_an_info_series_kept_until_the_next_connection() {
        let m = Metrics::new("1", "r");
        let check = meta("smtp-dispatcher", crate::checks::smtp::KIND, None);
        let family = |f: Option<&'static str>| Facts {
            address_family: f,
            ..Facts::default()
        };
        m.observe(&check, observation(family(Some("ipv6"))));
        m.observe(&check, observation(family(Some("ipv4"))));
        // A run that never connected (say, the name did not resolve) keeps the last family.
        m.observe(&check, observation(family(None)));
        let text = m.render();
        assert!(
            text.contains("ece_o365_check_connected_address_family_info{check=\"smtp-dispatcher\",family=\"ipv4\"} 1"),
            "{text}"
        );
        assert_eq!(text.matches("ece_o365_check_connected_address_family_info{").count(), 1, "{text}");
    }

    #[test]
    fn the_http_status_is_kept_until_the_next_answer() {
        let m = Metrics::new("1", "r");
        let check = meta("https-ece", crate::checks::https::KIND, None);
        let status = |s: Option<u16>| Facts {
            http_status: s,
            ..Facts::default()
        };
        m.observe(&check, observation(status(Some(200))));
        m.observe(&check, observation(status(Some(503))));
        // A run that never got an answer (the TLS handshake failed) keeps the last status.
        m.observe(&check, observation(status(None)));
        let text = m.render();
        assert!(text.contains("ece_o365_http_status_code{check=\"https-ece\"} 503"), "{text}");
        assert_eq!(text.matches("ece_o365_http_status_code{").count(), 1, "{text}");
    }

    #[test]
    fn the_tenant_info_names_the_directory_found_and_stays_until_another_is() {
        let m = Metrics::new("1", "r");
        let check = meta("tenant-contoso", crate::checks::tenant::KIND, None);
        let found = |id: &str| Facts {
            tenant: Some(crate::observation::TenantFacts {
                tenant: "contoso".into(),
                directory_id: id.into(),
            }),
            ..Facts::default()
        };
        let text = m.render();
        assert_eq!(text.matches("ece_o365_tenant_info{").count(), 0, "none before a run: {text}");
        m.observe(&check, observation(found("11111111-2222-3333-4444-555555555555")));
        m.observe(&check, observation(Facts::default()));
        let text = m.render();
        assert!(
            text.contains(
                "ece_o365_tenant_info{check=\"tenant-contoso\",tenant=\"contoso\",tenant_id=\"11111111-2222-3333-4444-555555555555\"} 1"
            ),
            "{text}"
        );
        m.observe(&check, observation(found("72f988bf-86f1-41af-91ab-2d7cd011db47")));
        let text = m.render();
        assert_eq!(text.matches("ece_o365_tenant_info{").count(), 1, "{text}");
        assert!(text.contains("tenant_id=\"72f988bf-86f1-41af-91ab-2d7cd011db47\"} 1"), "{text}");
    }

    #[test]
    fn a_new_issuer_replaces_the_certificate_info_series() {
        let m = Metrics::new("1", "r");
        let check = meta("tls-outlook", crate::checks::tls::KIND, None);
        m.observe(&check, observation(tls_facts("CN=DigiCert Cloud Services CA-1")));
        m.observe(&check, observation(tls_facts("CN=Zscaler Intermediate Root CA")));
        let text = m.render();
        assert!(text.contains("issuer=\"CN=Zscaler Intermediate Root CA\""), "{text}");
        assert!(!text.contains("DigiCert"), "the old issuer's series is gone: {text}");
        assert_eq!(text.matches("ece_o365_tls_cert_info{").count(), 1);
    }

    /// The certificate and the capabilities are those of the last run that
    /// got as far, kept (once) across runs that fail earlier.
    #[test]
    fn the_certificate_and_capabilities_stick_across_runs_that_do_not_get_as_far() {
        let m = Metrics::new("1", "r");
        let check = meta("smtp-a", crate::checks::smtp::KIND, None);
        let mut facts = tls_facts("CN=Intercept \"A\"");
        facts.capabilities = Some(vec![("STARTTLS", true), ("AUTH=XOAUTH2", false)]);
        m.observe(&check, observation(facts));
        let cert = format!(
            "ece_o365_tls_cert_info{{check=\"smtp-a\",subject=\"CN=outlook.com\",issuer=\"CN=Intercept \\\"A\\\"\",fingerprint_sha256=\"{}\"}} 1\n",
            "ab".repeat(32)
        );
        let caps = [
            "ece_o365_capability_advertised{check=\"smtp-a\",capability=\"STARTTLS\"} 1\n",
            "ece_o365_capability_advertised{check=\"smtp-a\",capability=\"AUTH=XOAUTH2\"} 0\n",
        ];
        let text = m.render();
        assert!(text.contains(&cert), "{text}");
        assert!(caps.iter().all(|c| text.contains(c)), "{text}");
        // Runs that never reach TLS nor the capabilities (a refused connection), twice.
        for _ in 0..2 {
            m.observe(&check, observation(Facts::default()));
            let text = m.render();
            assert!(text.contains(&cert), "{text}");
            assert!(caps.iter().all(|c| text.contains(c)), "{text}");
            assert_eq!(text.matches("ece_o365_capability_advertised{").count(), 2, "{text}");
        }
        // A handshake that showed no leaf drops the certificate; the capabilities stay.
        let no_leaf = Facts {
            tls: Some(TlsFacts {
                version: "TLSv1.2",
                earliest_expiry: None,
                leaf: None,
            }),
            ..Facts::default()
        };
        m.observe(&check, observation(no_leaf));
        let text = m.render();
        assert!(!text.contains("ece_o365_tls_cert_info{"), "{text}");
        assert!(caps.iter().all(|c| text.contains(c)), "{text}");
        // A run that got the capabilities, none of them: no lines.
        let none = Facts {
            capabilities: Some(Vec::new()),
            ..Facts::default()
        };
        m.observe(&check, observation(none));
        assert!(!m.render().contains("ece_o365_capability_advertised{"));
    }

    /// A long subject is clipped to 256 characters (not bytes) in the label,
    /// whether it is read from the last run or kept from an earlier one.
    #[test]
    fn long_certificate_fields_are_clipped() {
        let m = Metrics::new("1", "r");
        let check = meta("tls-a", crate::checks::tls::KIND, None);
        let mut facts = tls_facts("CN=CA");
        let long = format!("CN={}", "é".repeat(400));
        if let Some(leaf) = facts.tls.as_mut().and_then(|t| t.leaf.as_mut()) {
            leaf.subject = long.clone();
        }
        m.observe(&check, observation(facts));
        let clipped: String = long.chars().take(256).collect();
        let expected = format!("subject=\"{clipped}\",issuer=");
        assert!(m.render().contains(&expected));
        m.observe(&check, observation(Facts::default()));
        assert!(m.render().contains(&expected));
    }

    #[test]
    fn histograms_are_per_kind_and_the_last_run_is_per_check() {
        let m = Metrics::new("1", "r");
        let run = |phases: Vec<(Phase, Duration)>| {
            let mut probe = Probe::default();
            for (phase, _) in &phases {
                probe.enter(*phase);
            }
            let mut obs = probe.into_observation(Ok(()), Duration::from_millis(70));
            obs.phases = phases;
            obs
        };
        let ms = Duration::from_millis;
        for name in ["a", "b"] {
            m.observe(
                &meta(name, crate::checks::smtp::KIND, None),
                run(vec![(Phase::Connect, ms(10)), (Phase::Banner, ms(20)), (Phase::Tls, ms(40))]),
            );
        }
        // `b` fails in its banner on the next run: its later phases are gone, `a`'s stay.
        m.observe(
            &meta("b", crate::checks::smtp::KIND, None),
            run(vec![(Phase::Connect, ms(12)), (Phase::Banner, ms(30))]),
        );
        let text = m.render();
        for line in [
            "ece_o365_check_duration_seconds_count{kind=\"smtp\"} 3",
            "ece_o365_check_phase_duration_seconds_count{kind=\"smtp\",phase=\"tls\"} 2",
            "ece_o365_check_phase_duration_seconds_count{kind=\"smtp\",phase=\"banner\"} 3",
            "ece_o365_check_last_duration_seconds{check=\"b\",kind=\"smtp\"} 0.07",
            "ece_o365_check_phase_last_duration_seconds{check=\"b\",kind=\"smtp\",phase=\"banner\"} 0.03",
            "ece_o365_check_phase_last_duration_seconds{check=\"a\",kind=\"smtp\",phase=\"tls\"} 0.04",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
        assert!(
            !text.contains("ece_o365_check_phase_last_duration_seconds{check=\"b\",kind=\"smtp\",phase=\"tls\"}"),
            "{text}"
        );
        assert!(!text.contains("_bucket{check="), "no histogram is per check: {text}");
        m.forget(&meta("a", crate::checks::smtp::KIND, None));
        let text = m.render();
        assert!(!text.contains("check=\"a\""), "{text}");
        assert!(text.contains("ece_o365_check_duration_seconds_count{kind=\"smtp\"} 3"), "{text}");
    }

    /// A large body (ten thousand checks make 15 MB) is written in chunks of
    /// whole lines, none empty, each family once and contiguous, and the
    /// chunks joined are the whole.
    #[test]
    fn a_large_exposition_comes_in_chunks_of_whole_lines() {
        let m = Metrics::new("1", "r");
        for i in 0..2000 {
            let check = meta(&format!("tls-{i:04}"), crate::checks::tls::KIND, None);
            m.declare(&check);
            m.observe(&check, observation(tls_facts("CN=DigiCert Cloud Services CA-1")));
        }
        let chunks: Vec<String> = m.exposition().collect();
        assert!(chunks.len() > 5, "{} chunks", chunks.len());
        for c in &chunks {
            assert!(c.len() < 2 * CHUNK_BYTES, "a chunk of {} bytes", c.len());
            assert!(c.ends_with('\n'), "a chunk is empty or ends mid-line");
        }
        let body = chunks.concat();
        assert_eq!(body, m.render());
        assert!(body.ends_with("# EOF\n"));
        let families: Vec<&str> = body.lines().filter_map(|l| l.strip_prefix("# TYPE ")).collect();
        let mut unique = families.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), families.len(), "a family written twice: {families:?}");
        // Each family's samples follow its TYPE line, none elsewhere.
        let mut current = "";
        for line in body.lines() {
            if let Some(t) = line.strip_prefix("# TYPE ") {
                current = t.split(' ').next().unwrap_or_default();
            } else if !line.starts_with('#') {
                assert!(line.starts_with(current), "`{line}` outside its family `{current}`");
            }
        }
        assert_eq!(body.matches("ece_o365_check_success{").count(), 2000);
        assert_eq!(body.matches("ece_o365_tls_cert_info{").count(), 2000);
    }

    /// A scrape writes the values of the moment it began, even when runs
    /// are recorded while its body is sent.
    #[test]
    fn a_scrape_in_progress_is_a_consistent_snapshot() {
        let m = Metrics::new("1", "r");
        let check = meta("tcp-a", crate::checks::tcp::KIND, None);
        m.declare(&check);
        let fail = || {
            let mut probe = Probe::default();
            probe.enter(Phase::Connect);
            probe.into_observation(
                Err(crate::observation::Failure::new(crate::reason::Reason::ConnectRefused, "refused")),
                Duration::from_millis(1),
            )
        };
        m.observe(&check, Probe::default().into_observation(Ok(()), Duration::from_millis(3)));
        let during = m.exposition();
        m.observe(&check, fail());
        let before: String = during.collect();
        let success = "ece_o365_check_success{check=\"tcp-a\",kind=\"tcp\",target=\"outlook.office365.com:993\"}";
        assert!(before.contains(&format!("{success} 1\n")), "{before}");
        assert!(
            before.contains("ece_o365_check_runs_total{check=\"tcp-a\",kind=\"tcp\"} 1\n"),
            "{before}"
        );
        let after = m.render();
        assert!(after.contains(&format!("{success} 0\n")), "{after}");
        assert!(
            after.contains("ece_o365_check_runs_total{check=\"tcp-a\",kind=\"tcp\"} 2\n"),
            "{after}"
        );
        assert!(after.contains("reason=\"connect_refused\"} 1\n"), "{after}");
        assert_eq!(m.ran(), 1);
        assert_eq!(
            m.last_runs().iter().next().unwrap().1.reason(),
            Some(crate::reason::Reason::ConnectRefused)
        );
    }

    /// The bounded families hold nothing the two formats write differently,
    /// and the per-check counters are declared under their sample names in
    /// the Prometheus format.
    #[test]
    fn the_prometheus_format_declares_counters_under_their_sample_names() {
        let m = Metrics::new("1", "r");
        let check = meta("tcp-a", crate::checks::tcp::KIND, None);
        m.declare(&check);
        m.observe(&check, observation(tls_facts("CN=DigiCert Cloud Services CA-1")));
        let mut head = String::new();
        prometheus_client::encoding::text::encode_registry(&mut head, &m.registry).unwrap();
        for line in head.lines().filter(|l| l.starts_with("# ")) {
            assert!(
                line.starts_with("# HELP ") || line.ends_with(" gauge") || line.ends_with(" histogram"),
                "`{line}` is written differently in the two formats"
            );
        }
        let text: String = m.exposition_in(Format::Prometheus).collect();
        let open = m.render();
        assert!(!text.contains("# EOF") && open.ends_with("# EOF\n"), "{text}");
        assert_eq!(open.lines().count(), text.lines().count() + 1);
        let differ: Vec<(&str, &str)> = text.lines().zip(open.lines()).filter(|(t, o)| t != o).collect();
        assert_eq!(
            differ,
            [
                (
                    "# HELP ece_o365_check_runs_total Check runs finished",
                    "# HELP ece_o365_check_runs Check runs finished"
                ),
                ("# TYPE ece_o365_check_runs_total counter", "# TYPE ece_o365_check_runs counter"),
                (
                    "# HELP ece_o365_check_failures_total Failed check runs by reason",
                    "# HELP ece_o365_check_failures Failed check runs by reason"
                ),
                (
                    "# TYPE ece_o365_check_failures_total counter",
                    "# TYPE ece_o365_check_failures counter"
                ),
            ]
        );
    }

    #[test]
    fn client_secret_expiry_comes_from_the_config() {
        let yaml = "tenants:\n  - name: contoso\n    tenant_id: t\n    client_id: c1\n    client_secret_expires: 2027-06-30\nchecks:\n  - name: t\n    kind: tcp\n    target: h:1\n";
        let cfg = crate::config::Config::from_yaml(std::path::Path::new("x.yaml"), yaml).unwrap();
        let m = Metrics::new("1", "r");
        m.configured(&cfg);
        // 2027-06-30T00:00:00Z
        assert!(
            m.render()
                .contains("ece_o365_client_secret_expiry_timestamp_seconds{tenant=\"contoso\",client_id=\"c1\"} 1814313600"),
            "{}",
            m.render()
        );
    }
}
