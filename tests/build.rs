//! Whether the PostgreSQL + RabbitMQ tests can run is decided when the suite is built: with
//! `PS_TEST_POSTGRES_URL` and `PS_TEST_AMQP_URL` set (as `.ci/run` sets them), or with
//! `PS_TEST_REQUIRE_EXTERNAL=1` (then a missing variable fails those tests instead), they are
//! built to run (`cfg(external_backends)`). Otherwise they are built `#[ignore]`d with the
//! reason, so a local `cargo test` lists them as ignored instead of counting them as passed.
//! Changing any of the three variables rebuilds the suite (only this package).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(external_backends)");
    for name in [
        "PS_TEST_POSTGRES_URL",
        "PS_TEST_AMQP_URL",
        "PS_TEST_REQUIRE_EXTERNAL",
    ] {
        println!("cargo::rerun-if-env-changed={name}");
    }
    let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.is_empty());
    let required = std::env::var("PS_TEST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1");
    if required || (set("PS_TEST_POSTGRES_URL") && set("PS_TEST_AMQP_URL")) {
        println!("cargo::rustc-cfg=external_backends");
    }
}
