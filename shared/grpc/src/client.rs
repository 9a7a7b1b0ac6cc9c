//! Channels for the product's own gRPC clients (services calling each other, staffctl, the
//! test suite, the benchmarks).
//!
//! When a server drains (a rolling restart: SIGTERM, HTTP/2 GOAWAY), a request that the client
//! had already queued on that connection is handed back by hyper unsent
//! (`hyper::Error(Canceled, "connection closed")`), and tonic reports it as CANCELLED —
//! indistinguishable from a caller's own cancellation, so nobody retries it. It never reached
//! the server, so it is safe to send again: [`UnsentIsUnavailable`] reports it as UNAVAILABLE,
//! the code gRPC reserves for "transient, retry", and leaves every other error as it was.

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
            "the connection closed before the request was sent (server draining); retry: {error}"
        )))
    } else {
        Box::new(error)
    }
}

/// hyper hands a queued request back with a `Canceled` error when its connection closes before
/// the request was written.
fn never_sent(error: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_canceled)
        {
            return true;
        }
        current = error.source();
    }
    false
}
