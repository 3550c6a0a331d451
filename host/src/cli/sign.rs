//! `hangar sign` and `hangar sign validate`: cosign-compatible key-based signatures, made and
//! checked offline. Each listed image's index digest and every platform digest the filter
//! keeps are signed; signatures go to the `sha256-HEX.sig` tag of the image's repository (or
//! `COSIGN_REPOSITORY`), added to the ones already there.

use super::args::{PlatformArgs, RunArgs, TlsArgs};
use super::bulk::{finish_run, watch_interrupts, workers};
use super::{Global, Status};
use crate::copy::runner::{self, JobError};
use crate::image::digest::Digest;
use crate::image::list::{self, Formats, Line};
use crate::image::manifest::Index;
use crate::image::media;
use crate::image::platform::{Platform, PlatformFilter};
use crate::image::reference::Reference;
use crate::registry::{Registries, Registry};
use crate::sign::cosign::{self, SignatureStore, Verdict};
use crate::sign::keys;
use crate::sign::pkcs11::Pkcs11Key;
use crate::sign::signer::Signer;
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use p256::ecdsa::VerifyingKey;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SignCommand {
    #[command(subcommand)]
    action: Option<SignAction>,
    #[command(flatten)]
    args: SignArgs,
}

#[derive(Subcommand, Debug)]
enum SignAction {
    /// Verify the signatures of every listed image with a public key and write a report
    Validate(ValidateArgs),
}

/// What sign, sign validate and scan share: the list and how its images are found.
#[derive(Args, Debug)]
pub(super) struct ListArgs {
    /// Image list (default format)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub(super) file: Option<PathBuf>,
    /// Override the registry of every image
    #[arg(long = "registry", value_name = "REGISTRY")]
    pub(super) registry: Option<String>,
    /// Override the project (first path segment) of every image
    #[arg(long = "project", value_name = "PROJECT")]
    pub(super) project: Option<String>,
    /// File that receives the lines that failed [default: sign-failed.txt, scan-failed.txt]
    #[arg(short = 'o', long = "failed", value_name = "FILE")]
    pub(super) failed: Option<PathBuf>,
    #[command(flatten)]
    pub(super) run: RunArgs,
    #[command(flatten)]
    pub(super) platform: PlatformArgs,
    #[command(flatten)]
    pub(super) tls: TlsArgs,
    /// Accepted for compatibility; credentials come from the auth files
    #[arg(long, hide = true)]
    pub(super) skip_login: bool,
    /// Do not ask questions
    #[arg(short = 'y', long = "auto-yes")]
    pub(super) yes: bool,
}

impl ListArgs {
    /// The failed list's path: `-o`, else `default` (each command has its own name).
    pub(super) fn failed_or(&self, default: &str) -> PathBuf {
        self.failed
            .clone()
            .unwrap_or_else(|| PathBuf::from(default))
    }
}

