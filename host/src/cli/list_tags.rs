//! `hangar list-tags IMAGE`: the repository's tags as a sorted JSON array on stdout.

use super::Status;
use super::args::{TlsArgs, connect_image};
use clap::Args;

#[derive(Args, Debug)]
pub struct ListTagsArgs {
    /// Repository (a tag, if given, is ignored)
    image: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: ListTagsArgs) -> anyhow::Result<Status> {
    let (reference, registry) = connect_image(args.image.as_deref(), &args.tls).await?;
    let mut tags = registry.list_tags(reference.repository()).await?;
    tags.sort();
    outln!("{}", serde_json::to_string_pretty(&tags)?)?;
    Ok(Status::Success)
}
