// A width beyond the cap the drain applies.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "[{:5000}]", 7u8);
}

fn main() {}