#[derive(Args, Debug)]
struct SignArgs {
    #[command(flatten)]
    list: ListArgs,
    /// Private key: a cosign key file (encrypted or not), or a key in a PKCS#11 token
    /// (pkcs11:token=T;object=LABEL?module-path=/path/to/module.so[&pin-value=PIN])
    #[arg(short = 'p', long = "key", value_name = "KEY")]
    key: Option<String>,
    /// File holding the key's passphrase (else COSIGN_PASSWORD, else a prompt)
    #[arg(long = "passphrase-file", value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Sign the index digest too, not only the platform digests
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL", hide = true)]
    sign_manifest_index: bool,
    /// Upload to a transparency log (needs Rekor; hangar signs offline)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", value_name = "BOOL")]
    tlog_upload: bool,
    /// Keyless signing: OIDC issuer (needs network)
    #[arg(
        long,
        default_value = "https://oauth2.sigstore.dev/auth",
        hide_short_help = true
    )]
    oidc_issuer: String,
    /// Keyless signing: OIDC client id (needs network)
    #[arg(long, default_value = "sigstore", hide_short_help = true)]
    oidc_client_id: String,
    /// Keyless signing: OIDC provider (needs network)
    #[arg(long, hide_short_help = true)]
    oidc_provider: Option<String>,
    /// Transparency log (needs network)
    #[arg(
        long,
        default_value = "https://rekor.sigstore.dev",
        hide_short_help = true
    )]
    rekor_url: String,
    /// Certificate authority for keyless signing (needs network)
    #[arg(
        long,
        default_value = "https://fulcio.sigstore.dev",
        hide_short_help = true
    )]
    fulcio_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Json,
    Yaml,
    Csv,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    #[command(flatten)]
    list: ListArgs,
    /// Public key (PEM) the signatures must verify with
    #[arg(short = 'k', long = "key", value_name = "FILE")]
    key: Option<PathBuf>,
    /// Report file ([FORMAT] is replaced by the format)
    #[arg(
        short = 'r',
        long = "report",
        default_value = "sign-validate-report.[FORMAT]",
        value_name = "FILE"
    )]
    report: String,
    #[arg(long, value_enum, default_value = "json")]
    format: ReportFormat,
    /// Check the index digest's signature too
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL", hide = true)]
    validate_manifest_index: bool,
    /// Transparency log (keyless verification needs network)
    #[arg(long, hide_short_help = true)]
    rekor_url: Option<String>,
    /// Skip transparency-log checks (key-based signatures made offline have no entry)
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL", hide_short_help = true)]
    insecure_ignore_tlog: bool,
    #[arg(long, hide = true)]
    offline: bool,
    /// Keyless verification: expected certificate identity (needs network)
    #[arg(long, hide_short_help = true)]
    certificate_identity: Option<String>,
    /// Keyless verification: expected OIDC issuer (needs network)
    #[arg(long, hide_short_help = true)]
    certificate_oidc_issuer: Option<String>,
}

pub async fn run(cmd: SignCommand, _global: &Global) -> anyhow::Result<Status> {
    match cmd.action {
        Some(SignAction::Validate(a)) => validate(a).await,
        None => sign(cmd.args).await,
    }
}

/// A digest to sign or check: the index itself or one platform image.
#[derive(Clone, Debug)]
pub(super) struct Target {
    pub(super) digest: Digest,
    pub(super) media_type: String,
    pub(super) platform: Option<Platform>,
}

/// One listed image, resolved.
pub(super) struct Job {
    pub(super) text: String,
    pub(super) reference: Reference,
}

pub(super) fn jobs(args: &ListArgs) -> anyhow::Result<Vec<Job>> {
    list_jobs(
        args.file.as_deref(),
        args.registry.as_deref(),
        args.project.as_deref(),
    )
}

/// The images of a default-format list, with `--registry`/`--project` applied.
pub(super) fn list_jobs(
    file: Option<&Path>,
    registry: Option<&str>,
    project: Option<&str>,
) -> anyhow::Result<Vec<Job>> {
    let path =
        file.context("image list not provided, use '--file' to specify the image list file")?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read image list {}", path.display()))?;
    let parsed = list::parse(&text, Formats::DefaultOnly);
    for w in &parsed.warnings {
        tracing::warn!("Ignore {w}");
    }
    let mut jobs = Vec::new();
    for entry in parsed.entries {
        let Line::Default(mut reference) = entry.line else {
            continue;
        };
        if let Some(registry) = registry.filter(|r| !r.is_empty()) {
            reference = reference.with_registry(registry);
        }
        if let Some(project) = project.filter(|p| !p.is_empty()) {
            reference = reference
                .with_project(project)
                .with_context(|| format!("--project {project}"))?;
        }
        jobs.push(Job {
            text: entry.text,
            reference,
        });
    }
    Ok(jobs)
}

/// A run over the listed images: the jobs, the platform filter (logged as Hangar does), the
/// registries and Ctrl-C handling, shared by sign, sign validate and scan.
pub(super) struct ListRun {
    pub(super) jobs: Vec<Job>,
    pub(super) filter: PlatformFilter,
    pub(super) registries: Registries,
    pub(super) cancel: CancellationToken,
}

