// log! needs a level.
fn log_it(log: ringlog::Logger) {
    ringlog::log!(logger: log, "x");
}

fn main() {}
