//! BENCHMARKS.md from one run's figures: the part between the markers is rewritten, anything
//! written by hand around it (profiles, before/after of fixes) is kept.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::Context;
use serde_json::Value;

const BEGIN: &str = "<!-- bench:begin (written by scripts/bench; edits here are lost) -->";
const END: &str = "<!-- bench:end -->";

/// Options of `bench report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// JSON lines `{"name": ..., figures...}` collected by scripts/bench.
    #[arg(long)]
    results: PathBuf,
    /// JSON object describing the run (machine, versions, command, settings).
    #[arg(long)]
    meta: PathBuf,
    /// The file to write (its text outside the markers is kept).
    #[arg(long)]
    out: PathBuf,
}

/// Writes the report and prints its table on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.results).with_context(|| format!("reading {:?}", args.results))?;
    let mut figures = HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: Value = serde_json::from_str(line).with_context(|| format!("bad result line {line}"))?;
        let name = value["name"].as_str().context("a result without a name")?.to_owned();
        figures.insert(name, value);
    }
    let meta: Value = serde_json::from_str(&std::fs::read_to_string(&args.meta)?)?;
    let generated = render(&Figures(figures), &meta);
    let old = std::fs::read_to_string(&args.out).unwrap_or_default();
    let new = match (old.find(BEGIN), old.find(END)) {
        // `generated` ends with the end marker and a newline; the text after the old marker
        // keeps its own, so the newline is not written twice (it grew a blank line a run).
        (Some(b), Some(e)) if b < e => format!(
            "{}{}{}",
            &old[..b],
            generated.trim_end_matches('\n'),
            &old[e + END.len()..]
        ),
        _ => format!("# Benchmarks\n\n{generated}\n"),
    };
    std::fs::write(&args.out, new)?;
    println!("{generated}");
    Ok(())
}

struct Figures(HashMap<String, Value>);

impl Figures {
    fn num(&self, name: &str, path: &str) -> Option<f64> {
        let mut v = self.0.get(name)?;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        v.as_f64()
    }
}

fn rate(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |x| {
        let n = x.round() as u64;
        let (th, rest) = (n / 1000, n % 1000);
        if th > 0 {
            format!("{th},{rest:03}")
        } else {
            rest.to_string()
        }
    })
}

fn ms(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |x| format!("{x:.2} ms"))
}

fn ratio(x: Option<f64>, of: Option<f64>) -> String {
    x.zip(of).map_or("n/a".into(), |(x, of)| format!("{:.2}", x / of))
}

/// `server_cpu` of a measurement (`scripts/bench`'s `with_server_cpu`), in words.
fn server_cpu(f: &Figures, name: &str) -> String {
    let field = |key: &str| f.num(name, &format!("server_cpu.{key}"));
    match (field("redis_us_per_row"), field("mysql_us_per_row"), field("busy")) {
        (Some(redis), Some(mysql), Some(busy)) => format!(
            "Redis {redis:.1} µs + MariaDB {mysql:.1} µs; busy {:.0} % of the time",
            busy * 100.0
        ),
        _ => "n/a".into(),
    }
}

fn mib(kib: Option<f64>) -> Option<f64> {
    kib.map(|k| k / 1024.0)
}

/// A table row that compares a figure with its limit: ratio, target, met.
fn ratio_row(out: &mut String, what: &str, measured: String, x: Option<f64>, limit: (&str, Option<f64>), min: f64) {
    let ratio = x.zip(limit.1).map(|(x, l)| x / l);
    let met = ratio.map_or("n/a", |r| if r >= min { "yes" } else { "**no**" });
    let ratio = ratio.map_or("n/a".into(), |r| format!("{r:.2}"));
    let _ = writeln!(
        out,
        "| {what} | {measured} | {} {} | {ratio} | ≥ {min} | {met} |",
        limit.0,
        rate(limit.1)
    );
}

