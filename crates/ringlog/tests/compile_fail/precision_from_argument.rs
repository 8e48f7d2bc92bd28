// Precision taken from an argument.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "[{:.*}]", 2usize, 1.5f64);
}

fn main() {}
