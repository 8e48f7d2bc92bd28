// The minus flag.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "[{:-5}]", 7u8);
}

fn main() {}
