//! The `keqv` binary: parse the command line, run the command, map the result to an exit code
//! (0 success or equivalent, 1 a negative answer, 2 an error).

use std::process::ExitCode;

use clap::Parser;
use keqv::cli::{Cli, Command};
use keqv::commands::{self, Outcome};

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of stdout goes away
    // (`keqv … | head`) instead of failing on the write.
    #[cfg(unix)]
    // SAFETY: called first thing, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    keqv::exec::cpu::keep_freed_memory();
    // Mesa's Vulkan loader prints an error on every instance when this is unset.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    if let Some(threads) = cli.threads {
        if let Err(e) = keqv::exec::cpu::set_threads(threads.into()) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let result = match &cli.command {
        Command::Inspect { model, format } => commands::inspect::inspect(model, *format),
        Command::Run {
            model,
            inputs,
            device,
            output,
            chunk,
        } => commands::run::run(model, inputs, device, output.as_deref(), *chunk),
        Command::Verify(args) => commands::verify::verify(args),
        Command::Suite(args) => commands::suite::suite(args),
        Command::Convert {
            model,
            output,
            dialect,
            no_verify,
            force,
            blocks,
            device,
        } => commands::convert::convert(
            model,
            output,
            *dialect,
            commands::convert::Flags {
                no_verify: *no_verify,
                force: *force,
                blocks: *blocks,
            },
            device,
        ),
        Command::Bench {
            model,
            inputs,
            device,
            runs,
            warmup,
            format,
        } => commands::bench::bench(&commands::bench::BenchArgs {
            model,
            inputs,
            device,
            runs: *runs,
            warmup: *warmup,
            format: *format,
        }),
        Command::Adapters { format } => commands::adapters::adapters(*format),
    };
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Negative) => ExitCode::from(1),
        Err(e) => {
            let message = one_line(&e.to_string());
            eprintln!("keqv: error: {message}");
            commands::write_error_reports(&cli.command, &message);
            ExitCode::from(2)
        }
    }
}

/// Keeps an error on one line even when a path or name in it holds control characters.
fn one_line(message: &str) -> String {
    message
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
