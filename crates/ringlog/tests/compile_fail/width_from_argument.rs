// Width taken from an argument.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "[{:1$}]", 7u8, 5usize);
}

fn main() {}
