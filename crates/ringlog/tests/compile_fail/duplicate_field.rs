// The same field twice.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "x", k = 1u8, k = 2u8);
}

fn main() {}
