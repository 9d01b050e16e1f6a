//! EventBridge events over HTTP: the body an API destination POSTs (one event, as the rule's
//! target input), read by [`ListenSource`].
//!
//! Each request is answered only once its event is settled: `200` when its record is durable
//! in the ledger (with its alerts recorded and delivered or dead-lettered), `400` when the
//! pipeline rejected it (not JSON, not a CloudTrail record, over the ledger's limits: EventBridge
//! does not retry a 4xx and sends the event to the target's dead-letter queue), `413` for a body
//! over 256 KiB (EventBridge's event limit), `503` when the processor stopped before storing it
//! (EventBridge retries a 5xx). Requests waiting together are taken as one batch.
//!
//! Plain HTTP/1.1 on a thread per connection (at most [`MAX_CONNECTIONS`] at once), without
//! TLS: put it behind a TLS-terminating proxy for an API destination on AWS, which requires
//! HTTPS.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::ProcessorError;
use crate::source::{RawEvent, Source, SourceBatch, lock};

/// EventBridge's limit on one event.
pub const MAX_BODY: usize = 256 * 1024;
/// Connections served at once; more are answered 503 at once.
pub const MAX_CONNECTIONS: usize = 256;
/// Events in one batch at most.
const MAX_BATCH: usize = 500;
const MAX_HEAD: u64 = 16 * 1024;
/// A body over [`MAX_BODY`] is read and dropped up to this much before the 413.
const DRAIN: u64 = 4 << 20;

/// How a request ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Stored,
    Rejected,
}

/// A request waiting for its answer.
#[derive(Debug)]
pub struct Pending(SyncSender<Settled>);

struct Posted {
    at: String,
    body: Vec<u8>,
    reply: SyncSender<Settled>,
}

/// Events POSTed to an address, as a [`Source`].
#[derive(Debug)]
pub struct ListenSource {
    /// Only the reading thread takes from it; behind a lock for `Sync`.
    incoming: Mutex<Receiver<PostedBox>>,
    stop: Arc<AtomicBool>,
    received: AtomicU64,
}

/// `Posted` behind a Debug impl for the channel.
struct PostedBox(Posted);

impl std::fmt::Debug for PostedBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.at)
    }
}

impl ListenSource {
    /// Listens on `addr` (port 0 picks one); returns the source and the bound address. The
    /// source ends (`next_batch` gives `None`) once `stop` is set.
    pub fn bind(
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
    ) -> Result<(Self, SocketAddr), ProcessorError> {
        let listener = TcpListener::bind(addr)
            .map_err(|e| ProcessorError::Config(format!("cannot listen on {addr}: {e}")))?;
        let bound = listener
            .local_addr()
            .map_err(|e| ProcessorError::Config(format!("listener on {addr}: {e}")))?;
        let (tx, rx) = sync_channel::<PostedBox>(MAX_BATCH);
        let open = Arc::new(AtomicUsize::new(0));
        std::thread::Builder::new()
            .name("listen".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    if open.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                        open.fetch_sub(1, Ordering::SeqCst);
                        let _ = answer(&stream, 503, "too many requests at once; retry");
                        continue;
                    }
                    let tx = tx.clone();
                    let open = Arc::clone(&open);
                    let spawned = std::thread::Builder::new()
                        .name("listen-conn".into())
                        .spawn(move || {
                            let _ = serve_one(stream, &tx);
                            open.fetch_sub(1, Ordering::SeqCst);
                        });
                    if spawned.is_err() {
                        // The closure (and its counter decrement) is gone with the error.
                        continue;
                    }
                }
            })
            .map_err(|e| ProcessorError::Config(format!("cannot start the listener: {e}")))?;
        Ok((
            Self {
                incoming: Mutex::new(rx),
                stop,
                received: AtomicU64::new(0),
            },
            bound,
        ))
    }
}

/// Reads one request and waits for its event to settle.
fn serve_one(stream: TcpStream, tx: &SyncSender<PostedBox>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let peer = stream
        .peer_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    let mut reader = BufReader::new(&stream);
    let mut head = (&mut reader).take(MAX_HEAD);
    let mut request = String::new();
    head.read_line(&mut request)?;
    let mut length = None;
    let mut chunked = false;
    loop {
        let mut line = String::new();
        if head.read_line(&mut line)? == 0 {
            return answer(&stream, 400, "the request's header does not end");
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse::<usize>().ok();
            } else if name == "transfer-encoding" && !value.trim().eq_ignore_ascii_case("identity")
            {
                chunked = true;
            }
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "POST" {
        return answer(&stream, 405, "POST one EventBridge event as JSON");
    }
    let Some(length) = length.filter(|_| !chunked) else {
        return answer(&stream, 411, "a Content-Length is required");
    };
    if length > MAX_BODY {
        // Read what was sent (up to a limit) so that the sender sees the answer, not a reset.
        let _ = std::io::copy(
            &mut (&mut reader).take(DRAIN.min(length as u64)),
            &mut std::io::sink(),
        );
        return answer(
            &stream,
            413,
            "the body is over 256 KiB, EventBridge's limit on an event",
        );
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let (reply, settled) = sync_channel(1);
    let posted = Posted {
        at: format!("POST {path} from {peer}"),
        body,
        reply,
    };
    if tx.send(PostedBox(posted)).is_err() {
        return answer(&stream, 503, "the processor has stopped");
    }
    match settled.recv() {
        Ok(Settled::Stored) => answer(&stream, 200, "stored"),
        Ok(Settled::Rejected) => answer(
            &stream,
            400,
            "rejected: not a CloudTrail record or an EventBridge event carrying one, or over the ledger's limits",
        ),
        Err(_) => answer(
            &stream,
            503,
            "the processor stopped before storing it; retry",
        ),
    }
}

fn answer(mut stream: &TcpStream, status: u16, message: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        411 => "Length Required",
        413 => "Content Too Large",
        _ => "Service Unavailable",
    };
    let body = serde_json::json!({"message": message}).to_string();
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}

impl Source for ListenSource {
    type Token = Vec<Pending>;

    fn next_batch(&self) -> Result<Option<SourceBatch<Self::Token>>, ProcessorError> {
        let incoming = lock(&self.incoming);
        let first = loop {
            if self.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match incoming.recv_timeout(Duration::from_millis(200)) {
                Ok(p) => break p,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        };
        let mut posted = vec![first];
        while posted.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(p) => posted.push(p),
                Err(_) => break,
            }
        }
        let (events, token): (Vec<_>, Vec<_>) = posted
            .into_iter()
            .map(|PostedBox(p)| {
                let value =
                    serde_json::from_slice(&p.body).map_err(|e| format!("not valid JSON: {e}"));
                (RawEvent { at: p.at, value }, Pending(p.reply))
            })
            .unzip();
        let received = self
            .received
            .fetch_add(token.len() as u64, Ordering::Relaxed);
        Ok(Some(SourceBatch::new(
            format!("HTTP requests after {received}"),
            events,
            token,
        )))
    }

    fn acknowledge(&self, batch: &SourceBatch<Self::Token>) -> Result<(), ProcessorError> {
        for (i, Pending(reply)) in batch.token.iter().enumerate() {
            let settled = if batch.rejected.contains(&i) {
                Settled::Rejected
            } else {
                Settled::Stored
            };
            // The sender may have hung up; its event is stored all the same.
            let _ = reply.try_send(settled);
        }
        Ok(())
    }
}
