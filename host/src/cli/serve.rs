//! `hangar serve ARCHIVE --addr 127.0.0.1:5000`: a read-only registry over an archive.

use super::Status;
use crate::archive::blobs::ArchiveBlobs;
use crate::serve::catalog::Catalog;
use anyhow::Context as _;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The archive to serve
    #[arg(value_name = "ARCHIVE")]
    archive: PathBuf,
    /// Address to listen on (plain HTTP; pull with --tls-verify=false or put a TLS proxy in front)
    #[arg(long, default_value = "127.0.0.1:5000", value_name = "HOST:PORT")]
    addr: String,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<Status> {
    let (mut reader, index) = super::archive::open(&args.archive)?;
    let blobs = ArchiveBlobs::new(&args.archive, &mut reader)?;
    drop(reader);
    if let Some(delta) = &index.delta {
        // Manifests are all there; pulling a layer left out for the base gets 404.
        tracing::warn!(
            "{} is a delta archive: the {} layers it relies on are not in it, and pulls that \
             need them fail (serve the merged archive: archive merge BASE DELTA -o FULL)",
            args.archive.display(),
            delta.relies.len()
        );
    }
    let (catalog, problems) = Catalog::build(blobs, &index);
    for problem in &problems {
        tracing::warn!("Not served: {problem}");
    }
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        "Serving {} images of {:?} at http://{addr} (read-only)",
        index.list.len() - problems.len(),
        args.archive.display().to_string()
    );
    axum::serve(listener, crate::serve::http::router(Arc::new(catalog)))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Stopping");
        })
        .await
        .context("serving")?;
    Ok(Status::Success)
}
