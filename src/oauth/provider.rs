//! One token source per mailbox, shared by every check of that mailbox.
//!
//! It keeps the current access token and refreshes it ahead of expiry (not
//! on every run), with one refresh in flight at a time. The rules that keep
//! mail flowing:
//! - a rotated refresh token is written to the store (atomically) before the
//!   new access token is used; if it cannot be written, the new access token
//!   is not used and the old refresh token, still valid, stays on disk;
//! - a transient failure (network, 5xx, throttling, no answer in time) never
//!   touches the stored token, and backs off (honouring `Retry-After`)
//!   instead of hammering the endpoint;
//! - a definitive failure (`invalid_grant`, a refused client, no stored
//!   token, an answer that cannot be used...) is kept for the whole mailbox:
//!   its checks get it without a request until a backoff (5 minutes,
//!   doubling to 1 hour) runs out, the token store or the client secret file
//!   changes (a new `token init`: a `stat` per call, no read), or the agent
//!   reloads its configuration ([`TokenProvider::reset_backoff`]).
//!
//! The request runs in a task of its own that owns the provider's state
//! until it is done, so a run cut off by its timeout still records what the
//! endpoint answered (and its backoff), and the next caller waits for it
//! rather than asking again. A caller passes its run's deadline (through
//! its [`Probe`]): the request gets what is left of it, less a margin, and
//! an endpoint that does not answer by then is `token_endpoint_timeout`,
//! not the run's generic `timeout`.
//!
//! Every number from the server is bounded before it becomes a time:
//! [`access_token`] refuses an `expires_in` over [`MAX_EXPIRES_IN`] (or one
//! the clock cannot add) as `token_bad_response`.
//!
//! It is one file, a little over the house limit, because it is one state
//! machine under one lock (the cached token, both backoffs, the file stamps
//! that end a definitive verdict, the refresh task that owns the state):
//! split, each part would need the others' invariants, and the pure pieces
//! that could leave (`access_token`, the scope and XOAUTH2 helpers) are a
//! few dozen lines.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::endpoint::{TokenEndpoint, TokenError, TokenResponse};
use super::jwt::{self, Claims, Expectation};
use super::store::{StoredToken, TokenStore};
use crate::clock::{now_unix, unix_seconds};
use crate::config::{Grant, MailProtocol, Mailbox};
use crate::observation::{Failure, Probe, TokenFacts};
use crate::reason::{Phase, Reason};

/// Refresh when the access token has less than this left.
const REFRESH_AHEAD: Duration = Duration::from_secs(10 * 60);
/// Backoff after a transient failure: doubled each time, within these bounds.
const BACKOFF_MIN: Duration = Duration::from_secs(30);
const BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);
/// Backoff after a definitive failure: doubled each time, within these bounds.
pub const DEFINITIVE_BACKOFF_MIN: Duration = Duration::from_secs(5 * 60);
pub const DEFINITIVE_BACKOFF_MAX: Duration = Duration::from_secs(60 * 60);
/// The longest access token lifetime accepted from `expires_in`. Entra ID
/// issues 60 to 90 minutes, and lifetime policies allow at most a day; more
/// than a year is not an answer from it.
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// The share of a run's remaining time kept back from the token request, so
/// the provider's verdict comes before the runner cuts the run off...
const MARGIN_SHARE: u32 = 10;
/// ...but never more than this.
const MARGIN_MAX: Duration = Duration::from_secs(1);

/// An access token and what we know about it.
#[derive(Clone)]
pub struct AccessToken {
    pub secret: SecretString,
    pub expires_at: SystemTime,
    pub claims: Option<Claims>,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessToken")
            .field("secret", &"[REDACTED]")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The access token of a token answer received at `now`, or why the answer
/// cannot be used: an `expires_in` over [`MAX_EXPIRES_IN`], or an expiry
/// the clock cannot represent, is `token_bad_response`. Pure: no clock, no
/// I/O, so the property tests and fuzz targets reach it.
pub fn access_token(response: TokenResponse, now: SystemTime) -> Result<AccessToken, Failure> {
    let lasts = Duration::from_secs(response.expires_in);
    if lasts > MAX_EXPIRES_IN {
        return Err(Failure::new(
            Reason::TokenBadResponse,
            format!(
                "the token response says the access token lasts {} seconds (expires_in), more than the {} days accepted: \
                 not an answer from Entra ID",
                response.expires_in,
                MAX_EXPIRES_IN.as_secs() / 86_400
            ),
        ));
    }
    let expires_at = now.checked_add(lasts).ok_or_else(|| {
        Failure::new(
            Reason::TokenBadResponse,
            format!(
                "the access token's expiry (now plus expires_in = {}) is beyond what the clock can represent",
                response.expires_in
            ),
        )
    })?;
    let claims = jwt::decode(response.access_token.expose_secret());
    Ok(AccessToken {
        secret: response.access_token,
        expires_at,
        claims,
    })
}

/// What `stat` says about a file: enough to see it replaced or rewritten
/// (an atomic save is a new inode), without reading it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64),
    #[cfg(unix)]
    changed: (i64, i64),
}

