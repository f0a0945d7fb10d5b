//! Code generated from `proto/stockd/v1`.
#![allow(missing_docs, unreachable_pub, clippy::all)]

tonic::include_proto!("stockd.v1");

/// The encoded descriptors of every stockd service, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("stockd_descriptor");
