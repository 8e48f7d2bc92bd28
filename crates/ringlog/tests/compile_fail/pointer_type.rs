// {:p}: an address means nothing in the drain.
fn log_it(log: ringlog::Logger) {
    ringlog::info!(logger: log, "at {:p}", &1u8);
}

fn main() {}
