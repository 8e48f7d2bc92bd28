// A captured name that is not in scope.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "user {nope}");
}

fn main() {}
