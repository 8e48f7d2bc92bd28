// A stray closing brace.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "value } here");
}

fn main() {}
