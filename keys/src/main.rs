//! `quietcount-keys`: identity keys, fingerprints, inspecting signed objects, and the donor's
//! offline verifier of a donor package.
//!
//! Exit status: 0 on success (for `verify`: every check passed; warnings too with `--strict`),
//! 1 when a verification fails, 2 for usage or file errors.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use ed25519_dalek::VerifyingKey;
use quietcount_keys::inspect::inspect;
use quietcount_keys::verify::{Expectations, verify_package_expecting};
use quietcount_keys::{
    Identity, full_fingerprint, load_public_key, load_trusted_public_key, public_key_pem,
    save_public_key, short_fingerprint,
};
use quietcount_protocol::{Form, Period, fingerprint_of};

/// Quietcount identity keys and the donor's offline verifier.
#[derive(Debug, Parser)]
#[command(name = "quietcount-keys", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify a donor package offline, trusting only the given coordinator key(s).
    Verify {
        /// The donor package folder.
        package_dir: PathBuf,
        /// The coordinator's public key (PEM), obtained through a channel you trust.
        #[arg(
            long = "trust",
            value_name = "COORDINATOR_PUBLIC_KEY.pem",
            required = true
        )]
        trust: Vec<PathBuf>,
        /// A reporting form (TOML) known besides the package's form.toml.
        #[arg(long = "form", value_name = "FORM.toml")]
        form: Vec<PathBuf>,
        /// Print the checks and the verdict as JSON.
        #[arg(long)]
        json: bool,
        /// Fail (exit 1) on warnings too: a key retired or revoked after the period, or
        /// incomplete reporting.
        #[arg(long)]
        strict: bool,
        /// Fail unless the package is for this period (e.g. 2026-10).
        #[arg(long, value_name = "PERIOD")]
        expect_period: Option<String>,
        /// Fail unless the package is from this province (as the coordinator names it).
        #[arg(long, value_name = "NAME")]
        expect_province: Option<String>,
    },
    /// Generate an identity key: FILE (private, mode 0600) and FILE.pub (public).
    Generate {
        /// Where to write the private key; refuses to overwrite.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print the public key (PEM) of a private or public key file.
    Public {
        /// A private or public key file.
        file: PathBuf,
    },
    /// Print the fingerprint of a key file, in full hex and in short form.
    Fingerprint {
        /// A private or public key file.
        file: PathBuf,
    },
    /// Verify one signed object (site report, receipt, registry or provincial report) and
    /// print its payload.
    Inspect {
        /// The signed object (COSE_Sign1).
        file: PathBuf,
        /// The signer's public key (PEM).
        #[arg(long = "trust", value_name = "KEY.pem", required = true)]
        trust: Vec<PathBuf>,
        /// A reporting form (TOML) to label table cells with.
        #[arg(long = "form", value_name = "FORM.toml")]
        form: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!(
                "error: {}",
                quietcount_keys::message::describe(error.as_ref())
            );
            ExitCode::from(2)
        }
    }
}

/// Runs a command: `Ok` carries the exit status; `Err` is a usage or file error (status 2).
fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify {
            package_dir,
            trust,
            form,
            json,
            strict,
            expect_period,
            expect_province,
        } => {
            if !package_dir.is_dir() {
                bail!("{}: not a folder", package_dir.display());
            }
            let trust = trust
                .iter()
                .map(|path| load_trusted_public_key(path).map_err(anyhow::Error::from))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let forms = load_forms(&form)?;
            let expect = Expectations {
                period: expect_period
                    .map(|p| {
                        Period::parse(&p).with_context(|| {
                            format!("--expect-period {p}: not a period (2026-10, 2026-Q4, 2026)")
                        })
                    })
                    .transpose()?,
                province: expect_province,
            };
            let report = verify_package_expecting(&package_dir, &trust, &forms, &expect);
            if json {
                emit(&format!(
                    "{}\n",
                    serde_json::to_string_pretty(&report.to_json())?
                ))?;
            } else {
                emit(&report.render_text())?;
            }
            Ok(status(if strict {
                report.passed_strictly()
            } else {
                report.passed()
            }))
        }
        Command::Generate { out } => {
            let public = public_path(&out);
            for path in [&out, &public] {
                if path.exists() {
                    bail!(
                        "{}: already exists; refusing to overwrite a key",
                        path.display()
                    );
                }
            }
            let identity = Identity::generate();
            identity.save(&out)?;
            save_public_key(&public, &identity.verifying_key())?;
            let fingerprint = identity.fingerprint();
            emit(&format!(
                "private key: {} (mode 0600)\npublic key:  {}\nfingerprint: {}\n",
                out.display(),
                public.display(),
                short_fingerprint(&fingerprint)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Public { file } => {
            emit(&public_key_pem(&load_public_key(&file)?))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fingerprint { file } => {
            let fingerprint = fingerprint_of(&load_public_key(&file)?);
            emit(&format!(
                "{}\n{}\n",
                full_fingerprint(&fingerprint),
                short_fingerprint(&fingerprint)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect {
            file,
            trust,
            form,
            json,
        } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("{}: cannot read", file.display()))?;
            let trust = load_keys(&trust)?;
            let forms = load_forms(&form)?;
            match inspect(&bytes, &trust) {
                Ok(inspected) if json => {
                    emit(&format!(
                        "{}\n",
                        serde_json::to_string_pretty(&inspected.to_json())?
                    ))?;
                    Ok(ExitCode::SUCCESS)
                }
                Ok(inspected) => {
                    emit(&inspected.render_text(&forms))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("NOT VERIFIED: {}: {error}", file.display());
                    Ok(status(false))
                }
            }
        }
    }
}

/// Writes to standard output; a closed pipe (`| head`) is not an error.
fn emit(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to standard output"),
    }
}

fn status(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn load_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<VerifyingKey>> {
    paths
        .iter()
        .map(|path| load_public_key(path).map_err(anyhow::Error::from))
        .collect()
}

/// The forms given, and the shipped default form.
fn load_forms(paths: &[PathBuf]) -> anyhow::Result<Vec<Form>> {
    let mut forms = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let form = Form::from_toml(&text).with_context(|| format!("{}", path.display()))?;
        forms.push(form);
    }
    forms.push(Form::default_monthly());
    Ok(forms)
}

fn public_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}
