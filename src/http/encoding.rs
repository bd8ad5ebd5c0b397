//! The content coding of `/metrics`: which one a scraper accepts
//! (`Accept-Encoding`, RFC 9110 12.5.3) and the body compressed with gzip
//! chunk by chunk as it is sent. It owns nothing else of HTTP: it must not
//! know routes, authentication or the metrics' names, and it must not hold
//! more of the body than one chunk and the compressor's fixed-size state.

use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::header::{ACCEPT_ENCODING, HeaderMap};

/// The compression level of `/metrics`: 1, the cheapest. The exposition is
/// so repetitive (the same label sets on every family's lines) that level 1
/// already shrinks it 22 to 23 times; at 10,000 checks level 3 costs 2.5
/// times its CPU for 18% fewer bytes, level 6 (zlib's default) 3.8 times
/// for 23% fewer (`cargo bench --bench render`; docs/scaling.md has the figures).
pub const GZIP_LEVEL: u32 = 1;

/// A content coding the agent can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
}

/// The coding to answer a request with: gzip when the client accepts it
/// (`gzip` or `x-gzip` with a weight above 0, or `*` when gzip is not named)
/// at least as much as it weights `identity` by name or through `*`;
/// identity otherwise, also when the header is absent or malformed, and
/// when the client refuses both (a scraper that cannot read the plain text
/// format cannot read an error page either).
pub fn negotiate(headers: &HeaderMap) -> Coding {
    let mut gzip = None;
    let mut identity = None;
    let mut any = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        // Not visible ASCII: nothing in it can be trusted to be a coding.
        let Ok(value) = value.to_str() else { continue };
        for (coding, weight) in codings(value) {
            let slot = if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if coding.eq_ignore_ascii_case("identity") {
                &mut identity
            } else if coding == "*" {
                &mut any
            } else {
                continue;
            };
            // Named twice: the highest weight counts.
            *slot = Some(slot.map_or(weight, |w: u16| w.max(weight)));
        }
    }
    let gzip = gzip.or(any).unwrap_or(0);
    let identity = identity.or(any).unwrap_or(0);
    if gzip > 0 && gzip >= identity {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// The codings of one `Accept-Encoding` value with their weights in
/// thousandths (`q=1` is 1000, no `q` is 1000); an element whose weight is
/// malformed is left out.
fn codings(value: &str) -> impl Iterator<Item = (&str, u16)> {
    value.split(',').filter_map(|element| {
        let mut parts = element.split(';');
        let coding = parts.next()?.trim();
        if coding.is_empty() {
            return None;
        }
        let mut weight = 1000;
        for param in parts {
            let (name, v) = param.split_once('=')?;
            if name.trim().eq_ignore_ascii_case("q") {
                weight = qvalue(v.trim())?;
            }
        }
        Some((coding, weight))
    })
}

/// A weight (`0`, `0.5`, `1.000`, at most three decimals, RFC 9110 12.4.2) in thousandths.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |n, b| n * 10 + u16::from(b - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Chunks of text, as `/metrics` writes them.
pub type Chunks = Box<dyn Iterator<Item = String> + Send>;

/// The `/metrics` body: each chunk written when hyper asks for it, so a
/// large exposition is never whole in memory and a slow scraper costs no
/// more than one chunk.
pub struct Plain(pub Chunks);

impl http_body::Body for Plain {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().0.next().map(|chunk| Ok(http_body::Frame::data(Bytes::from(chunk)))))
    }
}

