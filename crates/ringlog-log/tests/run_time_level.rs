//! `ringdrain level` (the control page) made more verbose than the level `init` started with
//! reaches `log`'s own max level, so `log::debug!` calls are no longer cut off by `log`'s
//! compare before they reach the backend. (Its own test binary: `log`'s logger is installed
//! once per process.)

#[path = "../../ringlog-testkit/include/bridge.rs"]
mod bridge;

use bridge::{drain, logger};
use ringdrain::format::Format;
use ringlog::Level;
use ringlog_testkit::lines::text_message;
use ringlog_testkit::TestDir;

#[test]
fn a_run_time_level_more_verbose_than_init_reaches_log_max_level() {
    let e = TestDir::new();
    let log = logger(&e.ring(), Level::Info);
    ringlog_log::init(log.clone()).expect("first logger of this process");
    assert_eq!(log::max_level(), log::LevelFilter::Info);
    log::debug!("hidden 1");
    log::info!("shown 1");
    // What `ringdrain level RING debug` does, from another process.
    let seg = log.segment();
    seg.control()
        .set(Some("debug"), 1, 0, |_| false)
        .expect("set directives");
    // The next record that reaches the backend (one still allowed) brings `log` up to date;
    // from then on debug records pass.
    log::info!("shown 2");
    assert_eq!(log::max_level(), log::LevelFilter::Debug);
    log::debug!("shown 3");
    // Back to each process's own filter: `log`'s max level follows down too.
    seg.control()
        .set(None, 1, 0, |_| false)
        .expect("reset directives");
    log::info!("shown 4");
    assert_eq!(log::max_level(), log::LevelFilter::Info);
    log::debug!("hidden 2");
    let lines = drain(&e.ring(), Format::Text, "out.log");
    let got: Vec<&str> = lines.iter().filter_map(|l| text_message(l)).collect();
    assert_eq!(
        got,
        ["shown 1", "shown 2", "shown 3", "shown 4"],
        "{lines:?}"
    );
}
