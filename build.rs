//! Compiles `proto/` with a pure-Rust protobuf compiler, so a fresh machine needs no `protoc`,
//! and writes the descriptor set that server reflection serves.

use std::{env, fs, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut protos = Vec::new();
    for entry in fs::read_dir("proto/stockd/v1")? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "proto") {
            protos.push(path);
        }
    }
    protos.sort();
    let fds = protox::compile(&protos, ["proto"])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // compile_fds does not write the descriptor set itself; reflection needs it.
    fs::write(
        out.join("stockd_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    // sqlx::migrate!() embeds the migrations at compile time.
    println!("cargo:rerun-if-changed=migrations");
    Ok(())
}
