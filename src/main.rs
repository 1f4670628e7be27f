use std::io::{self, Write};

use clap::Parser;

#[allow(clippy::disallowed_methods)] // the one place that may exit
fn main() {
    let cli = planguard::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::exit(planguard::Exit::Usage.code());
        }
    };
    let result = runtime.block_on(planguard::run(cli));
    // Statements still running in the background are cancelled with the
    // runtime; do not wait for them.
    runtime.shutdown_background();
    let code = match result {
        Ok(exit) => exit.code(),
        Err(failure) if is_broken_pipe(&failure.error) => 0,
        Err(failure) => {
            let mut stderr = io::stderr().lock();
            let mut shown = failure.error.to_string();
            let _ = writeln!(stderr, "error: {shown}");
            for cause in failure.error.chain().skip(1) {
                // Most messages end with their cause already
                // (`{path}: cannot read: {source}`): say it once.
                let cause = cause.to_string();
                if !shown.contains(&cause) {
                    let _ = writeln!(stderr, "caused by: {cause}");
                    shown.push_str(&cause);
                }
            }
            failure.exit.code()
        }
    };
    std::process::exit(code);
}

/// `planguard check | head` must not report an error (ripgrep does the same).
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}