impl ListRun {
    pub(super) fn start(list: &ListArgs) -> anyhow::Result<ListRun> {
        let jobs = jobs(list)?;
        let filter = list.platform.filter();
        tracing::info!("Arch List: [{}]", filter.arch.join(","));
        tracing::info!("OS List: [{}]", filter.os.join(","));
        let cancel = CancellationToken::new();
        watch_interrupts(cancel.clone());
        Ok(ListRun {
            jobs,
            filter,
            registries: Registries::new(list.tls.registry_options()),
            cancel,
        })
    }

    /// Runs `job` for every listed image with the list's workers and time limit; results in
    /// list order.
    pub(super) async fn each<'a, O, E, F, Fut>(
        &'a self,
        list: &ListArgs,
        job: F,
    ) -> Vec<Result<O, JobError>>
    where
        F: Fn(usize, &'a Job) -> Fut,
        Fut: std::future::Future<Output = Result<O, E>>,
        E: std::fmt::Display,
    {
        runner::run(
            self.jobs.iter().collect(),
            workers(list.run.jobs),
            list.run.time_limit(),
            &self.cancel,
            |job| job.text.clone(),
            job,
        )
        .await
    }
}

/// The digests of an image to sign or check: the index (when `with_index`) and each
/// platform image the filter keeps (attestations left out), or the single manifest.
pub(super) async fn targets(
    registry: &Registry,
    reference: &Reference,
    filter: &PlatformFilter,
    with_index: bool,
) -> anyhow::Result<Vec<Target>> {
    let repo = reference.repository();
    let manifest = registry
        .get_manifest(repo, &reference.manifest_reference())
        .await?;
    if manifest.media_type == media::DOCKER_V2S1 || manifest.media_type == media::DOCKER_V2S1_SIGNED
    {
        bail!(
            "unsupported to sign for deprecated image MIME type {:?}",
            manifest.media_type
        );
    }
    if manifest.media_type != media::OCI_INDEX && manifest.media_type != media::DOCKER_LIST {
        return Ok(vec![Target {
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            platform: None,
        }]);
    }
    let index: Index = serde_json::from_slice(&manifest.bytes)
        .with_context(|| format!("{reference}: malformed index"))?;
    let mut targets = Vec::new();
    if with_index {
        targets.push(Target {
            digest: manifest.digest.clone(),
            media_type: manifest.media_type.clone(),
            platform: None,
        });
    }
    for entry in index.manifests.iter().filter(|d| !d.is_attestation()) {
        let Some(platform) = &entry.platform else {
            continue;
        };
        if filter.allows(platform) {
            targets.push(Target {
                digest: entry.digest.clone(),
                media_type: entry.media_type.clone(),
                platform: Some(platform.clone()),
            });
        }
    }
    if targets.is_empty() {
        bail!("{reference}: no image for the specified arch and os");
    }
    Ok(targets)
}

/// Where signatures of `reference` are kept: `COSIGN_REPOSITORY` (another repository, maybe on
/// another registry), else the image's own repository.
async fn signature_home(
    registries: &Registries,
    reference: &Reference,
) -> anyhow::Result<(Arc<Registry>, String)> {
    match std::env::var("COSIGN_REPOSITORY")
        .ok()
        .filter(|v| !v.is_empty())
    {
        Some(repo) => {
            let other = Reference::parse(&repo)
                .with_context(|| format!("COSIGN_REPOSITORY={repo:?} is not a repository"))?;
            Ok((
                registries.get(other.registry()).await?,
                other.repository().to_string(),
            ))
        }
        None => Ok((
            registries.get(reference.registry()).await?,
            reference.repository().to_string(),
        )),
    }
}

/// The passphrase of a key: the file's first line, `COSIGN_PASSWORD`, or the terminal.
fn passphrase(file: Option<&Path>, prompt: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read passphrase file {}", file.display()))?;
        return Ok(text.trim().as_bytes().to_vec());
    }
    if let Some(p) = std::env::var_os("COSIGN_PASSWORD") {
        return Ok(p.into_encoded_bytes());
    }
    use std::io::IsTerminal as _;
    if !std::io::stdin().is_terminal() {
        bail!(
            "the key needs a passphrase: use --passphrase-file or COSIGN_PASSWORD (stdin is not a terminal)"
        );
    }
    Ok(rpassword::prompt_password(prompt)?.into_bytes())
}

