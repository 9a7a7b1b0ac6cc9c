//! Request ids at the edge: the [`RequestKey`] of a creating request, with a fingerprint of
//! everything else it asked (SHA-256 of the message encoded without its request id).

use prost::Message;
use ps_core::{FieldViolation, RequestKey, Violations};
use sha2::{Digest, Sha256};

/// The key of `message`, whose `request_id` is `id`; `without_id` clears the id from a copy so
/// the fingerprint covers the rest. `None` when no id was given.
pub fn request_key<M: Message + Clone>(
    message: &M,
    id: &str,
    without_id: impl FnOnce(&mut M),
) -> Result<Option<RequestKey>, FieldViolation> {
    if id.is_empty() {
        return Ok(None);
    }
    let mut rest = message.clone();
    without_id(&mut rest);
    let digest = Sha256::digest(rest.encode_to_vec());
    let fingerprint = digest.iter().map(|b| format!("{b:02x}")).collect();
    RequestKey::parse("request_id", id, fingerprint)
}

/// [`request_key`], its violation (if any) gathered with the request's others.
pub fn checked_request_key<M: Message + Clone>(
    v: &mut Violations,
    message: &M,
    id: &str,
    without_id: impl FnOnce(&mut M),
) -> Option<RequestKey> {
    v.check(request_key(message, id, without_id)).flatten()
}
