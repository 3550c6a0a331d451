//! The command line: clap definitions (one file per command), each a thin layer that parses
//! flags, calls the engine and prints. Exit codes: 0 success, 1 some images failed or the
//! command failed, 2 usage error, 130 interrupted.

/// Writes a command's result to stdout; an error (a closed pipe) goes up with `?`, and `main`
/// ends quietly on a broken pipe (`hangar archive ls | head`), as ripgrep does.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout(), $($arg)*)
    }};
}

/// `out!` with a newline.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout(), $($arg)*)
    }};
}

mod archive;
mod archive_store;
mod archive_validate;
pub mod args;
mod ask;
mod bulk;
mod completion;
mod convert_list;
mod delete;
mod generate_list;
mod inspect;
mod inspect_list;
mod inventory;
mod list_run;
mod list_tags;
mod load;
mod login;
mod merge_manifest;
mod mirror;
mod plugin;
mod plugin_new;
mod removed;
mod save;
mod scan;
mod serve;
mod sign;
mod view;

use crate::progress::{self, LogFormat};
use anyhow::Context as _;
pub use ask::{confirm, may_overwrite};
use clap::{Parser, Subcommand};

pub const VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Parser, Debug)]
#[command(
    name = "hangar",
    version = VERSION,
    about = "Mirror, save and load container images for air-gapped sites",
    long_about = "hangar copies container images between registries (mirror), validates copies, \
                  and inspects and manages images in registries. Command names, flags and image \
                  list formats follow cnrancher/hangar.",
    disable_version_flag = true
)]
pub struct Cli {
    /// Debug output
    #[arg(long, global = true)]
    pub debug: bool,
    /// Log and progress format on stderr
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Copy without checking the signature policy (containers-policy.json)
    #[arg(long, global = true)]
    pub insecure_policy: bool,
    /// The signature policy images must pass before they are copied (default:
    /// ~/.config/containers/policy.json, else /etc/containers/policy.json)
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<std::path::PathBuf>,
    /// Replace log timestamps with "-" (stable output for scripts and tests)
    #[arg(long, global = true, hide = true)]
    pub hide_log_time: bool,
    /// The longest a registry may keep hangar waiting: for a connection (at most 15s), for an
    /// answer to begin, and between two pieces of data. A host that stays silent twice in a
    /// row is given up for the rest of the run. 0 waits forever
    #[arg(
        long,
        global = true,
        env = "HANGAR_NETWORK_TIMEOUT",
        default_value = "60s",
        value_parser = args::parse_duration,
        value_name = "DURATION"
    )]
    pub network_timeout: std::time::Duration,
    /// registries.conf to read instead of the user's or the system's one and its drop-ins
    /// (insecure and blocked registries, locations, mirrors to pull from)
    #[arg(
        long,
        global = true,
        env = "CONTAINERS_REGISTRIES_CONF",
        value_name = "FILE"
    )]
    pub registries_conf: Option<std::path::PathBuf>,
    /// A plugin file to use in this run besides the installed ones (repeatable)
    #[arg(long = "plugin", global = true, value_name = "PATH")]
    pub plugin_paths: Vec<std::path::PathBuf>,
    /// Allow native (shared library) plugins: trusted code, loaded only when its sha256
    /// matches its manifest
    #[arg(long = "allow-native-plugins", global = true)]
    pub allow_native_plugins: bool,
    /// Print version
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Without one, the help is printed (exit 0, as Hangar does).
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Mirror images from one registry to another
    #[command(visible_alias = "m")]
    Mirror(Box<mirror::MirrorCommand>),
    /// Save images from registries into an archive (zip)
    #[command(visible_alias = "s")]
    Save(save::SaveCommand),
    /// Load images from an archive into a registry
    #[command(visible_alias = "l")]
    Load(Box<load::LoadCommand>),
    /// Add images from registries to an existing archive (resumes an interrupted one)
    Sync(save::SyncCommand),
    /// Look into, verify, create, merge and export archives; store charts and files
    #[command(visible_alias = "a")]
    Archive(archive::ArchiveCommand),
    /// Serve an archive as a read-only registry (OCI distribution API)
    Serve(serve::ServeArgs),
    /// Sign images with a cosign key (offline); `sign validate` verifies them
    Sign(Box<sign::SignCommand>),
    /// Scan images for vulnerable packages with a scanner plugin (offline, --db)
    Scan(Box<scan::ScanArgs>),
    /// Show the provenance or SBOM attached to an image
    View(view::ViewCommand),
    /// Generate a cosign key pair (PREFIX.key, PREFIX.pub)
    GenerateSigstoreKey(sign::GenerateKeyArgs),
    /// List, inspect, install, remove and push plugins
    Plugin(plugin::PluginCommand),
    /// Inspect an image manifest (JSON on stdout)
    #[command(visible_alias = "i")]
    Inspect(inspect::InspectArgs),
    /// List the tags of a repository
    ListTags(list_tags::ListTagsArgs),
    /// Describe what a registry holds (tags, manifests, blobs) for `save --base-inventory`
    Inventory(inventory::InventoryArgs),
    /// Delete an image (its manifest, and so every tag pointing at it)
    Delete(delete::DeleteArgs),
    /// Combine images into one multi-platform OCI index: merge-manifest TARGET IMAGE...
    MergeManifest(merge_manifest::MergeManifestArgs),
    /// Log in to a registry (writes the containers auth file)
    Login(login::LoginArgs),
    /// Log out of a registry
    Logout(login::LogoutArgs),
    /// Convert a default-format image list to the mirror format (SOURCE DEST TAG)
    ConvertList(convert_list::ConvertListArgs),
    /// Generate image lists with list-generator plugins (Helm charts, Rancher releases, ...)
    GenerateList(Box<generate_list::GenerateListCommand>),
    /// Print the version
    Version,
    /// Sign files (detached, cosign's sign-blob form): FILE.sig beside each
    SignBlob(sign::blob::SignBlobArgs),
    /// Verify files against their FILE.sig and a public key
    VerifyBlob(sign::blob::VerifyBlobArgs),
    /// Generate shell completions
    Completion(completion::CompletionArgs),
    /// Write man pages for every command into a directory
    #[command(hide = true)]
    Man(completion::ManArgs),
    /// Hangar's deprecated sigstore signing (hidden there too): answered with what to use
    /// instead
    #[command(hide = true)]
    Signv1(removed::Signv1Args),
}

