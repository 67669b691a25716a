//! Generated `logproto` wire types (see `proto/push.proto`).
#![allow(missing_docs, clippy::all, clippy::pedantic)]

pub mod logproto {
    include!(concat!(env!("OUT_DIR"), "/logproto.rs"));
}

pub mod google {
    pub mod protobuf {
        include!(concat!(env!("OUT_DIR"), "/google.protobuf.rs"));
    }
}