fn signing_key(args: &SignArgs) -> anyhow::Result<Box<dyn Signer>> {
    if args.tlog_upload {
        bail!(
            "--tlog-upload needs network access to the transparency log ({}); hangar signs offline, use --tlog-upload=false (the default)",
            args.rekor_url
        );
    }
    let Some(key) = args.key.as_deref().filter(|k| !k.is_empty()) else {
        if let Some(provider) = &args.oidc_provider {
            bail!(
                "keyless signing (--oidc-provider {provider}) needs network access to {} and {}; hangar signs offline with a key (--key)",
                args.fulcio_url,
                args.oidc_issuer
            );
        }
        bail!("private key file not provided, use '--key' option to specify the private key");
    };
    if key.starts_with("pkcs11:") {
        let passphrase_file = args.passphrase_file.clone();
        let token = Pkcs11Key::open(key, move || {
            passphrase(passphrase_file.as_deref(), "Enter the PIN of the token: ")
                .map(|p| String::from_utf8_lossy(&p).into_owned())
                .map_err(|e| e.to_string())
        })
        .map_err(anyhow::Error::msg)?;
        return Ok(Box::new(token));
    }
    if key.contains("://") {
        bail!(
            "--key {key}: KMS and other remote keys need network access; give a cosign key file or a pkcs11: URI"
        );
    }
    let text =
        std::fs::read_to_string(key).with_context(|| format!("cannot read private key {key}"))?;
    let pass = if keys::is_encrypted(&text) {
        passphrase(
            args.passphrase_file.as_deref(),
            "Enter the password of private key: ",
        )?
    } else {
        Vec::new()
    };
    Ok(Box::new(keys::open(&text, &pass, key)?))
}

async fn sign(args: SignArgs) -> anyhow::Result<Status> {
    let key = signing_key(&args)?;
    let list = &args.list;
    let run = ListRun::start(list)?;
    let results = run
        .each(list, |i, job: &Job| {
            let (registries, filter, key) = (&run.registries, &run.filter, key.as_ref());
            async move {
                tracing::info!("[IMG:{}] Signing [{}]", i + 1, job.reference);
                let registry = registries.get(job.reference.registry()).await?;
                let targets =
                    targets(&registry, &job.reference, filter, args.sign_manifest_index).await?;
                let (home, repo) = signature_home(registries, &job.reference).await?;
                let store = SignatureStore {
                    registry: &home,
                    repository: &repo,
                };
                let identity = format!(
                    "{}/{}",
                    job.reference.registry(),
                    job.reference.repository()
                );
                for target in &targets {
                    let added = store.sign(key, &identity, &target.digest).await?;
                    if added {
                        tracing::info!("Signed [{identity}@{}]", target.digest);
                    } else {
                        tracing::info!(
                            "[{identity}@{}] is already signed by this key",
                            target.digest
                        );
                    }
                }
                anyhow::Ok(targets.len())
            }
        })
        .await;
    let failed_lines = report_failures(&run.jobs, &results, "sign");
    finish_run(
        &list.failed_or("sign-failed.txt"),
        &failed_lines,
        "Sign",
        "sign",
        run.cancel.is_cancelled(),
    )
}

fn report_failures<'a, T>(
    jobs: &'a [Job],
    results: &[Result<T, JobError>],
    verb: &str,
) -> Vec<&'a str> {
    let mut failed = Vec::new();
    for (job, result) in jobs.iter().zip(results) {
        if let Err(e) = result {
            tracing::error!("failed to {verb} [{}]: {e}", job.reference);
            failed.push(job.text.as_str());
        }
    }
    failed
}

/// One image's validation: every target with its verdict.
struct Checked {
    reference: String,
    targets: Vec<(Target, Verdict)>,
}