fn below_row(out: &mut String, what: &str, measured: Option<f64>, unit: &str, max: f64) {
    let met = measured.map_or("n/a", |m| if m < max { "yes" } else { "**no**" });
    let shown = measured.map_or("n/a".into(), |m| format!("{m:.1} {unit}"));
    let _ = writeln!(out, "| {what} | {shown} | | | < {max} {unit} | {met} |");
}

/// "p50 …, p99 …, max …" of the latencies under `{prefix}.p50_ms` (and p99, max) of a result.
fn spread(f: &Figures, name: &str, prefix: &str) -> String {
    let at = |q: &str| ms(f.num(name, &format!("{prefix}.{q}_ms")));
    format!("p50 {}, p99 {}, max {}", at("p50"), at("p99"), at("max"))
}

fn http(f: &Figures, name: &str) -> String {
    format!(
        "{} req/s (p50 {}, p99 {})",
        rate(f.num(name, "rps")),
        ms(f.num(name, "p50_ms")),
        ms(f.num(name, "p99_ms"))
    )
}

fn render(f: &Figures, meta: &Value) -> String {
    let m = |k: &str| meta[k].as_str().unwrap_or("n/a").to_owned();
    let mut out = String::new();
    let _ = writeln!(out, "{BEGIN}\n");
    let _ = writeln!(
        out,
        "Run of {} ({} mode), commit `{}`.\n",
        m("date"),
        m("mode"),
        m("commit")
    );
    let _ = writeln!(out, "| figure | measured | limit (same run) | ratio | target | met |");
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let lpush = ("`LPUSH`", f.num("limit_lpush", "rps"));
    let get = ("`GET`", f.num("limit_get", "rps"));
    ratio_row(
        &mut out,
        "`POST /api/users` with an email",
        http(f, "post_email"),
        f.num("post_email", "rps"),
        lpush,
        0.5,
    );
    ratio_row(
        &mut out,
        "`POST /api/users` without email",
        http(f, "post_noemail"),
        f.num("post_noemail", "rps"),
        lpush,
        0.5,
    );
    ratio_row(
        &mut out,
        "cached `GET /api/users/ID`",
        http(f, "get_cached"),
        f.num("get_cached", "rps"),
        get,
        0.5,
    );
    for (n, limit) in [("1", "limit_insert_1"), ("2", "limit_insert_2")] {
        let name = format!("drain_{n}");
        let x = f.num(&name, "rate");
        let what = format!("drain of the queue, {n} consumer(s)");
        let limit = (&*format!("INSERT ×{n} conn."), f.num(limit, "rate"));
        ratio_row(&mut out, &what, format!("{} users/s", rate(x)), x, limit, 0.5);
    }
    let (d1, d2) = (f.num("drain_1", "rate"), f.num("drain_2", "rate"));
    let faster = d1.zip(d2).map_or("n/a", |(a, b)| if b > a { "yes" } else { "**no**" });
    let speedup = d1.zip(d2).map_or("n/a".into(), |(a, b)| format!("{:.2}", b / a));
    let _ = writeln!(out, "| two consumers vs one | ×{speedup} | | | > 1 | {faster} |");
    below_row(
        &mut out,
        "end-to-end p99 at 2,000 users/s (202 → committed)",
        f.num("steady", "e2e.p99_ms"),
        "ms",
        50.0,
    );
    below_row(
        &mut out,
        "producer peak RSS (VmHWM), whole run",
        mib(f.num("rss_producer", "kib")),
        "MiB",
        64.0,
    );
    below_row(
        &mut out,
        "consumer peak RSS (VmHWM), largest",
        mib(f.num("rss_consumer", "kib")),
        "MiB",
        32.0,
    );
    details(&mut out, f);
    let _ = writeln!(out, "\n### How this run was made\n");
    for (label, key) in [
        ("command", "command"),
        ("machine", "machine"),
        ("CPU placement", "pinning"),
        ("servers", "servers"),
        ("versions", "versions"),
        ("producer and consumer settings", "settings"),
        ("load average before the run", "load"),
        ("note", "note"),
    ] {
        let _ = writeln!(out, "- **{label}**: {}", m(key));
    }
    let _ = writeln!(out, "\n{END}");
    out
}