/// The stamp of `path`, or `None` when it cannot be stat'ed (missing).
fn stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt as _;
    Some(FileStamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: (meta.dev(), meta.ino()),
        #[cfg(unix)]
        changed: (meta.ctime(), meta.ctime_nsec()),
    })
}

/// The files a definitive verdict was reached with: the token store and a
/// `file:` client secret. When either changes, the verdict is stale.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Inputs {
    store: Option<FileStamp>,
    secret: Option<FileStamp>,
}

/// A definitive failure, kept for the mailbox.
struct Definitive {
    failure: Failure,
    /// No request to the endpoint before this instant...
    not_before: Instant,
    backoff: Duration,
    /// ...unless these files change...
    inputs: Inputs,
    /// ...or the provider's reset epoch moves on (a configuration reload).
    epoch: u64,
}

#[derive(Default)]
struct State {
    current: Option<AccessToken>,
    /// No request to the endpoint before this instant (after a transient failure).
    not_before: Option<Instant>,
    backoff: Option<Duration>,
    last_failure: Option<Failure>,
    definitive: Option<Definitive>,
    /// When the stored refresh token was obtained (unix seconds).
    rotated_at: Option<i64>,
}

/// Why a refresh did not give a token.
struct Refused {
    failure: Failure,
    transient: bool,
    retry_after: Option<Duration>,
}

impl Refused {
    fn definitive(failure: Failure) -> Self {
        Refused {
            failure,
            transient: false,
            retry_after: None,
        }
    }
}

impl From<TokenError> for Refused {
    fn from(e: TokenError) -> Self {
        Refused {
            transient: e.transient,
            retry_after: e.retry_after,
            failure: Failure::from(e),
        }
    }
}

/// What a refresh task needs, shared with the provider.
struct Inner {
    mailbox: Arc<Mailbox>,
    endpoint: TokenEndpoint,
    store: Option<TokenStore>,
    /// Moved on by [`TokenProvider::reset_backoff`].
    epoch: AtomicU64,
}

pub struct TokenProvider {
    inner: Arc<Inner>,
    state: Arc<Mutex<State>>,
}

/// When the provider must have its verdict, for a run cut off at `deadline`.
fn answer_by(deadline: Instant) -> Instant {
    let now = Instant::now();
    let left = deadline.saturating_duration_since(now);
    now + (left - (left / MARGIN_SHARE).min(MARGIN_MAX))
}

impl TokenProvider {
    pub fn new(mailbox: Arc<Mailbox>, endpoint: TokenEndpoint) -> Self {
        let store = mailbox.token_store.clone().map(TokenStore::new);
        TokenProvider {
            inner: Arc::new(Inner {
                mailbox,
                endpoint,
                store,
                epoch: AtomicU64::new(0),
            }),
            state: Arc::default(),
        }
    }

    pub fn mailbox(&self) -> &Mailbox {
        &self.inner.mailbox
    }