/// The `/metrics` body compressed with gzip as it is sent: when hyper asks
/// for more, the next chunk is written, compressed and flushed, and its
/// bytes are sent. What it holds between two frames is that chunk's
/// compressed bytes and the compressor's state (a window and tables of
/// fixed size), never the body: a slow scraper costs what it does without
/// gzip, plus that state.
pub struct Gzip {
    chunks: Chunks,
    /// `None` once the gzip trailer is out.
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl Gzip {
    pub fn new(chunks: Chunks) -> Self {
        Gzip {
            chunks,
            encoder: Some(GzEncoder::new(Vec::new(), Compression::new(GZIP_LEVEL))),
        }
    }

    /// The next compressed bytes, or `None` at the end of the body. Each
    /// chunk is flushed (a sync flush: the deflate block ends, on a byte
    /// boundary), so each frame is one chunk compressed: the scraper gets
    /// the body as it is written, and one poll does one chunk's work.
    fn next_bytes(&mut self) -> Option<Bytes> {
        let encoder = self.encoder.as_mut()?;
        for chunk in self.chunks.by_ref() {
            // Into a Vec: writing cannot fail.
            if encoder.write_all(chunk.as_bytes()).and_then(|()| encoder.flush()).is_err() {
                break;
            }
            let out = std::mem::take(encoder.get_mut());
            if !out.is_empty() {
                return Some(Bytes::from(out));
            }
        }
        // The end: what the compressor still holds, and the trailer.
        let mut encoder = self.encoder.take()?;
        let _ = encoder.try_finish();
        let out = std::mem::take(encoder.get_mut());
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

impl http_body::Body for Gzip {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().next_bytes().map(|bytes| Ok(http_body::Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use hyper::header::HeaderValue;

    use super::*;

    fn coding(values: &[&str]) -> Coding {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        }
        negotiate(&headers)
    }

    #[test]
    fn what_scrapers_send() {
        // Prometheus (every version), curl --compressed, browsers.
        assert_eq!(coding(&["gzip"]), Coding::Gzip);
        assert_eq!(coding(&["deflate, gzip"]), Coding::Gzip);
        assert_eq!(coding(&["gzip, deflate, br, zstd"]), Coding::Gzip);
        assert_eq!(coding(&[]), Coding::Identity);
        assert_eq!(coding(&[""]), Coding::Identity);
        assert_eq!(coding(&["identity"]), Coding::Identity);
        assert_eq!(coding(&["br, zstd"]), Coding::Identity);
    }

    #[test]
    fn codings_and_parameter_names_are_case_insensitive() {
        assert_eq!(coding(&["GZIP"]), Coding::Gzip);
        assert_eq!(coding(&["x-gzip"]), Coding::Gzip);
        assert_eq!(coding(&["X-Gzip;Q=0.5"]), Coding::Gzip);
        assert_eq!(coding(&["gzip;Q=0"]), Coding::Identity);
        assert_eq!(coding(&["gzip ; q = 0 "]), Coding::Identity);
    }

    #[test]
    fn weights_decide() {
        assert_eq!(coding(&["gzip;q=0"]), Coding::Identity);
        assert_eq!(coding(&["gzip;q=0.000"]), Coding::Identity);
        assert_eq!(coding(&["gzip;q=0.001"]), Coding::Gzip);
        assert_eq!(coding(&["gzip;q=1.0, identity;q=0.5"]), Coding::Gzip);
        assert_eq!(coding(&["gzip;q=0.5, identity;q=1"]), Coding::Identity);
        assert_eq!(
            coding(&["gzip;q=0.5, identity;q=0.5"]),
            Coding::Gzip,
            "a tie goes to the smaller body"
        );
        // identity not named does not compete.
        assert_eq!(coding(&["gzip;q=0.2"]), Coding::Gzip);
        // Named twice: the higher weight.
        assert_eq!(coding(&["gzip;q=0", "gzip;q=0.8"]), Coding::Gzip);
        // Over several header lines.
        assert_eq!(coding(&["identity;q=0.1", "gzip"]), Coding::Gzip);
        // Other parameters are ignored.
        assert_eq!(coding(&["gzip;level=9;q=0.7"]), Coding::Gzip);
    }

    #[test]
    fn the_wildcard_stands_for_what_is_not_named() {
        assert_eq!(coding(&["*"]), Coding::Gzip);
        assert_eq!(coding(&["*;q=0"]), Coding::Identity);
        assert_eq!(coding(&["gzip;q=0, *"]), Coding::Identity, "named beats *");
        assert_eq!(coding(&["*, identity;q=0.5"]), Coding::Gzip);
        assert_eq!(coding(&["*;q=0.5, identity"]), Coding::Identity);
        // Refusing everything still gets the plain text.
        assert_eq!(coding(&["identity;q=0, *;q=0"]), Coding::Identity);
    }

    #[test]
    fn malformed_weights_and_elements_are_left_out() {
        for bad in [
            "gzip;q=2",
            "gzip;q=1.5",
            "gzip;q=-1",
            "gzip;q=0.0001",
            "gzip;q=",
            "gzip;q=abc",
            "gzip;q",
            "gzip;q=.5",
            "gzip;q=0.5x",
        ] {
            assert_eq!(coding(&[bad]), Coding::Identity, "{bad}");
        }
        assert_eq!(coding(&[",,, gzip ,"]), Coding::Gzip);
        assert_eq!(coding(&["gzip;q=2, *;q=0.3"]), Coding::Gzip, "the wildcard still counts");
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("1.001"), None);
        assert_eq!(qvalue("0.25"), Some(250));
        assert_eq!(qvalue("1"), Some(1000));
        // Not visible ASCII: the value is skipped.
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_bytes(b"gzip\xff").unwrap());
        assert_eq!(negotiate(&headers), Coding::Identity);
    }

    fn frames(body: &mut impl FnMut() -> Option<Bytes>) -> Vec<Bytes> {
        std::iter::from_fn(body).collect()
    }

    #[test]
    fn the_gzip_body_is_the_chunks_compressed_in_frames_none_empty() {
        let line =
            |i: usize| format!("ece_o365_check_success{{check=\"tls-{i:05}\",kind=\"tls\",target=\"outlook.office365.com:443\"}} 1\n");
        let chunks: Vec<String> = (0..40).map(|c| (0..1000).map(|i| line(c * 1000 + i)).collect()).collect();
        let plain = chunks.concat();
        let mut gzip = Gzip::new(Box::new(chunks.into_iter()));
        let out = frames(&mut || gzip.next_bytes());
        assert!(out.len() > 1, "the body comes in several frames: {}", out.len());
        assert!(out.iter().all(|f| !f.is_empty()), "an empty frame");
        // No frame holds much more than a chunk's worth.
        assert!(
            out.iter().all(|f| f.len() < 256 * 1024),
            "{:?}",
            out.iter().map(Bytes::len).collect::<Vec<_>>()
        );
        let compressed: Vec<u8> = out.concat();
        assert!(compressed.len() * 5 < plain.len(), "{} of {}", compressed.len(), plain.len());
        let mut text = String::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, plain);
        assert_eq!(gzip.next_bytes(), None, "nothing after the end");
    }

    /// Each frame is one chunk, compressed: the body is never gathered.
    #[test]
    fn each_frame_is_one_chunk() {
        let pulled = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = pulled.clone();
        let chunks = (0..10).map(move |c| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            format!("line {c}\n").repeat(8000)
        });
        let mut gzip = Gzip::new(Box::new(chunks));
        for frame in 1..=10 {
            assert!(gzip.next_bytes().is_some_and(|b| !b.is_empty()), "frame {frame}");
            assert_eq!(pulled.load(std::sync::atomic::Ordering::SeqCst), frame);
        }
        // The trailer, then the end.
        assert!(gzip.next_bytes().is_some());
        assert_eq!(gzip.next_bytes(), None);
    }

    #[test]
    fn an_empty_body_is_a_valid_empty_gzip_stream() {
        let mut gzip = Gzip::new(Box::new(std::iter::empty()));
        let compressed: Vec<u8> = frames(&mut || gzip.next_bytes()).concat();
        let mut text = String::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "");
    }
}
