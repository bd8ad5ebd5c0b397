//! Property tests of every parser that reads what a server or a file
//! controls (the stable counterpart of the `fuzz/` targets): they never
//! panic, their output is bounded, a reply split at any byte boundary parses
//! as it does whole, and where there is a round trip it holds. The numbers
//! of a token answer are followed into the expiry and lifetime the provider
//! keeps.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ece_o365_exporter::checks::imap::Status;
use ece_o365_exporter::config::Config;
use ece_o365_exporter::fuzzing::{self, HTTP_LIMITS, LIMITS, judge_answer};
use ece_o365_exporter::oauth::endpoint::classify;
use ece_o365_exporter::oauth::jwt;
use ece_o365_exporter::oauth::provider::MAX_EXPIRES_IN;
use ece_o365_exporter::observation::{Failure, MAX_DETAIL_CHARS};
use ece_o365_exporter::reason::Reason;
use proptest::prelude::*;
use std::time::{Duration, UNIX_EPOCH};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that look like mail protocol traffic more often than random ones do.
fn wire() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"250-".to_vec()),
        Just(b"250 ".to_vec()),
        Just(b"* ".to_vec()),
        Just(b"E1 OK ".to_vec()),
        Just(b"+OK".to_vec()),
        Just(b"-ERR".to_vec()),
        Just(b".".to_vec()),
        Just(b"{5}".to_vec()),
        Just(b"{999999999}".to_vec()),
        Just(b"\0\xff".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(token, 0..60).prop_map(|parts| parts.concat())
}

fn chunks() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..64, 1..8)
}

/// Seconds as a server may send them: plausible, at the bound, and at the limits.
fn expires_in() -> impl Strategy<Value = u64> {
    let bound = MAX_EXPIRES_IN.as_secs();
    prop_oneof![
        0u64..100_000,
        Just(bound),
        Just(bound + 1),
        Just(i64::MAX as u64),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

/// JWT times: plausible, at the limits, and anything.
fn jwt_time() -> impl Strategy<Value = i64> {
    prop_oneof![
        1_000_000_000i64..2_000_000_000,
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        any::<i64>(),
    ]
}

/// Now, in unix seconds: today-ish, or near the end of what `SystemTime` holds.
fn now_secs() -> impl Strategy<Value = u64> {
    let end = i64::MAX as u64;
    prop_oneof![1_000_000_000u64..4_000_000_000, (end - 2 * MAX_EXPIRES_IN.as_secs())..=end]
}

/// Printable text without line ends.
fn text() -> impl Strategy<Value = String> {
    "[ -~]{0,60}"
}

/// HTTP answers: pieces of status lines, headers, framings and bodies.
fn http_wire() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"HTTP/1.1 200 OK\r\n".to_vec()),
        Just(b"HTTP/1.0 302 Found\r\n".to_vec()),
        Just(b"HTTP/1.1 99 X\r\n".to_vec()),
        Just(b"Content-Length: 5\r\n".to_vec()),
        Just(b"Content-Length: 18446744073709551616\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"Location: https://x/\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"4\r\nabcd\r\n".to_vec()),
        Just(b"ffffffffffffffffff\r\n".to_vec()),
        Just(b"0\r\n\r\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
        "[ -~]{0,40}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(token, 0..24).prop_map(|t| t.concat())
}

/// OpenID metadata documents: well-formed ones with any issuer and token
/// endpoint, and random bytes.
fn metadata_doc() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        Just("72f988bf-86f1-41af-91ab-2d7cd011db47".to_string()),
        Just("{tenantid}".to_string()),
        "[0-9a-fA-F-]{30,40}",
        text(),
    ];
    let host = prop_oneof![Just("login.microsoftonline.com".to_string()), "[a-z.]{1,20}"];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..200),
        (id.clone(), id, host).prop_map(|(issuer, endpoint, host)| {
            serde_json::json!({
                "issuer": format!("https://login.microsoftonline.com/{issuer}/v2.0"),
                "token_endpoint": format!("https://{host}/{endpoint}/oauth2/v2.0/token"),
            })
            .to_string()
            .into_bytes()
        }),
    ]
}

