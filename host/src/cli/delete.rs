//! `hangar delete IMAGE`: deletes the manifest the reference points at (by digest, so every
//! tag pointing at it goes too), after a confirmation unless `-y`.

use super::args::{TlsArgs, connect_image};
use super::{Status, confirm};
use anyhow::{Context as _, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Image reference
    image: Option<String>,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: DeleteArgs) -> anyhow::Result<Status> {
    let (reference, registry) = connect_image(args.image.as_deref(), &args.tls).await?;
    let head = registry
        .head_manifest(reference.repository(), &reference.manifest_reference())
        .await?
        .with_context(|| format!("image {reference} not found"))?;
    if !args.yes && !confirm(&format!("Image \"{reference}\" will be deleted! proceed?"))? {
        bail!("abort by user");
    }
    registry
        .delete_manifest(reference.repository(), &head.digest)
        .await?;
    tracing::info!("Deleted {reference} ({})", head.digest);
    Ok(Status::Success)
}
