//! `hangar list-tags IMAGE`: the repository's tags as a sorted JSON array on stdout.

use super::Status;
use super::args::TlsArgs;
use crate::image::reference::Reference;
use crate::registry::Registries;
use anyhow::Context as _;
use clap::Args;

#[derive(Args, Debug)]
pub struct ListTagsArgs {
    /// Repository (a tag, if given, is ignored)
    image: Option<String>,
    #[command(flatten)]
    tls: TlsArgs,
}

pub async fn run(args: ListTagsArgs) -> anyhow::Result<Status> {
    let text = args
        .image
        .as_deref()
        .context("image reference not provided")?;
    let reference =
        Reference::parse(text).with_context(|| format!("invalid image reference {text:?}"))?;
    let registries = Registries::new(args.tls.registry_options());
    let registry = registries.get(reference.registry()).await?;
    let mut tags = registry.list_tags(reference.repository()).await?;
    tags.sort();
    println!("{}", serde_json::to_string_pretty(&tags)?);
    Ok(Status::Success)
}
