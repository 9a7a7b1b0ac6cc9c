//! Every string and list a request carries has a maximum, declared in the contract itself
//! (`[(common.v1.max_len) = 200]`, `[(common.v1.max_items) = 100]`, see
//! `proto/common/v1/limits.proto`) and checked as the request is decoded, before any handler
//! runs: the generated [`Bounded`] impls (from `build.rs`, which refuses to build when a field
//! of a request lacks its bound) are called by [`BoundedCodec`], the codec of every service.
//!
//! An oversized request answers INVALID_ARGUMENT with a google.rpc.BadRequest naming each field
//! ("must be at most 200 characters"), never quoting the value, so no answer grows with the
//! input (a 10,000-character field once came back as a 30 KB error, over other clients' 16 KiB
//! metadata limit).

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::{ProstDecoder, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt};

/// Violations reported at most per request (the rest would only repeat the point).
pub const MAX_VIOLATIONS: usize = 20;

/// A field over its bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub field: String,
    pub description: String,
}

/// A message whose strings and lists are checked against the contract's bounds.
pub trait Bounded {
    /// Adds a violation for each field over its bound; `prefix` is the path of this message
    /// inside the request (`""`, or `entries[3].`).
    fn bounds(&self, prefix: &str, out: &mut Vec<Violation>);
}

fn push(out: &mut Vec<Violation>, field: String, description: String) {
    if out.len() < MAX_VIOLATIONS {
        out.push(Violation { field, description });
    }
}

/// A string of at most `max` characters.
pub fn text(value: &str, max: usize, prefix: &str, field: &str, out: &mut Vec<Violation>) {
    // Bytes bound characters from above: only a long value needs counting.
    if value.len() > max && value.chars().count() > max {
        push(
            out,
            format!("{prefix}{field}"),
            format!("must be at most {max} characters"),
        );
    }
}

/// Bytes of at most `max`.
pub fn bytes(len: usize, max: usize, prefix: &str, field: &str, out: &mut Vec<Violation>) {
    if len > max {
        push(
            out,
            format!("{prefix}{field}"),
            format!("must be at most {max} bytes"),
        );
    }
}

/// A list of at most `max` entries.
pub fn items(len: usize, max: usize, prefix: &str, field: &str, out: &mut Vec<Violation>) {
    if len > max {
        push(
            out,
            format!("{prefix}{field}"),
            format!("must have at most {max} entries"),
        );
    }
}

/// Each string of a list, at most `max` characters.
pub fn texts(values: &[String], max: usize, prefix: &str, field: &str, out: &mut Vec<Violation>) {
    for (i, value) in values.iter().enumerate() {
        text(value, max, prefix, &format!("{field}[{i}]"), out);
    }
}

/// A nested message.
pub fn nested<M: Bounded>(value: &M, prefix: &str, field: &str, out: &mut Vec<Violation>) {
    value.bounds(&format!("{prefix}{field}."), out);
}

/// Each message of a list.
pub fn each<M: Bounded>(values: &[M], prefix: &str, field: &str, out: &mut Vec<Violation>) {
    for (i, value) in values.iter().enumerate() {
        if out.len() >= MAX_VIOLATIONS {
            return;
        }
        value.bounds(&format!("{prefix}{field}[{i}]."), out);
    }
}

/// INVALID_ARGUMENT naming every field of `message` over its bound, if any.
pub fn check<M: Bounded>(message: &M) -> Result<(), Status> {
    let mut out = Vec::new();
    message.bounds("", &mut out);
    if out.is_empty() {
        return Ok(());
    }
    let mut details = ErrorDetails::new();
    let mut summary = String::from("invalid input: ");
    for (i, v) in out.iter().enumerate() {
        if i > 0 {
            summary.push_str("; ");
        }
        if i < 3 {
            summary.push_str(&format!("{} {}", v.field, v.description));
        } else {
            summary.push_str(&format!("and {} more", out.len() - 3));
            break;
        }
    }
    for v in out {
        details.add_bad_request_violation(v.field, v.description);
    }
    Err(Status::with_error_details(
        tonic::Code::InvalidArgument,
        summary,
        details,
    ))
}

// Well-known types carried by requests.
impl Bounded for prost_types::Timestamp {
    fn bounds(&self, _prefix: &str, _out: &mut Vec<Violation>) {}
}

impl Bounded for prost_types::Duration {
    fn bounds(&self, _prefix: &str, _out: &mut Vec<Violation>) {}
}

impl Bounded for () {
    fn bounds(&self, _prefix: &str, _out: &mut Vec<Violation>) {}
}

/// Field masks name fields: a few, each short.
impl Bounded for prost_types::FieldMask {
    fn bounds(&self, prefix: &str, out: &mut Vec<Violation>) {
        items(self.paths.len(), 20, prefix, "paths", out);
        texts(&self.paths, 64, prefix, "paths", out);
    }
}

/// tonic's prost codec, with every decoded message checked against its bounds.
#[derive(Debug, Clone)]
pub struct BoundedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for BoundedCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for BoundedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Bounded + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = BoundedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BoundedDecoder(ProstDecoder::default())
    }
}

/// Decodes with prost, then checks the bounds.
#[derive(Debug)]
pub struct BoundedDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default + Bounded> Decoder for BoundedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let decoded = self.0.decode(buf)?;
        if let Some(message) = &decoded {
            check(message)?;
        }
        Ok(decoded)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

// The generated `Bounded` impls of every message (see `build.rs`).
include!(concat!(env!("OUT_DIR"), "/limits.rs"));
