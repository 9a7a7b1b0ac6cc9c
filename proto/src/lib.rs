//! The contracts of Practice Staff: every `.proto` of the product compiled once.
//!
//! Modules follow the proto packages (`identity.v1` → [`identity::v1`]). Services depend on this
//! crate and convert these types to their own domain types at their gRPC edge.

#![allow(clippy::large_enum_variant, clippy::doc_lazy_continuation)]

pub mod common {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("common.v1");
    }
}

pub mod events {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("events.v1");
    }
}

pub mod identity {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("identity.v1");

        /// Sent as an error detail (in google.rpc.Status's details): named, so
        /// `prost_types::Any` packs it and finds it by its type URL.
        impl prost::Name for PracticeChoices {
            const NAME: &'static str = "PracticeChoices";
            const PACKAGE: &'static str = "identity.v1";

            fn type_url() -> String {
                format!("type.googleapis.com/{}", Self::full_name())
            }
        }
    }
}

pub mod notification {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("notification.v1");
    }
}

pub mod ops {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("ops.v1");
    }
}

pub mod orgaccess {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("orgaccess.v1");
    }
}

pub mod staff {
    pub mod v1 {
        // Generated: a tonic server's `call` matches every method of its service in one function.
        #![allow(clippy::too_many_lines)]

        tonic::include_proto!("staff.v1");
    }
}

/// Encoded `FileDescriptorSet` of every contract, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptor.bin"));

pub mod convert;
pub mod limits;