async fn validate(args: ValidateArgs) -> anyhow::Result<Status> {
    if args.certificate_identity.is_some() || args.certificate_oidc_issuer.is_some() {
        bail!(
            "keyless verification (--certificate-identity, --certificate-oidc-issuer) needs network access to the Fulcio and Rekor roots; hangar verifies offline with a public key (--key)"
        );
    }
    let key_path = args
        .key
        .as_ref()
        .context("public key not provided, use '--key' option to specify the public key")?;
    let key_text = std::fs::read_to_string(key_path)
        .with_context(|| format!("cannot read public key {}", key_path.display()))?;
    let key: VerifyingKey = keys::public(&key_text, &key_path.display().to_string())?;
    let list = &args.list;
    let run = ListRun::start(list)?;
    let results = run
        .each(list, |_, job: &Job| {
            let (registries, filter, key) = (&run.registries, &run.filter, &key);
            async move {
                let registry = registries.get(job.reference.registry()).await?;
                let targets = targets(
                    &registry,
                    &job.reference,
                    filter,
                    args.validate_manifest_index,
                )
                .await?;
                let (home, repo) = signature_home(registries, &job.reference).await?;
                let store = SignatureStore {
                    registry: &home,
                    repository: &repo,
                };
                let mut checked = Vec::new();
                for target in targets {
                    let found = store.read(&target.digest).await?;
                    let verdict = cosign::check(&found, &target.digest, key);
                    checked.push((target, verdict));
                }
                anyhow::Ok(Checked {
                    reference: job.reference.to_string(),
                    targets: checked,
                })
            }
        })
        .await;
    let mut failed_lines = Vec::new();
    let mut report = Vec::new();
    for (job, result) in run.jobs.iter().zip(&results) {
        match result {
            Ok(checked) => {
                let mut ok = true;
                for (target, verdict) in &checked.targets {
                    let at = format!("{}@{}", job.reference.name(), target.digest);
                    match verdict {
                        Verdict::Valid { .. } => tracing::info!("PASS: [{at}] is signed"),
                        Verdict::Unsigned => {
                            ok = false;
                            tracing::error!("FAILED: [{at}]: no signature");
                        }
                        Verdict::Invalid(why) => {
                            ok = false;
                            tracing::error!("FAILED: [{at}]: {why}");
                        }
                    }
                }
                if !ok {
                    failed_lines.push(job.text.as_str());
                }
                report.push(checked);
            }
            Err(e) => {
                tracing::error!("failed to validate [{}]: {e}", job.reference);
                failed_lines.push(job.text.as_str());
            }
        }
    }
    let path = write_report(&args, &report)?;
    tracing::info!("Report exported to {:?}", path.display().to_string());
    finish_run(
        &list.failed_or("sign-failed.txt"),
        &failed_lines,
        "Signature validate",
        "validate",
        run.cancel.is_cancelled(),
    )
}

