//! The `daffron-bridge` command line: parses arguments and hands them to the
//! library. Every command lives in `daffron_bridge::commands`.

use clap::{CommandFactory, Parser, Subcommand};
use daffron_bridge::commands::{self, Globals};

/// Nightly bridge between Daffron / Milsoft CIS and InvoiceCloud.
///
/// Exit codes: 0 success; 1 the input had errors (validation failures, items
/// rejected or dead-lettered); 2 usage or configuration error; 3 a transient
/// failure (endpoint or SFTP unreachable) left work pending for the next run.
#[derive(Parser)]
#[command(
    name = "daffron-bridge",
    version,
    about,
    long_about = None,
    disable_help_subcommand = true
)]
struct Cli {
    #[command(flatten)]
    globals: Globals,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Dry run for implementers: parse, validate and transform BIF files in
    /// memory; nothing is uploaded or stored.
    Validate(commands::validate::Args),
    /// Write the BIF that would be uploaded to InvoiceCloud.
    Transform(commands::transform::Args),
    /// Print the remote PDF bill link of each invoice (setting 119 versions 1-4).
    PdfLink(commands::pdf_link::Args),
    /// Fetch new BIF files over SFTP (or from the drop box) into the inbox.
    Pull(commands::pull::Args),
    /// Upload validated BIF files to InvoiceCloud UploadInvoiceFile.
    Upload(commands::upload::Args),
    /// Take InvoiceCloud's exports (payments.csv, events.csv) into the outbox.
    Ingest(commands::ingest::Args),
    /// Post what the outbox holds to Daffron (the data pump).
    Sweep(commands::sweep::Args),
    /// The outbox for people: list, show, replay, cancel.
    Outbox(commands::outbox::Args),
    /// The nightly job: pull, validate, upload, ingest, sweep, verify, report.
    Run(commands::run::Args),
    /// The reconciliation report of a run or a night: text, JSON, CSV, HTML.
    Report(commands::report::Args),
    /// Real-time balance of an account (RTDR, GetPayableItemsList).
    Balance(commands::balance::Args),
    /// Check a biller's setup against its endpoints and servers, changing
    /// nothing: one line per check.
    Doctor(commands::doctor::Args),
    /// Local stand-in for Daffron's MultiSpeak CB server and InvoiceCloud's upload.
    Sandbox(commands::sandbox::Args),
    /// Print this help, or the help of a command (`help validate`).
    Help(HelpArgs),
}

#[derive(clap::Args)]
struct HelpArgs {
    /// The command whose help to print.
    #[arg(value_name = "COMMAND")]
    command: Option<String>,
}

/// `help [COMMAND]`: what `--help` prints (clap's own `help` command
/// refused `help --help`; this one is an ordinary command with its own).
fn help(a: &HelpArgs) -> std::process::ExitCode {
    match &a.command {
        None => {
            let _ = Cli::command().print_long_help();
            std::process::ExitCode::SUCCESS
        }
        // clap prints the command's help (exit 0), or says the command is
        // unknown (exit 2).
        Some(name) => match Cli::try_parse_from(["daffron-bridge", name.as_str(), "--help"]) {
            Err(e) => {
                let _ = e.print();
                std::process::ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
            }
            Ok(_) => std::process::ExitCode::SUCCESS,
        },
    }
}

fn main() -> std::process::ExitCode {
    commands::private_files();
    let cli = Cli::parse();
    if let Command::Help(a) = &cli.command {
        return help(a);
    }
    cli.globals.init_logging();
    let result = match &cli.command {
        Command::Validate(a) => commands::validate::run(&cli.globals, a),
        Command::Transform(a) => commands::transform::run(&cli.globals, a),
        Command::PdfLink(a) => commands::pdf_link::run(&cli.globals, a),
        Command::Pull(a) => commands::pull::run(&cli.globals, a),
        Command::Upload(a) => commands::upload::run(&cli.globals, a),
        Command::Ingest(a) => commands::ingest::run(&cli.globals, a),
        Command::Sweep(a) => commands::sweep::run(&cli.globals, a),
        Command::Outbox(a) => commands::outbox::run(&cli.globals, a),
        Command::Run(a) => commands::run::run(&cli.globals, a),
        Command::Report(a) => commands::report::run(&cli.globals, a),
        Command::Balance(a) => commands::balance::run(&cli.globals, a),
        Command::Doctor(a) => commands::doctor::run(&cli.globals, a),
        Command::Sandbox(a) => commands::sandbox::run(&cli.globals, a),
        Command::Help(a) => return help(a),
    };
    commands::finish(result).into()
}
