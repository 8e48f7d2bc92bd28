// More implicit holes than arguments.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "{} and {}", 1u8);
}

fn main() {}
