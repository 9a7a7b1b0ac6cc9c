//! Client-side interceptors that attach credentials to outgoing calls.

use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::{OPERATOR_TOKEN_HEADER, SERVICE_TOKEN_HEADER};

/// Attaches a credential header to every call.
#[derive(Clone)]
pub struct Credential {
    header: &'static str,
    value: MetadataValue<tonic::metadata::Ascii>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("credential contains characters not allowed in a header")]
pub struct BadCredential;

impl Credential {
    /// `authorization: Bearer <access token>`.
    pub fn bearer(access_token: &str) -> Result<Self, BadCredential> {
        Self::new("authorization", &format!("Bearer {access_token}"))
    }

    /// The internal credential services use with each other.
    pub fn service(token: &str) -> Result<Self, BadCredential> {
        Self::new(SERVICE_TOKEN_HEADER, token)
    }

    pub fn operator(token: &str) -> Result<Self, BadCredential> {
        Self::new(OPERATOR_TOKEN_HEADER, token)
    }

    fn new(header: &'static str, value: &str) -> Result<Self, BadCredential> {
        let mut value: MetadataValue<_> = value.parse().map_err(|_| BadCredential)?;
        value.set_sensitive(true);
        Ok(Self { header, value })
    }
}

impl Interceptor for Credential {
    /// Attaches the credential, and the caller's W3C trace context so the callee's span joins
    /// the caller's trace.
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let metadata = request.metadata_mut();
        metadata.insert(self.header, self.value.clone());
        let trace = ps_telemetry::TraceContext::current();
        for (name, value) in [
            ("traceparent", trace.traceparent),
            ("tracestate", trace.tracestate),
        ] {
            if !value.is_empty()
                && let Ok(value) = value.parse()
            {
                metadata.insert(name, value);
            }
        }
        Ok(request)
    }
}
