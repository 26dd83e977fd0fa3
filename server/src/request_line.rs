//! Request targets as Go's HTTP server takes them: `curl 'host:9090/api/v1/query?query=up{job="a"}'`
//! sends the `"` unencoded, Prometheus answers it, and hyper refuses the request line (with an
//! empty 400) because `"`, `<` and `>` may not appear in a URI. A connection's bytes pass
//! through [`LenientRequestLines`] on their way to hyper, which percent-encodes those three
//! bytes in each request target; the handlers decode them back, so they see what Go's
//! handlers see.
//!
//! To find each request line on a keep-alive connection it follows HTTP/1.1's framing:
//! headers up to the empty line, then a body of `Content-Length` bytes. A body of another
//! framing (`Transfer-Encoding`), or a line longer than [`MAX_LINE`], ends the rewriting for
//! the rest of the connection: bytes pass unchanged, as without this layer.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The longest header line followed; hyper refuses much less than this in all.
const MAX_LINE: usize = 16 * 1024;

/// Where in the byte stream the next byte falls.
#[derive(Debug, PartialEq)]
enum Position {
    /// A request line; `in_target` once past the method and its space, `started` once a
    /// byte other than the empty lines a request may be preceded by was seen.
    RequestLine { started: bool, in_target: bool },
    /// The header block; `line` is the header line so far.
    Headers {
        line: Vec<u8>,
        content_length: u64,
        other_framing: bool,
    },
    /// `left` bytes of a body.
    Body { left: u64 },
    /// Not followed any further.
    Unknown,
}

/// An I/O stream whose request targets have `"`, `<` and `>` percent-encoded.
pub struct LenientRequestLines<S> {
    inner: S,
    position: Position,
    /// Rewritten bytes not yet handed out.
    pending: Vec<u8>,
    pending_from: usize,
}

impl<S> LenientRequestLines<S> {
    pub fn new(inner: S) -> Self {
        LenientRequestLines {
            inner,
            position: Position::RequestLine {
                started: false,
                in_target: false,
            },
            pending: Vec::new(),
            pending_from: 0,
        }
    }

    /// Follows `bytes` up to the first one to percent-encode, whose index it returns (the
    /// position is then that byte's); `None` when there is none.
    fn follow(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < bytes.len() {
            match &mut self.position {
                Position::Unknown => return None,
                Position::Body { left } => {
                    let n = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len() - i);
                    *left -= n as u64;
                    i += n;
                    if *left == 0 {
                        self.position = request_line_start();
                    }
                }
                Position::RequestLine { started, in_target } => {
                    let byte = bytes[i];
                    match byte {
                        b'\r' | b'\n' if !*started => {}
                        b'\n' => {
                            self.position = Position::Headers {
                                line: Vec::new(),
                                content_length: 0,
                                other_framing: false,
                            }
                        }
                        b' ' if !*in_target => *in_target = true,
                        b'"' | b'<' | b'>' if *in_target => return Some(i),
                        _ => *started = true,
                    }
                    i += 1;
                }
                Position::Headers {
                    line,
                    content_length,
                    other_framing,
                } => {
                    let rest = &bytes[i..];
                    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                        // A line that continues in the next read.
                        line.extend_from_slice(rest);
                        if line.len() > MAX_LINE {
                            self.position = Position::Unknown;
                        }
                        return None;
                    };
                    i += end + 1;
                    let whole: &[u8] = if line.is_empty() {
                        &rest[..end]
                    } else {
                        line.extend_from_slice(&rest[..end]);
                        line
                    };
                    let text = whole.strip_suffix(b"\r").unwrap_or(whole);
                    if text.is_empty() {
                        self.position = if *other_framing {
                            Position::Unknown
                        } else if *content_length > 0 {
                            Position::Body {
                                left: *content_length,
                            }
                        } else {
                            request_line_start()
                        };
                        continue;
                    }
                    match header(text) {
                        Header::ContentLength(Some(n)) => *content_length = n,
                        Header::ContentLength(None) | Header::OtherFraming => *other_framing = true,
                        Header::Other => {}
                    }
                    line.clear();
                }
            }
        }
        None
    }

    /// `bytes`, from a byte to percent-encode on, rewritten.
    fn rewrite(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 16);
        let mut from = 0;
        while from < bytes.len() {
            match self.follow(&bytes[from..]) {
                Some(at) => {
                    out.extend_from_slice(&bytes[from..from + at]);
                    let escaped: &[u8] = match bytes[from + at] {
                        b'"' => b"%22",
                        b'<' => b"%3C",
                        _ => b"%3E",
                    };
                    out.extend_from_slice(escaped);
                    from += at + 1;
                }
                None => {
                    out.extend_from_slice(&bytes[from..]);
                    break;
                }
            }
        }
        out
    }
}

