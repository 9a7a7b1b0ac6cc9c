//! `staffctl` built with the system suite: the same library call as `apps/staffctl`'s own
//! binary, so the suite runs exactly what people run and finds it through
//! `CARGO_BIN_EXE_staffctl-cli` (a package's tests see only its own binaries, and a second
//! binary named `staffctl` would overwrite the real one in target/).

#[tokio::main]
async fn main() -> std::process::ExitCode {
    staffctl::main().await
}
