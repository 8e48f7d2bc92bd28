// A hole that is neither an index nor an identifier.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "[{a-b}]");
}

fn main() {}
