//! `conduit demo` on the embedded defaults: the whole public dataset for
//! Northwind and Globex, and every customer's calls and meetings, checked
//! against what the simulated orgs stored.

use conduit_host::demo::{DemoOptions, OrgContents, PassSummary, run_demo};
use conduit_tests::examples_dir;

/// 85 accounts and 8,800 opportunities in `examples/data`.
const COMPANIES: usize = 85;
const DEALS: usize = 8_800;

/// Opportunities in the dataset with no account.
const DEALS_WITHOUT_ACCOUNT: usize = 1_425;

/// Open opportunities (Prospecting, Engaging): none has a close date.
const OPEN_DEALS: usize = 2_089;

fn pass<'a>(
    report: &'a conduit_host::demo::DemoReport,
    customer: &str,
    pass: &str,
) -> &'a PassSummary {
    report
        .passes
        .iter()
        .find(|(c, _, p, _)| c == customer && p == pass)
        .map(|(_, _, _, summary)| summary)
        .unwrap_or_else(|| panic!("no {pass} for {customer}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_loads_the_dataset_once_and_a_second_pass_changes_nothing() -> anyhow::Result<()> {
    let options = DemoOptions {
        examples: examples_dir(),
        batch: 200,
        concurrency: 4,
        customers: vec!["northwind".into(), "globex".into()],
    };
    let report = run_demo(&options).await?;

    for customer in ["northwind", "globex"] {
        let first = pass(&report, customer, "pass 1");
        assert_eq!(first.records, COMPANIES + DEALS, "{customer}");
        assert_eq!(
            first.created,
            COMPANIES + DEALS,
            "{customer}: {:?}",
            first.failed_by_code
        );
        assert_eq!(first.failed, 0, "{customer}: {:?}", first.example_error);

        let second = pass(&report, customer, "pass 2");
        assert_eq!(second.unchanged, COMPANIES + DEALS, "{customer}");
        assert_eq!(
            second.created + second.updated + second.failed,
            0,
            "{customer}"
        );
        assert_eq!(
            second.written, 0,
            "{customer}: nothing to write on the second pass"
        );

        // Each rep owns their deals; every deal with an account is linked.
        let (_, contents) = report
            .contents
            .iter()
            .find(|(c, _)| c == customer)
            .unwrap_or_else(|| panic!("no contents for {customer}"));
        let expected = OrgContents {
            companies: COMPANIES,
            deals: DEALS,
            deals_owned_by_reps: DEALS,
            deals_with_company: DEALS - DEALS_WITHOUT_ACCOUNT,
            ..contents.clone()
        };
        assert_eq!(contents, &expected, "{customer}");
    }

    // Northwind's placeholder close date fills the open deals, on create.
    let northwind = pass(&report, "northwind", "pass 1");
    assert_eq!(
        northwind.written_by_source.get("default"),
        Some(&OPEN_DEALS)
    );
    // Globex's stages all come from its plugin.
    let globex = pass(&report, "globex", "pass 1");
    assert_eq!(globex.written_by_source.get("plugin"), Some(&DEALS));

    // Every customer logs a call and a meeting per deal, in its own pattern,
    // each owned by the deal's rep and linked to the deal.
    for customer in ["acme", "globex", "northwind", "soylent", "vandelay"] {
        let logged = pass(&report, customer, "activities");
        let expected = 2 * conduit_host::demo::ACTIVITY_DEALS;
        assert_eq!(logged.records, expected, "{customer}");
        assert_eq!(
            logged.created, expected,
            "{customer}: {:?}",
            logged.example_error
        );
        let (_, contents) = report
            .contents
            .iter()
            .find(|(c, _)| c == customer)
            .unwrap_or_else(|| panic!("no contents for {customer}"));
        assert_eq!(contents.activities, expected, "{customer}");
        assert_eq!(contents.activities_owned_by_reps, expected, "{customer}");
        assert_eq!(contents.activities_with_deal, expected, "{customer}");
    }

    assert_eq!(report.replayed, options.batch);
    assert_eq!(
        report.replay_crm_calls, 0,
        "a replayed batch reaches no CRM"
    );
    Ok(())
}
