// A type the drain does not render.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "[{:q}]", 7u8);
}

fn main() {}