fn details(out: &mut String, f: &Figures) {
    let _ = writeln!(out, "\nThe limits and the other figures of the same run:\n");
    let _ = writeln!(out, "| figure | value |\n|---|---|");
    for (what, name) in [
        ("`redis-benchmark` LPUSH", "limit_lpush"),
        ("`redis-benchmark` GET", "limit_get"),
    ] {
        let _ = writeln!(out, "| {what}, 50 connections | {} |", http(f, name));
    }
    let _ = writeln!(
        out,
        "| floor: a bare poem server doing nothing else, `POST` / `GET` | {} / {} req/s |",
        rate(f.num("floor_bare_post", "rps")),
        rate(f.num("floor_bare_get", "rps"))
    );
    let (lpush, get) = (f.num("limit_lpush", "rps"), f.num("limit_get", "rps"));
    let _ = writeln!(
        out,
        "| floor: the same server with one Redis command per request (`LPUSH` of the body / `GET`, one multiplexed connection), the least a Redis-backed producer does | `POST` {} req/s ({} of `LPUSH`), `GET` {} req/s ({} of `GET`) |",
        rate(f.num("floor_redis_post", "rps")),
        ratio(f.num("floor_redis_post", "rps"), lpush),
        rate(f.num("floor_redis_get", "rps")),
        ratio(f.num("floor_redis_get", "rps"), get)
    );
    let _ = writeln!(
        out,
        "| the producer against that floor | `POST` without email {}, with an email {}, cached `GET` {} |",
        ratio(f.num("post_noemail", "rps"), f.num("floor_redis_post", "rps")),
        ratio(f.num("post_email", "rps"), f.num("floor_redis_post", "rps")),
        ratio(f.num("get_cached", "rps"), f.num("floor_redis_get", "rps"))
    );
    let (enqueue_noemail, enqueue_email) = (
        f.num("floor_enqueue_post_noemail", "rps"),
        f.num("floor_enqueue_post_email", "rps"),
    );
    let _ = writeln!(
        out,
        "| floor: the same server queueing each `POST` with the producer's enqueue (validation, the enqueue script, its batching task) and nothing else, the least a producer doing the contract's Redis work does | without email {} req/s ({} of `LPUSH`), with an email {} req/s ({} of `LPUSH`) |",
        rate(enqueue_noemail),
        ratio(enqueue_noemail, lpush),
        rate(enqueue_email),
        ratio(enqueue_email, lpush)
    );
    let _ = writeln!(
        out,
        "| the producer against that floor (what its middleware, request log, metrics, OpenAPI layer and slow-client guard cost; the bench turns the rate limit off) | `POST` without email {}, with an email {} |",
        ratio(f.num("post_noemail", "rps"), enqueue_noemail),
        ratio(f.num("post_email", "rps"), enqueue_email)
    );
    let _ = writeln!(
        out,
        "| the producer's MySQL email check alone (prepared point SELECT, what it asks until the stored emails are in Redis), 50 connections | {} queries/s (p50 {}, p99 {}) |",
        rate(f.num("limit_email_check", "rps")),
        ms(f.num("limit_email_check", "latency.p50_ms")),
        ms(f.num("limit_email_check", "latency.p99_ms")),
    );
    for (what, name) in [("with an email", "email"), ("without email", "noemail")] {
        let reads = f.num(&format!("redis_post_{name}"), "reads");
        // Requests of every run the Redis counters spanned (older results: the kept run's).
        let requests = f
            .num(&format!("redis_post_{name}"), "requests")
            .or(f.num(&format!("post_{name}"), "requests"));
        let _ = writeln!(
            out,
            "| `POST` {what}: Redis socket reads per request (below 1: requests share reads on the multiplexed connection) | {} |",
            ratio(reads, requests)
        );
        if let Some(statements) = f.num(&format!("redis_post_{name}"), "mysql_statements") {
            let _ = writeln!(
                out,
                "| `POST` {what}: MySQL statements per request (the email check asks Redis once the stored emails are there) | {} |",
                requests.map_or("n/a".into(), |r| format!("{:.3}", statements / r))
            );
        }
    }
    for n in ["1", "2"] {
        let name = format!("limit_insert_{n}");
        let _ = writeln!(
            out,
            "| raw multi-row INSERT, {} rows of {} per statement, {n} connection(s) | {} rows/s ({:.2} s) |",
            rate(f.num(&name, "rows")),
            rate(f.num(&name, "batch_size")),
            rate(f.num(&name, "rate")),
            f.num(&name, "secs").unwrap_or(f64::NAN)
        );
        let drain = format!("drain_{n}");
        let _ = writeln!(
            out,
            "| drain by {n} consumer(s): {} users in {:.2} s (queue filled first at {} users/s) | {} users/s |",
            rate(f.num(&drain, "users")),
            f.num(&drain, "secs").unwrap_or(f64::NAN),
            rate(f.num(&format!("fill_{n}"), "rate")),
            rate(f.num(&drain, "rate"))
        );
        for (what, name) in [
            (format!("raw INSERT, {n} connection(s)"), &name),
            (format!("drain by {n} consumer(s)"), &drain),
        ] {
            let _ = writeln!(
                out,
                "| same run, {what}: CPU of the servers per row, and how busy they kept their CPU | {} |",
                server_cpu(f, name)
            );
        }
    }
    let s = "steady";
    let _ = writeln!(
        out,
        "| steady {} users/s for {} s ({} users, {} failed): `POST` latency | {} |",
        rate(f.num(s, "rate")),
        rate(f.num(s, "secs")),
        rate(f.num(s, "users")),
        rate(f.num(s, "failed")),
        spread(f, s, "post")
    );
    let _ = writeln!(
        out,
        "| same run: `202` received → row readable by another connection (client clock) | {} |",
        spread(f, s, "e2e")
    );
    let _ = writeln!(
        out,
        "| same run, server side: `created_at - accepted_at_ms` (acceptance → INSERT) | {} |",
        spread(f, s, "e2e_server")
    );
    for (what, name) in [
        ("producer after the wrk runs", "rss_producer_http"),
        ("producer at the end", "rss_producer"),
        ("consumer", "rss_consumer"),
    ] {
        let _ = writeln!(
            out,
            "| {what} peak RSS (VmHWM) | {:.1} MiB |",
            mib(f.num(name, "kib")).unwrap_or(f64::NAN)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_have_thousands_separators_and_ratios_say_whether_the_target_is_met() {
        assert_eq!(rate(Some(37588.4)), "37,588");
        assert_eq!(rate(Some(999.0)), "999");
        let mut out = String::new();
        ratio_row(&mut out, "x", "1".into(), Some(40.0), ("L", Some(100.0)), 0.5);
        assert!(out.contains("| 0.40 | ≥ 0.5 | **no** |"), "{out}");
        out.clear();
        ratio_row(&mut out, "x", "1".into(), Some(60.0), ("L", Some(100.0)), 0.5);
        assert!(out.contains("| 0.60 | ≥ 0.5 | yes |"), "{out}");
    }

    #[test]
    fn a_rewrite_keeps_the_text_around_the_markers() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (results, meta, out) = (dir.join("r.jsonl"), dir.join("m.json"), dir.join("B.md"));
        std::fs::write(&results, "{\"name\":\"limit_lpush\",\"rps\":100000}\n").unwrap();
        std::fs::write(&meta, "{\"mode\":\"quick\"}").unwrap();
        std::fs::write(&out, format!("# Title\n{BEGIN}\nold\n{END}\n## Kept by hand\n")).unwrap();
        let args = || Args {
            results: results.clone(),
            meta: meta.clone(),
            out: out.clone(),
        };
        run(args()).unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(
            text.starts_with("# Title\n") && text.ends_with("## Kept by hand\n"),
            "{text}"
        );
        assert!(!text.contains("\nold\n") && text.contains("100,000"), "{text}");
        run(args()).unwrap();
        let again = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(again, text, "a second rewrite changes nothing");
    }
}