fn write_report(args: &ValidateArgs, checked: &[&Checked]) -> anyhow::Result<PathBuf> {
    use serde_json::json;
    let format = match args.format {
        ReportFormat::Json => "json",
        ReportFormat::Yaml => "yaml",
        ReportFormat::Csv => "csv",
    };
    let path = PathBuf::from(args.report.replace("[FORMAT]", format));
    let entry = |target: &Target, verdict: &Verdict| {
        let platform = target.platform.as_ref();
        let mut value = json!({
            "digest": target.digest,
            "mediaType": target.media_type,
            "platform": {
                "arch": platform.map(|p| p.architecture.clone()).unwrap_or_default(),
                "os": platform.map(|p| p.os.clone()).unwrap_or_default(),
                "variant": platform.and_then(|p| p.variant.clone()).unwrap_or_default(),
            },
            "verified": matches!(verdict, Verdict::Valid { .. }),
            "tlogVerified": false,
            "certificateSubject": "",
            "certificateIssuer": "",
        });
        match verdict {
            Verdict::Valid { payload } => value["payload"] = payload.clone(),
            Verdict::Unsigned => value["error"] = json!("no signature"),
            Verdict::Invalid(why) => value["error"] = json!(why),
        }
        value
    };
    let results: Vec<serde_json::Value> = checked
        .iter()
        .map(|c| {
            json!({
                "reference": c.reference,
                "images": c.targets.iter().map(|(t, v)| entry(t, v)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let time = crate::archive::index::rfc3339_now();
    let bytes = match args.format {
        ReportFormat::Json => {
            serde_json::to_vec_pretty(&json!({"time": time, "results": results}))?
        }
        ReportFormat::Yaml => {
            serde_yaml::to_string(&json!({"time": time, "result": results}))?.into_bytes()
        }
        ReportFormat::Csv => {
            let mut out = String::from(
                "image,arch,os,payload,digest,tlogVerify,mediaType,certificateIssuer,certificateSubject,githubWorkflowName,githubWorkflowRef,githubWorkflowRepository,githubWorkflowSha,githubWorkflowTrigger\n",
            );
            for c in checked {
                for (t, v) in &c.targets {
                    let platform = t.platform.as_ref();
                    let payload = match v {
                        Verdict::Valid { payload } => payload.to_string(),
                        _ => String::new(),
                    };
                    let fields = [
                        c.reference.clone(),
                        platform.map(|p| p.architecture.clone()).unwrap_or_default(),
                        platform.map(|p| p.os.clone()).unwrap_or_default(),
                        payload,
                        t.digest.to_string(),
                        "false".into(),
                        t.media_type.clone(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                        String::new(),
                    ];
                    out.push_str(
                        &fields
                            .iter()
                            .map(|f| csv_field(f))
                            .collect::<Vec<_>>()
                            .join(","),
                    );
                    out.push('\n');
                }
            }
            out.into_bytes()
        }
    };
    crate::outfile::write(&path, bytes.as_ref())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A CSV field, quoted when it holds a comma, quote or newline (RFC 4180).
pub(super) fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[derive(Args, Debug)]
pub struct GenerateKeyArgs {
    /// File name prefix: writes PREFIX.key and PREFIX.pub
    #[arg(short = 'p', long = "prefix", default_value = "sigstore")]
    prefix: String,
    /// File holding the passphrase (else COSIGN_PASSWORD, else a prompt, asked twice)
    #[arg(long = "passphrase-file", value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
    /// Overwrite existing key files without asking
    #[arg(short = 'y', long = "auto-yes")]
    yes: bool,
}

/// `hangar generate-sigstore-key`: a cosign key pair (PREFIX.key 0600, PREFIX.pub 0644).
pub fn generate_key(args: GenerateKeyArgs) -> anyhow::Result<Status> {
    let private = PathBuf::from(format!("{}.key", args.prefix));
    let public = PathBuf::from(format!("{}.pub", args.prefix));
    for path in [&private, &public] {
        if path.exists()
            && !args.yes
            && !super::confirm(&format!("{} already exists, overwrite?", path.display()))?
        {
            bail!("{} already exists", path.display());
        }
    }
    let pass = match (&args.passphrase_file, std::env::var_os("COSIGN_PASSWORD")) {
        (Some(file), _) => passphrase(Some(file), "")?,
        (None, Some(p)) => p.into_encoded_bytes(),
        (None, None) => {
            let first = passphrase(
                None,
                &format!(
                    "Enter the passphrase for key {:?}: ",
                    private.display().to_string()
                ),
            )?;
            let again = passphrase(None, "Enter the passphrase again: ")?;
            if first != again {
                bail!("password does not match");
            }
            first
        }
    };
    if pass.len() < 5 {
        tracing::warn!("The passphrase is too weak (shorter than 5 characters)");
    }
    let (private_pem, public_pem) = keys::generate(&pass)?;
    write_mode(&private, private_pem.as_bytes(), 0o600)?;
    write_mode(&public, public_pem.as_bytes(), 0o644)?;
    tracing::info!(
        "Private key written to {:?}, public key written to {:?}",
        private.display().to_string(),
        public.display().to_string()
    );
    Ok(Status::Success)
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its old mode through open(); set it.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode))?;
    Ok(())
}
