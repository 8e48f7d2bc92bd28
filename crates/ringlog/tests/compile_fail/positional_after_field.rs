// A positional argument after a field.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "x {}", k = 1u8, 2u8);
}

fn main() {}