    /// Scopes to ask for, from the mailbox's protocols.
    pub fn scopes(&self) -> Vec<&'static str> {
        self.inner.scopes()
    }

    /// Forgets the backoff of a definitive failure, so the next run asks the
    /// endpoint again (the agent calls it on a successful reload: the admin
    /// may have fixed what the configuration cannot show, such as consent).
    pub fn reset_backoff(&self) {
        self.inner.epoch.fetch_add(1, Ordering::SeqCst);
    }

    /// What the token's claims must show for this mailbox.
    fn expectation(&self) -> (Option<&str>, Vec<&'static str>, Vec<&'static str>) {
        let mailbox = &self.inner.mailbox;
        let (scopes, roles): (Vec<&'static str>, Vec<&'static str>) = mailbox
            .protocols
            .iter()
            .map(|p| match p {
                MailProtocol::Imap => ("IMAP.AccessAsUser.All", "IMAP.AccessAsApp"),
                MailProtocol::Pop3 => ("POP.AccessAsUser.All", "POP.AccessAsApp"),
                MailProtocol::Smtp => ("SMTP.Send", "SMTP.SendAsApp"),
            })
            .unzip();
        match mailbox.grant {
            Grant::RefreshToken => (Some(mailbox.token_user()), scopes, Vec::new()),
            Grant::ClientCredentials => (None, Vec::new(), roles),
        }
    }

    /// A token valid for a while yet, refreshing it when needed (phase
    /// `token_request`). Checks the claims of a new token. Answers by the
    /// probe's deadline, if it has one.
    pub async fn token(&self, probe: &mut Probe) -> Result<AccessToken, Failure> {
        // Recorded on every use, so a token problem fails in this phase
        // whether the token came from the cache or the endpoint.
        probe.enter(Phase::TokenRequest);
        let answer_by = probe.deadline().map(answer_by);
        let lock = self.state.clone().lock_owned();
        let mut state = match answer_by {
            Some(at) => tokio::time::timeout_at(at, lock).await.map_err(|_| {
                Failure::new(
                    Reason::TokenEndpointTimeout,
                    "another check's refresh of this mailbox's token was still waiting for the token endpoint",
                )
            })?,
            None => lock.await,
        };
        let now = SystemTime::now();
        if let Some(t) = &state.current
            && t.expires_at.duration_since(now).unwrap_or_default() > REFRESH_AHEAD
        {
            let t = t.clone();
            probe.facts.token = Some(self.facts(&t, state.rotated_at));
            return self.checked(t);
        }
        if let Some(d) = &state.definitive {
            if d.epoch != self.inner.epoch.load(Ordering::SeqCst) || d.inputs != self.inner.inputs() {
                // A new token, secret or configuration: ask at once, and start the backoff over.
                state.definitive = None;
            } else if Instant::now() < d.not_before {
                return Err(d.failure.clone());
            }
        }
        if let (Some(not_before), Some(failure)) = (state.not_before, &state.last_failure)
            && Instant::now() < not_before
        {
            // Backing off: use the old token while it lasts, else report the last failure.
            if let Some(t) = state.current.clone().filter(|t| t.expires_at > now) {
                probe.facts.token = Some(self.facts(&t, state.rotated_at));
                return self.checked(t);
            }
            return Err(failure.clone());
        }
        // The refresh owns the state until it is done, even if this caller is dropped.
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let result = inner.refresh_and_record(&mut state, answer_by).await;
            (result, state.rotated_at)
        });
        let (result, rotated_at) = task
            .await
            .map_err(|_| Failure::new(Reason::Internal, "the token refresh stopped unexpectedly"))?;
        let t = result?;
        probe.facts.token = Some(self.facts(&t, rotated_at));
        self.checked(t)
    }

    /// The token, if its claims show what this mailbox needs.
    fn checked(&self, t: AccessToken) -> Result<AccessToken, Failure> {
        let (user, scopes, roles) = self.expectation();
        if let Some(claims) = &t.claims {
            jwt::check(
                claims,
                &Expectation {
                    user,
                    scopes: &scopes,
                    roles: &roles,
                },
            )?;
        }
        Ok(t)
    }

    fn facts(&self, t: &AccessToken, rotated_at: Option<i64>) -> TokenFacts {
        TokenFacts {
            mailbox: self.inner.mailbox.name.clone(),
            expires_at: unix_seconds(t.expires_at),
            lifetime: t.claims.as_ref().and_then(Claims::lifetime),
            refresh_token_rotated_at: rotated_at,
        }
    }
}