/// How a command ended, mapped to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    SomeFailed,
    Interrupted,
    /// A code the user asked for (`scan --exit-code`).
    Exit(u8),
}

/// Runs the command `cli` names.
pub async fn run(cli: Cli) -> anyhow::Result<Status> {
    let global = Global {
        log_format: cli.log_format,
        debug: cli.debug,
        plugin_paths: cli.plugin_paths,
        allow_native_plugins: cli.allow_native_plugins,
        policy: cli.policy,
        insecure_policy: cli.insecure_policy,
    };
    let Some(command) = cli.command else {
        print_help(&[])?;
        return Ok(Status::Success);
    };
    match command {
        Command::Mirror(cmd) => mirror::run(*cmd, &global).await,
        Command::Save(a) => save::run(a, &global).await,
        Command::Archive(a) => archive::run(a, &global).await,
        Command::Serve(a) => serve::run(a).await,
        Command::Load(a) => load::run(*a, &global).await,
        Command::Sync(a) => save::run_sync(a, &global).await,
        Command::Plugin(a) => plugin::run(a, &global).await,
        Command::Sign(a) => sign::run(*a, &global).await,
        Command::GenerateSigstoreKey(a) => sign::generate_key(a),
        Command::Scan(a) => scan::run(*a, &global).await,
        Command::View(a) => view::run(a).await,
        Command::Inspect(a) => inspect::run(a).await,
        Command::ListTags(a) => list_tags::run(a).await,
        Command::Inventory(a) => inventory::run(a).await,
        Command::Delete(a) => delete::run(a).await,
        Command::MergeManifest(a) => merge_manifest::run(a).await,
        Command::Login(a) => login::login(a).await,
        Command::Logout(a) => login::logout(a),
        Command::ConvertList(a) => convert_list::run(a),
        Command::GenerateList(a) => generate_list::run(*a, &global).await,
        Command::Version => {
            // The first line is Hangar's, for scripts that read it; the build's details follow.
            outln!(
                "hangar version v{VERSION}{}",
                option_env!("HANGAR_GIT_COMMIT")
                    .map(|c| format!(" - {c}"))
                    .unwrap_or_default()
            )?;
            let linking = if cfg!(target_env = "musl") {
                "static (musl)"
            } else {
                "dynamic (glibc)"
            };
            let plugins: Vec<&str> = crate::plugin::EMBEDDED.iter().map(|p| p.0).collect();
            outln!(
                "build: {}/{}, {linking}; gzip inflate: {}; embedded plugins: {}",
                std::env::consts::OS,
                std::env::consts::ARCH,
                crate::image::gzip::inflater(),
                if plugins.is_empty() {
                    "none".to_string()
                } else {
                    plugins.join(", ")
                }
            )?;
            Ok(Status::Success)
        }
        Command::SignBlob(a) => sign::blob::sign_blob(a),
        Command::VerifyBlob(a) => sign::blob::verify_blob(a),
        Command::Completion(a) => completion::run(a),
        Command::Man(a) => completion::man(a),
        Command::Signv1(a) => Ok(removed::signv1(&a)),
    }
}

/// Prints the help of `hangar SUBCOMMAND...` on stdout: a command group given without one of
/// its commands (`hangar`, `hangar archive`) shows its help and succeeds, as in Hangar.
pub fn print_help(path: &[&str]) -> anyhow::Result<()> {
    use clap::CommandFactory as _;
    let mut command = Cli::command();
    command.build();
    let mut at = &mut command;
    for name in path {
        at = at
            .find_subcommand_mut(name)
            .with_context(|| format!("no command {name}"))?;
    }
    let help = at.render_help().to_string();
    out!("{help}{}", if help.ends_with('\n') { "" } else { "\n" })?;
    Ok(())
}

pub struct Global {
    pub log_format: LogFormat,
    pub debug: bool,
    pub plugin_paths: Vec<std::path::PathBuf>,
    pub allow_native_plugins: bool,
    pub policy: Option<std::path::PathBuf>,
    pub insecure_policy: bool,
}

impl Global {
    /// The signature policy for commands that bring images in (see `sign::policy::in_effect`).
    pub fn signature_policy(
        &self,
    ) -> anyhow::Result<Option<std::sync::Arc<crate::sign::policy::Policy>>> {
        let policy = crate::sign::policy::in_effect(self.policy.as_deref(), self.insecure_policy)?;
        Ok(policy.map(std::sync::Arc::new))
    }

    /// Plugin settings: the config file, then the global plugin flags, then `overrides`.
    pub fn plugin_settings(
        &self,
        mut overrides: crate::plugin::settings::Overrides,
    ) -> anyhow::Result<crate::plugin::settings::Settings> {
        overrides.plugin_paths = self.plugin_paths.clone();
        overrides.allow_native |= self.allow_native_plugins;
        crate::plugin::settings::Settings::load(overrides).map_err(anyhow::Error::msg)
    }

    pub fn progress_mode(&self) -> progress::Mode {
        progress::Mode::pick(self.log_format, self.debug)
    }
}