/// Token endpoint bodies: random bytes, or a v2.0-shaped JSON answer whose
/// fields hold any type and any number (absurd `expires_in` included).
fn token_body() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        any::<u64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)),
        text().prop_map(serde_json::Value::from),
        Just(serde_json::Value::Null),
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (value.clone(), value.clone(), value).prop_map(|(token, expires_in, interval)| {
            serde_json::json!({
                "access_token": token.clone(),
                "device_code": token,
                "token_type": "Bearer",
                "expires_in": expires_in,
                "interval": interval,
                "user_code": "ABC",
                "verification_uri": "https://microsoft.com/devicelogin",
            })
            .to_string()
            .into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn lines_are_bounded_and_split_invariant(data in wire(), chunks in chunks()) {
        let whole = fuzzing::lines(&data, &[], LIMITS);
        let split = fuzzing::lines(&data, &chunks, LIMITS);
        prop_assert_eq!(&whole, &split);
        for line in &whole.0 {
            prop_assert!(line.chars().count() < LIMITS.max_line, "{} chars", line.chars().count());
        }
        prop_assert!(matches!(whole.1, Reason::ConnectionClosed | Reason::LineTooLong));
    }

    #[test]
    fn smtp_replies_are_split_invariant(data in wire(), chunks in chunks()) {
        let whole = fuzzing::smtp_reply(&data, &[]);
        prop_assert_eq!(&whole, &fuzzing::smtp_reply(&data, &chunks));
        if let Ok((code, lines)) = whole {
            prop_assert!((200..600).contains(&code));
            prop_assert!(!lines.is_empty() && lines.len() <= LIMITS.max_lines);
        }
    }

    #[test]
    fn smtp_replies_round_trip(code in 200u16..600, lines in proptest::collection::vec(text(), 1..10), chunks in chunks()) {
        let mut wire = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i + 1 == lines.len() { ' ' } else { '-' };
            wire.push_str(&format!("{code}{sep}{line}\r\n"));
        }
        prop_assert_eq!(fuzzing::smtp_reply(wire.as_bytes(), &chunks), Ok((code, lines)));
    }

    #[test]
    fn imap_responses_are_split_invariant(data in wire(), chunks in chunks()) {
        let whole = fuzzing::imap_response(&data, &[]);
        prop_assert_eq!(&whole, &fuzzing::imap_response(&data, &chunks));
        if let Ok((_, _, untagged)) = whole {
            prop_assert!(untagged.len() < LIMITS.max_lines);
        }
    }

    #[test]
    fn mailflow_markers_are_split_invariant(data in wire(), chunks in chunks()) {
        prop_assert_eq!(fuzzing::mailflow_markers(&data, &[]), fuzzing::mailflow_markers(&data, &chunks));
    }

    /// Each message's UID (before or after its literal) and its probe
    /// header's value come back as the server sent them, whatever the split.
    #[test]
    fn mailflow_markers_round_trip(
        messages in proptest::collection::vec((1u64..u64::from(u32::MAX), "[a-z0-9./-]{1,60}", any::<bool>()), 0..6),
        chunks in chunks(),
    ) {
        let mut wire = Vec::new();
        for (seq, (uid, marker, uid_first)) in messages.iter().enumerate() {
            let header = format!("X-ECE-O365-Exporter-Probe: {marker}\r\n\r\n");
            let (before, after) = if *uid_first { (format!("UID {uid} "), String::new()) } else { (String::new(), format!(" UID {uid}")) };
            wire.extend_from_slice(
                format!("* {} FETCH ({before}BODY[HEADER.FIELDS (X-ECE-O365-EXPORTER-PROBE)] {{{}}}\r\n{header}{after})\r\n", seq + 1, header.len()).as_bytes(),
            );
        }
        wire.extend_from_slice(b"E1 OK FETCH completed.\r\n");
        let want: Vec<(u64, String)> = messages.iter().map(|(u, m, _)| (*u, m.clone())).collect();
        prop_assert_eq!(fuzzing::mailflow_markers(&wire, &chunks), Ok(want));
    }

    /// Literals are skipped by length, whatever they hold (a fake completion included).
    #[test]
    fn imap_literals_are_skipped(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..5), chunks in chunks()) {
        let mut wire = Vec::new();
        for p in &payloads {
            wire.extend_from_slice(format!("* 1 FETCH (BODY[] {{{}}}\r\n", p.len()).as_bytes());
            wire.extend_from_slice(p);
            wire.extend_from_slice(b")\r\n");
        }
        wire.extend_from_slice(b"E1 OK FETCH completed.\r\n");
        let got = fuzzing::imap_response(&wire, &chunks);
        prop_assert_eq!(got.as_ref().map(|r| (r.0, r.2.len())), Ok((Status::Ok, payloads.len())));
    }

    #[test]
    fn pop3_replies_are_split_invariant(data in wire(), chunks in chunks()) {
        let whole = fuzzing::pop3_reply(&data, &[]);
        prop_assert_eq!(&whole, &fuzzing::pop3_reply(&data, &chunks));
        if let Ok((_, body)) = whole {
            prop_assert!(body.len() <= LIMITS.max_lines);
        }
    }

    /// Dot-stuffing: every line comes back as it was, leading dots included.
    /// (The status line and the final dot count toward the reply's lines.)
    #[test]
    fn pop3_multiline_round_trips(lines in proptest::collection::vec(text(), 0..LIMITS.max_lines - 1), chunks in chunks()) {
        let mut wire = String::from("+OK\r\n");
        for line in &lines {
            let stuffed = if line.starts_with('.') { format!(".{line}") } else { line.clone() };
            wire.push_str(&stuffed);
            wire.push_str("\r\n");
        }
        wire.push_str(".\r\n");
        prop_assert_eq!(fuzzing::pop3_reply(wire.as_bytes(), &chunks), Ok((Ok(String::new()), lines)));
    }

    /// Any answer gets a verdict, with a bounded detail; only a 2xx JSON
    /// object with the token (or device code) as a string is accepted.
    #[test]
    fn token_answers_get_a_verdict(status in prop_oneof![100u16..600, Just(200)], body in token_body(), device in any::<bool>()) {
        match judge_answer(status, "application/json", &body, device) {
            Err(e) => prop_assert!(Failure::from(e).detail.len() <= MAX_DETAIL_CHARS + 3),
            Ok(()) => {
                prop_assert!((200..300).contains(&status), "accepted with status {}", status);
                let json: serde_json::Value = serde_json::from_slice(&body).expect("accepted a body that is not JSON");
                let field = if device { "device_code" } else { "access_token" };
                prop_assert!(json[field].is_string(), "accepted without a string {}: {}", field, json);
            }
        }
    }

    /// An AADSTS error body is classified by its first code, as `classify` says.
    #[test]
    fn aadsts_errors_follow_the_table(
        status in prop_oneof![Just(400u16), Just(401), Just(429), Just(500), Just(503)],
        code in prop_oneof![Just(70008u32), Just(700082), Just(50173), Just(7000215), Just(7000222), Just(65001), Just(90002), Just(50076), Just(90055), any::<u32>()],
        error in prop_oneof![Just("invalid_grant"), Just("invalid_client"), Just("interaction_required"), Just("server_error"), Just("invalid_request")],
        description in text(),
    ) {
        let body = serde_json::json!({ "error": error, "error_description": description, "error_codes": [code] }).to_string();
        let e = judge_answer(status, "application/json", body.as_bytes(), false).expect_err("an error body");
        prop_assert_eq!(e.reason, classify(status, Some(code), Some(error)).0);
    }

    /// Claims come only from a three-part token whose middle part is
    /// base64url of a JSON object.
    #[test]
    fn jwt_decoding_reads_only_a_json_payload(token in prop_oneof![
        "[A-Za-z0-9_=.-]{0,200}",
        "[A-Za-z0-9_-]{0,20}".prop_map(|s| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(format!("{{\"upn\":\"{s}\"}}")))),
    ]) {
        if jwt::decode(&token).is_some() {
            let parts: Vec<&str> = token.split('.').collect();
            prop_assert_eq!(parts.len(), 3);
            let payload = URL_SAFE_NO_PAD.decode(parts[1].trim_end_matches('=')).expect("payload is base64url");
            let json: serde_json::Value = serde_json::from_slice(&payload).expect("payload is JSON");
            prop_assert!(json.is_object());
        }
    }

    /// The claims we read come back from a token that carries them.
    #[test]
    fn jwt_claims_round_trip(upn in text(), scp in text(), iat in 0i64..4_000_000_000, life in 0i64..100_000) {
        let payload = serde_json::json!({ "upn": upn, "scp": scp, "iat": iat, "exp": iat + life, "aud": "https://outlook.office.com" });
        let token = format!("eyJhbGciOiJub25lIn0.{}.sig", URL_SAFE_NO_PAD.encode(payload.to_string()));
        let claims = jwt::decode(&token).expect("claims");
        prop_assert_eq!(claims.user(), Some(upn.as_str()));
        prop_assert_eq!(claims.scp.as_deref(), Some(scp.as_str()));
        prop_assert_eq!(claims.lifetime(), Some(life));
        prop_assert_eq!(claims.aud, vec!["https://outlook.office.com".to_string()]);
    }

    /// Whatever the numbers of a token answer, the provider keeps a token that
    /// expires at or after now, `expires_in` later and within the bound, or
    /// refuses the answer as `token_bad_response`; the lifetime it exports is
    /// `exp - iat` when that fits (else none), and a token that expires
    /// before it is issued is too short. Never a panic.
    #[test]
    fn token_expiry_is_bounded_or_refused(
        expires_in in expires_in(),
        as_string in any::<bool>(),
        iat in proptest::option::weighted(0.9, jwt_time()),
        exp in proptest::option::weighted(0.9, jwt_time()),
        now_secs in now_secs(),
    ) {
        let now = UNIX_EPOCH.checked_add(Duration::from_secs(now_secs)).expect("a representable now");
        let text = if as_string { format!("\"{expires_in}\"") } else { expires_in.to_string() };
        let body = fuzzing::token_answer_body(&text, iat, exp);
        let representable = now.checked_add(Duration::from_secs(expires_in)).is_some();
        match fuzzing::token_expiry(&body, now) {
            Ok(e) => {
                let lasts = e.expires_at.duration_since(now).expect("the expiry is not before now");
                prop_assert_eq!(lasts, Duration::from_secs(expires_in));
                prop_assert!(lasts <= MAX_EXPIRES_IN);
                prop_assert!(e.expires_at_unix >= now_secs as i64);
                let lifetime = exp.zip(iat).and_then(|(exp, iat)| exp.checked_sub(iat));
                prop_assert_eq!(e.lifetime, lifetime);
                let backwards = exp.zip(iat).is_some_and(|(exp, iat)| exp < iat);
                if backwards || lifetime.is_some_and(|l| l < jwt::MIN_LIFETIME_SECONDS) {
                    prop_assert_eq!(e.lifetime_verdict, Err(Reason::TokenLifetimeTooShort));
                } else {
                    prop_assert_eq!(e.lifetime_verdict, Ok(()));
                }
            }
            Err(reason) => {
                prop_assert_eq!(reason, Reason::TokenBadResponse);
                prop_assert!(expires_in > MAX_EXPIRES_IN.as_secs() || !representable, "refused {expires_in} at {now_secs}");
            }
        }
    }

    /// Any text as a config file: a config or an error naming the file, never a panic.
    #[test]
    fn config_loading_never_panics(yaml in "(checks:|  - name: x|    kind: (smtp|dns|token)|    target: [a-z:0-9.]{0,20}|    timeout: [0-9]{1,3}s|global:|  interval: [0-9a-z]{0,4}|[ -~]{0,30}|\n){0,30}") {
        let path = std::path::Path::new("/nonexistent/fuzz.yaml");
        if let Err(e) = Config::from_yaml(path, &yaml) {
            prop_assert!(e.to_string().contains("fuzz.yaml"), "{e}");
        }
    }

    #[test]
    fn http_answers_are_bounded_and_split_invariant(data in http_wire(), chunks in chunks()) {
        let whole = fuzzing::http_response(&data, &[]);
        prop_assert_eq!(&whole, &fuzzing::http_response(&data, &chunks));
        if let Ok((status, body)) = &whole {
            prop_assert!((100..600).contains(status));
            prop_assert!(body.len() <= HTTP_LIMITS.max_body);
        }
    }

    #[test]
    fn http_bodies_round_trip(body in proptest::collection::vec(any::<u8>(), 0..2000), chunked in any::<bool>(), chunks in chunks()) {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        if chunked {
            wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for piece in body.chunks(300) {
                wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
        } else {
            wire.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            wire.extend_from_slice(&body);
        }
        let kept = body.get(..HTTP_LIMITS.max_body).unwrap_or(&body).to_vec();
        prop_assert_eq!(fuzzing::http_response(&wire, &chunks), Ok((200, kept)));
    }

    #[test]
    fn tenant_metadata_names_a_directory_only_when_it_has_one(doc in metadata_doc()) {
        match fuzzing::tenant_metadata(&doc, "contoso.onmicrosoft.com") {
            Ok(id) => {
                prop_assert_eq!(id.len(), 36);
                prop_assert_eq!(fuzzing::tenant_metadata(&doc, &id), Ok(id.clone()));
                prop_assert_eq!(
                    fuzzing::tenant_metadata(&doc, "00000000-0000-0000-0000-000000000000").err(),
                    (id != "00000000-0000-0000-0000-000000000000").then_some(Reason::TokenUnknownTenant)
                );
            }
            Err(reason) => prop_assert!(matches!(reason, Reason::HttpBadResponse | Reason::TokenUnknownTenant)),
        }
    }
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

proptest! {
    #![proptest_config(config())]

    /// The two mail date formats agree on every valid date, a day later is
    /// 86,400 s later, and the zone shifts the instant by its offset.
    #[test]
    fn mail_dates_agree_and_follow_the_calendar(
        year in 1971i64..9999,
        month in 0usize..12,
        day in 1i64..28,
        (h, m, s) in (0i64..24, 0i64..60, 0i64..60),
        offset in -1439i64..1440,
    ) {
        use ece_o365_exporter::proto::mail_dates::{parse_internaldate, parse_rfc5322};
        let zone = |o: i64| format!("{}{:02}{:02}", if o < 0 { '-' } else { '+' }, o.abs() / 60, o.abs() % 60);
        let imap = |d: i64, o: i64| parse_internaldate(&format!("{d:02}-{}-{year} {h:02}:{m:02}:{s:02} {}", MONTHS[month], zone(o)));
        let mail = |d: i64, o: i64| parse_rfc5322(&format!("{d} {} {year} {h:02}:{m:02}:{s:02} {}", MONTHS[month], zone(o)));
        let t = imap(day, offset).unwrap();
        prop_assert_eq!(mail(day, offset), Some(t));
        prop_assert_eq!(imap(day + 1, offset), Some(t + 86_400));
        prop_assert_eq!(imap(day, 0), Some(t + offset * 60));
    }

    /// The date a mail flow check writes in its test message is one the
    /// agent's own RFC 5322 parser reads back to the same instant.
    #[test]
    fn the_test_message_date_reads_back(t in 0i64..253_402_300_799) {
        use ece_o365_exporter::checks::mailflow::rfc5322_date;
        use ece_o365_exporter::proto::mail_dates::parse_rfc5322;
        let text = rfc5322_date(t);
        prop_assert_eq!(parse_rfc5322(&text), Some(t), "{}", text);
    }

    /// Whatever a server sends as a date or a header: no panic, and a date
    /// only within the years the parsers accept.
    #[test]
    fn mail_dates_never_panic(text in "[ -~]{0,80}", lines in proptest::collection::vec(text(), 0..20)) {
        use ece_o365_exporter::proto::mail_dates::{first_received_date, parse_internaldate, parse_rfc5322, fetch_internaldate};
        let max = 253_402_300_800i64; // 10000-01-01
        for t in [parse_internaldate(&text), parse_rfc5322(&text), fetch_internaldate(&text).flatten(), first_received_date(&lines).flatten()]
            .into_iter()
            .flatten()
        {
            prop_assert!((0..max + 86_400).contains(&t), "{t}");
        }
    }

    /// Exchange's replies: never a panic, successes are no failure, and a
    /// temporary reply is never a permanent verdict.
    #[test]
    fn smtp_replies_are_named_totally(code in 0u16..1000, text in "[ -~]{0,200}", step in 0usize..4) {
        use ece_o365_exporter::proto::smtp_replies::{Enhanced, SmtpStep, classify};
        let step = [SmtpStep::Auth, SmtpStep::MailFrom, SmtpStep::RcptTo, SmtpStep::Data][step];
        let verdict = classify(step, code, Enhanced::parse(&text), &text);
        prop_assert_eq!(verdict.is_none(), !(400..600).contains(&code));
        if let Some((reason, _)) = verdict
            && (400..500).contains(&code)
            && step != SmtpStep::Auth
        {
            prop_assert!(matches!(
                reason,
                Reason::SubmissionDeferred | Reason::SendingLimitReached | Reason::SendAsDenied | Reason::SenderBlocked | Reason::AuthRejected
            ), "{reason}");
            prop_assert_ne!(reason, Reason::RecipientRejected);
        }
    }
}