impl Inner {
    fn scopes(&self) -> Vec<&'static str> {
        match self.mailbox.grant {
            Grant::ClientCredentials => vec!["https://outlook.office365.com/.default"],
            Grant::RefreshToken => delegated_scopes(&self.mailbox.protocols),
        }
    }

    /// The stamps of the files a refresh reads.
    fn inputs(&self) -> Inputs {
        let secret = match &self.mailbox.tenant.client_secret {
            Some(source) => source.file_path().and_then(Result::ok).and_then(|path| stamp(&path)),
            None => None,
        };
        Inputs {
            store: self.store.as_ref().and_then(|s| stamp(s.path())),
            secret,
        }
    }

    /// One refresh, and what it leaves in the state for the next caller.
    async fn refresh_and_record(&self, state: &mut State, answer_by: Option<Instant>) -> Result<AccessToken, Failure> {
        // Taken before anything is read, so a change made during the request counts as new.
        let epoch = self.epoch.load(Ordering::SeqCst);
        let mut inputs = self.inputs();
        match self.refresh(state, answer_by, &mut inputs).await {
            Ok(t) => {
                state.not_before = None;
                state.backoff = None;
                state.last_failure = None;
                state.definitive = None;
                // Cached even when its claims are wrong: asking again every run
                // would give the same token; the check fails while it is used.
                state.current = Some(t.clone());
                Ok(t)
            }
            Err(Refused {
                failure,
                transient: true,
                retry_after,
            }) => {
                let next = state.backoff.map(|b| (b * 2).min(BACKOFF_MAX)).unwrap_or(BACKOFF_MIN);
                let wait = retry_after.unwrap_or(next).min(BACKOFF_MAX);
                state.backoff = Some(next);
                state.not_before = Some(Instant::now() + wait);
                state.last_failure = Some(failure.clone());
                Err(failure)
            }
            Err(Refused { failure, .. }) => {
                // A definitive answer: the cached token is no good any more either.
                state.current = None;
                state.not_before = None;
                state.backoff = None;
                state.last_failure = None;
                let backoff = state
                    .definitive
                    .as_ref()
                    .map(|d| (d.backoff * 2).min(DEFINITIVE_BACKOFF_MAX))
                    .unwrap_or(DEFINITIVE_BACKOFF_MIN);
                tracing::warn!(
                    mailbox = %self.mailbox.name,
                    reason = %failure.reason,
                    retry_in_seconds = backoff.as_secs(),
                    "definitive token failure: the mailbox's checks report it without asking the token endpoint \
                     until the retry time, a change of the token store or client secret file, or a reload"
                );
                state.definitive = Some(Definitive {
                    failure: failure.clone(),
                    not_before: Instant::now() + backoff,
                    backoff,
                    inputs,
                    epoch,
                });
                Err(failure)
            }
        }
    }

    async fn refresh(&self, state: &mut State, answer_by: Option<Instant>, inputs: &mut Inputs) -> Result<AccessToken, Refused> {
        let tenant = &self.mailbox.tenant;
        let endpoint = match answer_by {
            Some(at) => self.endpoint.until(at),
            None => self.endpoint.clone(),
        };
        let secret = match &tenant.client_secret {
            Some(source) => Some(
                source
                    .read()
                    .map_err(|e| Refused::definitive(Failure::new(Reason::TokenInvalidClient, format!("client secret: {e}"))))?,
            ),
            None => None,
        };
        let scopes = self.scopes();
        let response: TokenResponse = match self.mailbox.grant {
            Grant::ClientCredentials => {
                let Some(secret) = &secret else {
                    return Err(Refused::definitive(Failure::new(
                        Reason::TokenInvalidClient,
                        "client_credentials needs a client secret",
                    )));
                };
                endpoint.client_credentials_grant(&tenant.client_id, secret, scopes[0]).await?
            }
            Grant::RefreshToken => {
                let store = self
                    .store
                    .as_ref()
                    .ok_or_else(|| Refused::definitive(Failure::new(Reason::Internal, "no token store")))?;
                let stored = store.load().map_err(|e| Refused::definitive(Failure::from(e)))?.ok_or_else(|| {
                    Refused::definitive(Failure::new(
                        Reason::TokenInvalidGrant,
                        format!(
                            "no refresh token in {}: run `ece-o365-exporter token init --mailbox {}`",
                            store.path().display(),
                            self.mailbox.name
                        ),
                    ))
                })?;
                state.rotated_at = Some(stored.rotated_at);
                // A public client's refresh token is redeemed without the secret (AADSTS700025).
                let secret = if stored.public_client { None } else { secret.as_ref() };
                let response = endpoint
                    .refresh_token_grant(&tenant.client_id, secret, &stored.refresh_token, &scopes)
                    .await?;
                if let Some(new) = &response.refresh_token
                    && new.expose_secret() != stored.refresh_token.expose_secret()
                {
                    let claims = jwt::decode(response.access_token.expose_secret());
                    let rotated = StoredToken {
                        refresh_token: new.clone(),
                        rotated_at: now_unix(),
                        account: claims.as_ref().and_then(|c| c.user().map(str::to_string)),
                        public_client: stored.public_client,
                    };
                    // Durable first: only then is the new access token used.
                    store.save(&rotated).map_err(|e| Refused::definitive(Failure::from(e)))?;
                    state.rotated_at = Some(rotated.rotated_at);
                    // Our own write is not a new `token init`.
                    inputs.store = stamp(store.path());
                }
                response
            }
        };
        access_token(response, SystemTime::now()).map_err(Refused::definitive)
    }
}

