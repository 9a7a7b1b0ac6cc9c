//! `staffctl`: Practice Staff from the command line (the commands live in the library).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    staffctl::main().await
}
