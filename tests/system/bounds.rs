//! Every string a caller sends is bounded, and an oversized one is refused with a short answer:
//! for every method of every service (read from the contract's own descriptors, so a new
//! method or field cannot be forgotten), every string field, top-level or one message deep, set
//! to 10,000 characters answers INVALID_ARGUMENT naming that field, in a few hundred bytes,
//! whatever credential the method needs.

use bytes::{Buf, BufMut};
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value,
};
use system_tests::{Backend, OPERATOR_TOKEN, TestSystem, violated_fields};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

/// Raw protobuf bytes in both directions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Self::Encoder {
        Raw
    }

    fn decoder(&mut self) -> Self::Decoder {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Self::Error> {
        let mut out = vec![0; src.remaining()];
        src.copy_to_slice(&mut out);
        Ok(Some(out))
    }
}

const OVERSIZED: usize = 10_000;

/// The string fields of `message` a caller can fill: its own, and one message deep.
fn string_fields(message: &MessageDescriptor) -> Vec<(Vec<FieldDescriptor>, String)> {
    let mut found = Vec::new();
    for field in message.fields() {
        match field.kind() {
            Kind::String => found.push((vec![field.clone()], indexed(&field))),
            Kind::Message(inner) if !inner.full_name().starts_with("google.protobuf.Timestamp") => {
                for nested in inner.fields() {
                    if nested.kind() == Kind::String {
                        let index = if field.is_list() { "[0]" } else { "" };
                        found.push((
                            vec![field.clone(), nested.clone()],
                            format!("{}{index}.{}", field.name(), indexed(&nested)),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    found
}

/// How a violation names the field: the first entry of a list (`location_ids[0]`).
fn indexed(field: &FieldDescriptor) -> String {
    if field.is_list() {
        format!("{}[0]", field.name())
    } else {
        field.name().to_owned()
    }
}

fn long_value(field: &FieldDescriptor) -> Value {
    let text = Value::String("x".repeat(OVERSIZED));
    if field.is_list() {
        Value::List(vec![text])
    } else {
        text
    }
}

/// A request of type `message` with the string at `path` oversized (everything else empty).
fn oversized(message: &MessageDescriptor, path: &[FieldDescriptor]) -> Vec<u8> {
    let mut request = DynamicMessage::new(message.clone());
    match path {
        [field] => request.set_field(field, long_value(field)),
        [outer, inner] => {
            let Kind::Message(inner_type) = outer.kind() else {
                unreachable!("nested fields sit in a message")
            };
            let mut nested = DynamicMessage::new(inner_type);
            nested.set_field(inner, long_value(inner));
            let value = Value::Message(nested);
            if outer.is_list() {
                request.set_field(outer, Value::List(vec![value]));
            } else {
                request.set_field(outer, value);
            }
        }
        _ => unreachable!("at most one message deep"),
    }
    request.encode_to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_oversized_string_of_every_method_is_refused_briefly() {
    let system = TestSystem::start(&Backend::Embedded).await;
    let owner = system.practice_with_owner("Bounded Practice").await;
    let pool = DescriptorPool::decode(ps_proto::FILE_DESCRIPTOR_SET).expect("the descriptors");
    let every_scope: Vec<ps_auth::Scope> = ps_auth::scopes::CATALOGUE
        .iter()
        .map(|entry| entry.scope)
        .collect();
    let service_token = system.service_token(&every_scope).await;
    let internal_services = system_tests::internal_services();
    let a = system.addresses;
    let mut checked = 0;
    let mut refusals = Vec::new();
    for service in pool.services() {
        let addr = match service.package_name() {
            "identity.v1" => a.identity,
            "staff.v1" | "ops.v1" => a.staff_directory,
            "orgaccess.v1" => a.org_access,
            "notification.v1" => a.notification,
            other => panic!("a service in package {other}: which address?"),
        };
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .expect("address")
            .connect()
            .await
            .expect("service reachable");
        for method in service.methods() {
            for (path, name) in string_fields(&method.input()) {
                let mut request = tonic::Request::new(oversized(&method.input(), &path));
                // Whichever credential the method needs is there: a service token with every
                // scope for the internal services, the owner's token elsewhere.
                let internal = internal_services.iter().any(|s| s == service.full_name());
                let token = if internal {
                    &service_token
                } else {
                    &owner.access_token
                };
                let headers = request.metadata_mut();
                headers.insert(
                    "authorization",
                    format!("Bearer {token}").parse().expect("ascii"),
                );
                headers.insert("x-operator-token", OPERATOR_TOKEN.parse().expect("ascii"));
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.expect("ready");
                let route = format!("/{}/{}", service.full_name(), method.name());
                let answer = grpc
                    .unary(request, route.parse().expect("a path"), Raw)
                    .await;
                let status = match answer {
                    Ok(_) => panic!("{route}: {name} of {OVERSIZED} characters was accepted"),
                    Err(status) => status,
                };
                assert_eq!(
                    status.code(),
                    tonic::Code::InvalidArgument,
                    "{route}: {name}: {status:?}"
                );
                assert!(
                    violated_fields(&status).contains(&name),
                    "{route}: {name} is named in {:?}",
                    violated_fields(&status)
                );
                let size = status.message().len() + status.details().len();
                assert!(size < 512, "{route}: {name}: {size} bytes: {status:?}");
                assert!(
                    !status.message().contains("xxxxxxxxxx"),
                    "the value is not quoted"
                );
                refusals.push(size);
                checked += 1;
            }
        }
    }
    let largest = refusals.iter().max().copied().unwrap_or(0);
    println!("{checked} oversized fields refused; the longest answer {largest} bytes");
    assert!(checked > 100, "only {checked} fields checked");
}
