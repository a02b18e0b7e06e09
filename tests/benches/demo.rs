//! Demo throughput: the whole public dataset, both customers at once,
//! through the HTTP API, the plugin and the simulators, in records per
//! second per customer and pass.
//!
//! Run with `cargo bench -p conduit-tests --bench demo`. Pass 1 creates every
//! record; pass 2 sends the same records again and finds them up to date,
//! which measures matching and planning without CRM writes.

use std::time::Instant;

use conduit_host::demo::{DemoOptions, default_examples_dir, run_demo};

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    let options = DemoOptions {
        examples: default_examples_dir(),
        batch: 200,
        concurrency: 4,
        customers: vec!["northwind".into(), "globex".into()],
    };

    let started = Instant::now();
    let report = runtime.block_on(run_demo(&options))?;
    let total = started.elapsed();

    println!(
        "demo throughput (batch {}, {} in flight):",
        options.batch, options.concurrency
    );
    for (customer, crm, pass, summary) in &report.passes {
        let seconds = summary.elapsed.as_secs_f64();
        println!(
            "  {customer:<10} {crm:<10} {pass}: {:>5} records in {seconds:>6.2} s \
             = {:>6.0} records/s, {} CRM calls, {} failed",
            summary.records,
            summary.records as f64 / seconds.max(f64::EPSILON),
            summary.crm_calls,
            summary.failed,
        );
    }
    println!(
        "  whole demo, plugin builds included: {:.1} s",
        total.as_secs_f64()
    );
    Ok(())
}
