// An argument no hole takes.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "only {}", 1u8, 2u8);
}

fn main() {}
