//! Channels for the product's own gRPC clients (services calling each other, staffctl, the
//! test suite, the benchmarks).
//!
//! When a server drains (a rolling restart: SIGTERM, HTTP/2 GOAWAY), two kinds of request fail
//! although the server never processed them, and tonic reports neither as retriable:
//! - a request the client had queued on that connection, which hyper hands back unsent
//!   (`hyper::Error(Canceled, "connection closed")`): tonic says CANCELLED, as if the caller had
//!   given up;
//! - a stream the server refused by its final GOAWAY (an id above the GOAWAY's last stream id,
//!   or one opened after the GOAWAY arrived): h2 fails it with the GOAWAY's NO_ERROR reason and
//!   tonic says INTERNAL ("h2 protocol error"). RFC 9113 §6.8: such streams "have not been
//!   processed" and may be retried.
//!
//! A third kind fails when the server dies (SIGKILL, a crashed node, a cut connection) with the
//! request sent: hyper reports a broken pipe, a reset or an incomplete message, and tonic says
//! UNKNOWN. Whether it was processed is not known; gRPC's own implementations answer
//! UNAVAILABLE here too, and the product's creating RPCs take a request id, so a retry with
//! the same id is safe.
//!
//! [`UnsentIsUnavailable`] reports all three as UNAVAILABLE, the code gRPC reserves for
//! "transient, retry", each with a message saying which, and leaves every other error as it
//! was.

use std::error::Error as StdError;
use std::task::{Context, Poll};

use futures::TryFutureExt;
use futures::future::MapErr;
use tonic::transport::{Channel, Endpoint};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A [`Channel`] whose unsent requests answer UNAVAILABLE; see the module documentation.
#[derive(Debug, Clone)]
pub struct UnsentIsUnavailable<S = Channel> {
    inner: S,
}

impl<S> UnsentIsUnavailable<S> {
    /// Wraps `inner`, usually a tonic [`Channel`].
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

/// A lazily connecting channel to `endpoint`.
pub fn lazy(endpoint: Endpoint) -> UnsentIsUnavailable {
    UnsentIsUnavailable::new(endpoint.connect_lazy())
}

/// A channel that spreads calls over `endpoints` (several replicas of one service).
pub fn balanced(endpoints: impl IntoIterator<Item = Endpoint>) -> UnsentIsUnavailable {
    UnsentIsUnavailable::new(Channel::balance_list(endpoints.into_iter()))
}

impl<S, B> tower::Service<http::Request<B>> for UnsentIsUnavailable<S>
where
    S: tower::Service<http::Request<B>, Error = tonic::transport::Error>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = MapErr<S::Future, fn(tonic::transport::Error) -> BoxError>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(classify)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.inner
            .call(request)
            .map_err(classify as fn(tonic::transport::Error) -> BoxError)
    }
}

/// tonic turns a boxed [`tonic::Status`] into exactly that status; anything else it maps as
/// before.
fn classify(error: tonic::transport::Error) -> BoxError {
    if never_sent(&error) {
        Box::new(tonic::Status::unavailable(format!(
            "the server is draining; the request was not processed, retry: {error}"
        )))
    } else if connection_lost(&error) {
        Box::new(tonic::Status::unavailable(format!(
            "the connection to the server was lost; the request may or may not have been \
             processed, retry with the same request id: {error}"
        )))
    } else {
        Box::new(error)
    }
}

/// The connection broke under a request already sent: a broken pipe, a reset, or the
/// response cut short.
fn connection_lost(error: &(dyn StdError + 'static)) -> bool {
    use std::io::ErrorKind;
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(hyper) = error.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_closed())
        {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                ErrorKind::BrokenPipe
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// hyper hands a queued request back with a `Canceled` error when its connection closes before
/// the request was written; h2 fails a stream the server refused with the GOAWAY it received.
fn never_sent(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return refused_by_graceful_go_away(h2);
        }
        current = error.source();
    }
    false
}

fn refused_by_graceful_go_away(error: &h2::Error) -> bool {
    error.is_go_away() && error.is_remote() && error.reason() == Some(h2::Reason::NO_ERROR)
}
