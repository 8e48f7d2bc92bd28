// A spec the argument type does not support, as format! would reject it.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "{:x}", 1.5f64);
}

fn main() {}