fn request_line_start() -> Position {
    Position::RequestLine {
        started: false,
        in_target: false,
    }
}

enum Header {
    /// `Content-Length`, `None` when it is no number.
    ContentLength(Option<u64>),
    /// `Transfer-Encoding`: a body this layer does not follow.
    OtherFraming,
    Other,
}

fn header(line: &[u8]) -> Header {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Header::Other;
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.eq_ignore_ascii_case(b"content-length") {
        let value = value.trim_ascii();
        let number = std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok());
        Header::ContentLength(number)
    } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
        Header::OtherFraming
    } else {
        Header::Other
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for LenientRequestLines<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.pending_from < this.pending.len() {
            let pending = &this.pending[this.pending_from..];
            let n = pending.len().min(buf.remaining());
            buf.put_slice(&pending[..n]);
            this.pending_from += n;
            if this.pending_from == this.pending.len() {
                this.pending.clear();
                this.pending_from = 0;
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        let Some(at) = this.follow(&buf.filled()[before..]) else {
            return Poll::Ready(Ok(()));
        };
        // Most reads end here. Otherwise the bytes from the first one to encode on are
        // rewritten, and what no longer fits waits for the next read.
        let rest = buf.filled()[before + at..].to_vec();
        buf.set_filled(before + at);
        let rewritten = this.rewrite(&rest);
        let n = rewritten.len().min(buf.remaining());
        buf.put_slice(&rewritten[..n]);
        this.pending = rewritten[n..].to_vec();
        this.pending_from = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LenientRequestLines<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Hands out `data` in pieces of the given sizes, in turn.
    struct Pieces {
        data: Vec<u8>,
        sizes: Vec<usize>,
        at: usize,
        turn: usize,
    }

    impl AsyncRead for Pieces {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let size = this.sizes[this.turn % this.sizes.len()];
            this.turn += 1;
            let n = size.min(buf.remaining()).min(this.data.len() - this.at);
            buf.put_slice(&this.data[this.at..this.at + n]);
            this.at += n;
            Poll::Ready(Ok(()))
        }
    }

    /// What hyper reads of `data` arriving in pieces of `sizes`, into buffers of `capacity`.
    async fn through(data: &[u8], sizes: &[usize], capacity: usize) -> Vec<u8> {
        let mut stream = LenientRequestLines::new(Pieces {
            data: data.to_vec(),
            sizes: sizes.to_vec(),
            at: 0,
            turn: 0,
        });
        let mut out = Vec::new();
        let mut buf = vec![0u8; capacity];
        loop {
            let n = stream.read(&mut buf).await.expect("read");
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    const REQUESTS: &[u8] = b"\r\nGET /api/v1/query?query=up{job=\"a\"}+>+1 HTTP/1.1\r\n\
        Host: x\r\nX-Note: \"<kept>\"\r\n\r\n\
        POST /api/v1/query?x=\"1\" HTTP/1.1\r\ncontent-length:  13 \r\n\r\n\
        query=\"a\"<b>\n\
        GET /\"< HTTP/1.1\r\n\r\n";
    const REWRITTEN: &[u8] = b"\r\nGET /api/v1/query?query=up{job=%22a%22}+%3E+1 HTTP/1.1\r\n\
        Host: x\r\nX-Note: \"<kept>\"\r\n\r\n\
        POST /api/v1/query?x=%221%22 HTTP/1.1\r\ncontent-length:  13 \r\n\r\n\
        query=\"a\"<b>\n\
        GET /%22%3C HTTP/1.1\r\n\r\n";

    #[tokio::test]
    async fn targets_are_encoded_and_headers_and_bodies_kept_however_the_bytes_arrive() {
        for sizes in [&[4096][..], &[1], &[3, 7, 2], &[64, 1, 5]] {
            for capacity in [1, 2, 5, 4096] {
                assert_eq!(
                    through(REQUESTS, sizes, capacity).await,
                    REWRITTEN,
                    "pieces {sizes:?}, buffer {capacity}"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_chunked_body_ends_the_rewriting() {
        let data: &[u8] = b"POST /a\"b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\n\"<>\r\n0\r\n\r\nGET /c\"d HTTP/1.1\r\n\r\n";
        let expected: &[u8] = b"POST /a%22b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
            3\r\n\"<>\r\n0\r\n\r\nGET /c\"d HTTP/1.1\r\n\r\n";
        assert_eq!(through(data, &[5], 4096).await, expected);
    }
}
