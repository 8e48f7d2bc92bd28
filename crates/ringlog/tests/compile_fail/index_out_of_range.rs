// An index past the arguments.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "{2}", 1u8, 2u8);
}

fn main() {}