/// The delegated scopes a mailbox's protocols need, plus `offline_access`
/// for the refresh token (asked for by the provider and by `token init`).
pub fn delegated_scopes(protocols: &[MailProtocol]) -> Vec<&'static str> {
    let mut scopes: Vec<&'static str> = protocols
        .iter()
        .map(|p| match p {
            MailProtocol::Imap => "https://outlook.office.com/IMAP.AccessAsUser.All",
            MailProtocol::Pop3 => "https://outlook.office.com/POP.AccessAsUser.All",
            MailProtocol::Smtp => "https://outlook.office.com/SMTP.Send",
        })
        .collect();
    scopes.push("offline_access");
    scopes
}

/// The SASL XOAUTH2 initial response: base64 of
/// `user=<address>^Aauth=Bearer <token>^A^A`. For a shared mailbox the user
/// is the shared mailbox and the token the delegate's.
pub fn xoauth2(user: &str, token: &SecretString) -> SecretString {
    use base64::Engine as _;
    let raw = format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose_secret());
    SecretString::from(base64::engine::general_purpose::STANDARD.encode(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delegated_scopes_follow_the_protocols() {
        assert_eq!(
            delegated_scopes(&[MailProtocol::Imap, MailProtocol::Smtp]),
            vec![
                "https://outlook.office.com/IMAP.AccessAsUser.All",
                "https://outlook.office.com/SMTP.Send",
                "offline_access"
            ]
        );
        assert_eq!(
            delegated_scopes(&[MailProtocol::Pop3]),
            vec!["https://outlook.office.com/POP.AccessAsUser.All", "offline_access"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_token_request_answers_before_the_run_is_cut_off() {
        let now = Instant::now();
        for (left, answer_in) in [
            (Duration::from_secs(2), Duration::from_millis(1800)),
            (Duration::from_secs(10), Duration::from_secs(9)),
            (Duration::from_secs(60), Duration::from_secs(59)),
            (Duration::ZERO, Duration::ZERO),
        ] {
            assert_eq!(answer_by(now + left) - now, answer_in, "{left:?}");
        }
        // A deadline already past: answer at once, never before now.
        let later = now + Duration::from_secs(5);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(answer_by(later), Instant::now());
    }

    /// Unix: the inode tells a rename apart even within the mtime's granularity.
    #[cfg(unix)]
    #[test]
    fn a_rewritten_file_has_a_new_stamp_an_untouched_one_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("support.token");
        assert_eq!(stamp(&path), None, "missing");
        std::fs::write(&path, "one").unwrap();
        let first = stamp(&path).expect("a stamp");
        assert_eq!(stamp(&path), Some(first.clone()), "untouched");
        // Same length, same content, replaced by rename as `token init` does.
        let temp = dir.path().join("support.token.tmp");
        std::fs::write(&temp, "one").unwrap();
        std::fs::rename(&temp, &path).unwrap();
        assert_ne!(stamp(&path), Some(first), "replaced");
    }

    #[test]
    fn xoauth2_matches_the_documented_format() {
        // The example from Microsoft's "Authenticate an IMAP, POP or SMTP connection using OAuth".
        let s = xoauth2(
            "test@contoso.onmicrosoft.com",
            &SecretString::from("EwBAAl3BAAUFFpUAo7J3Ve0bjLBWZWCclRC3EoAA".to_string()),
        );
        assert_eq!(
            s.expose_secret(),
            "dXNlcj10ZXN0QGNvbnRvc28ub25taWNyb3NvZnQuY29tAWF1dGg9QmVhcmVyIEV3QkFBbDNCQUFVRkZwVUFvN0ozVmUwYmpMQldaV0NjbFJDM0VvQUEBAQ=="
        );
    }
}
