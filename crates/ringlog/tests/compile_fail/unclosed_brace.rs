// An unclosed brace.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "value {", 1u8);
}

fn main() {}
